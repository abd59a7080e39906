package config

import (
	"errors"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func FuzzParse(f *testing.F) {
	for _, path := range []string{"../../manifests/example-config.yaml", "../../manifests/minimal-config.yaml"} {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"address-pools: [{name: a, protocol: layer2, addresses: [198.51.100.0/24, '2001:db8::-2001:db8::ff']}]",
		"address-pools: [{name: a, protocol: bgp, addresses: [192.168.0.150-192.168.0.200], bgp-advertisements: [{aggregation-length: 27, communities: [x]}]}]\nbgp-communities: {x: '1:2'}",
		"peers: [{peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, hold-time: 3s, node-selectors: [{match-expressions: [{key: a, operator: In, values: [b]}]}]}]",
		"bfd-profiles: [{name: a, detect-multiplier: 3}]",
		"x: &a [*a]\n",
		"address-pools:\n- &a {name: a, protocol: layer2, addresses: [198.51.100.0/24]}\n- {<<: *a, name: b}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, _, err := Parse(data)
		if err != nil {
			checkErrorList(t, err)
			return
		}
		checkInvariants(t, cfg)
	})
}

func checkErrorList(t *testing.T, err error) {
	var l ErrorList
	if !errors.As(err, &l) || len(l) == 0 {
		t.Fatalf("error %v (%T) is not a non-empty ErrorList", err, err)
	}
	for _, e := range l {
		if e.Message == "" || strings.Contains(e.Error(), "\n") {
			t.Errorf("malformed error %q", e.Error())
		}
	}
}

// checkInvariants checks what a valid Config promises its users.
func checkInvariants(t *testing.T, cfg *Config) {
	names := map[string]bool{}
	var all []Range
	for i := range cfg.Pools {
		p := &cfg.Pools[i]
		if p.Name == "" || names[p.Name] {
			t.Errorf("pool %d: empty or duplicate name %q", i, p.Name)
		}
		names[p.Name] = true
		if p.Protocol != Layer2 && p.Protocol != BGP {
			t.Errorf("pool %q: protocol %q", p.Name, p.Protocol)
		}
		if len(p.Ranges) == 0 {
			t.Errorf("pool %q: no ranges", p.Name)
		}
		if (p.Protocol == Layer2) != (len(p.BGPAdvertisements) == 0) {
			t.Errorf("pool %q: %d advertisements for protocol %s", p.Name, len(p.BGPAdvertisements), p.Protocol)
		}
		for _, r := range p.Ranges {
			checkRange(t, r)
			for _, a := range []netip.Addr{r.First, r.Last} {
				if got, ok := cfg.PoolFor(a); !ok || got != p {
					t.Errorf("PoolFor(%s) = %v, %v; want pool %q", a, got, ok, p.Name)
				}
			}
		}
		all = append(all, p.Ranges...)
	}
	slices.SortFunc(all, func(a, b Range) int { return a.First.Compare(b.First) })
	for i := 1; i < len(all); i++ {
		if all[i-1].Last.Compare(all[i].First) >= 0 {
			t.Errorf("ranges %s and %s overlap", all[i-1], all[i])
		}
	}
	for i, p := range cfg.Peers {
		if !p.Address.IsValid() || p.ASN == 0 || p.MyASN == 0 || p.Port == 0 {
			t.Errorf("peer %d: missing values: %+v", i, p)
		}
		if (p.HoldTime != 0 && p.HoldTime < 3*time.Second) || p.KeepaliveTime > p.HoldTime {
			t.Errorf("peer %d: hold-time %s, keepalive-time %s", i, p.HoldTime, p.KeepaliveTime)
		}
	}
}

func checkRange(t *testing.T, r Range) {
	if !r.First.IsValid() || r.First.BitLen() != r.Last.BitLen() || r.First.Compare(r.Last) > 0 || r.First.Is4In6() || r.First.Zone() != "" {
		t.Errorf("bad range %s", r)
	}
	if r.Prefix.IsValid() && (r.Prefix != r.Prefix.Masked() || r.Prefix.Addr() != r.First || lastAddr(r.Prefix) != r.Last) {
		t.Errorf("range %s does not match its prefix", r)
	}
}

// TestAliasExpansionIsBounded feeds a "billion laughs" document whose walk
// would visit 10^8 entries: it must stop at the visit budget instead.
func TestAliasExpansionIsBounded(t *testing.T) {
	const n = 100
	list := func(first, alias string) string {
		return first + strings.Repeat(", "+alias, n-1)
	}
	values := list("v0", "v1")
	expr := list("&e {key: a, operator: In, values: ["+values+"]}", "*e")
	sel := list("&s {match-expressions: ["+expr+"]}", "*s")
	peer := list("&p {peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, node-selectors: ["+sel+"]}", "*p")
	start := time.Now()
	_, _, err := Parse([]byte("peers: [" + peer + "]"))
	if err == nil || !strings.Contains(err.Error(), "document too large once YAML aliases are expanded") {
		t.Errorf("Parse() error = %.200v, want the alias expansion limit", err)
	}
	t.Logf("stopped after %v", time.Since(start))
}
