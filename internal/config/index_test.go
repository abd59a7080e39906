package config

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPoolFor(t *testing.T) {
	cfg, _, err := Parse([]byte(`address-pools:
- {name: a, protocol: layer2, addresses: [198.51.100.0/25, '2001:db8:1::/120']}
- {name: b, protocol: bgp, addresses: [198.51.100.128-198.51.100.130, 203.0.113.7/32]}
- {name: c, protocol: layer2, addresses: ['2001:db8:1::100-2001:db8:1::1ff']}
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr string
		want string // pool name, empty for none
	}{
		{"198.51.100.0", "a"},
		{"198.51.100.127", "a"},
		{"198.51.100.128", "b"},
		{"198.51.100.130", "b"},
		{"198.51.100.131", ""},
		{"203.0.113.6", ""},
		{"203.0.113.7", "b"},
		{"203.0.113.8", ""},
		{"192.0.2.1", ""},
		{"2001:db8:1::ff", "a"},
		{"2001:db8:1::100", "c"},
		{"2001:db8:1::200", ""},
		{"::ffff:198.51.100.1", ""}, // an IPv6 address, even if IPv4-mapped
		{"0.0.0.0", ""},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ""},
	}
	manual := &Config{Pools: cfg.Pools} // built by hand: no index, linear scan
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			a := netip.MustParseAddr(tt.addr)
			for name, c := range map[string]*Config{"parsed": cfg, "manual": manual} {
				var got string
				if p, ok := c.PoolFor(a); ok {
					got = p.Name
					if !p.Contains(a) {
						t.Errorf("%s: pool %q does not contain %s", name, p.Name, a)
					}
				}
				if got != tt.want {
					t.Errorf("%s: PoolFor(%s) = %q, want %q", name, a, got, tt.want)
				}
			}
		})
	}
}

func TestMinPrefixLen(t *testing.T) {
	tests := []struct {
		first, last string
		want        int
	}{
		{"192.168.0.150", "192.168.0.200", 27},
		{"198.51.100.0", "198.51.100.255", 24},
		{"198.51.100.1", "198.51.100.1", 32},
		{"0.0.0.0", "255.255.255.255", 0},
		{"0.0.0.1", "255.255.255.255", 1},
		{"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0},
		{"2001:db8::1", "2001:db8::ffff", 113},
		{"2001:db8::", "2001:db8:0:1::", 64},
	}
	for _, tt := range tests {
		t.Run(tt.first+"-"+tt.last, func(t *testing.T) {
			r := Range{First: netip.MustParseAddr(tt.first), Last: netip.MustParseAddr(tt.last)}
			if diff := cmp.Diff(tt.want, minPrefixLen(r)); diff != "" {
				t.Errorf("minPrefixLen mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// BenchmarkPoolFor measures a lookup among 4096 ranges.
func BenchmarkPoolFor(b *testing.B) {
	cfg := &Config{}
	for i := range 4096 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 4), byte(i << 4), 0})
		cfg.Pools = append(cfg.Pools, Pool{Name: fmt.Sprint(i), Ranges: []Range{{First: a, Last: a.Next()}}})
	}
	cfg.index = newPoolIndex(cfg.Pools)
	a := netip.MustParseAddr("10.200.0.1")
	b.ResetTimer()
	for b.Loop() {
		if _, ok := cfg.PoolFor(a); !ok {
			b.Fatal("not found")
		}
	}
}
