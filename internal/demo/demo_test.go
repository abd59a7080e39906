package demo

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/barelb/barelb/internal/checkout"
	"github.com/barelb/barelb/internal/controlplane"
)

// TestDemo runs make demo's program to its failover and teardown, so the
// newcomer's first command cannot rot.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo builds a lab; skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		if os.Getenv(controlplane.RequireEnv) == "1" {
			t.Fatal("the demo needs root")
		}
		t.Skip("the demo needs root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := Run(ctx, &out, Options{}); err != nil {
		if os.Getenv(controlplane.RequireEnv) != "1" && errors.Is(err, checkout.ErrBinaryMissing) {
			t.Skip(err)
		}
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	for _, want := range []string{"answered by node", "status condition barelb.io/Announced=True", "took over", "no namespace or process is left"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}
