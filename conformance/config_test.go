package conformance

import (
	"testing"

	"github.com/barelb/barelb/internal/config"
)

func TestLabConfigParses(t *testing.T) {
	cfg, warnings, err := config.Parse([]byte(labConfig(t)))
	if err != nil {
		t.Fatalf("lab config: %v", err)
	}
	var names []string
	for _, p := range cfg.Pools {
		names = append(names, p.Name+"/"+string(p.Protocol))
	}
	want := "[lab/layer2 lab-manual/layer2 my-ip-space/bgp]"
	if got := "[" + join(names) + "]"; got != want {
		t.Errorf("pools = %s, want %s", got, want)
	}
	if len(warnings) != 2 {
		t.Errorf("warnings = %v, want the two BGP warnings (pool and peers)", warnings)
	}
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}
