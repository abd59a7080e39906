package allocator

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/barelb/barelb/internal/config"
)

var addrComparer = cmp.Comparer(func(x, y netip.Addr) bool { return x == y })

// rng parses "cidr" or "first-last" into a config.Range.
func rng(t testing.TB, s string) config.Range {
	t.Helper()
	if strings.Contains(s, "/") {
		p := netip.MustParsePrefix(s)
		host := p.Addr().BitLen() - p.Bits()
		f := IPv6
		if p.Addr().Is4() {
			f = IPv4
		}
		first := u128Of(p.Addr())
		var ones u128
		switch {
		case host >= 128:
			ones = maxU128
		case host >= 64:
			ones = u128{hi: 1<<(host-64) - 1, lo: ^uint64(0)}
		default:
			ones = u128{lo: 1<<host - 1}
		}
		last := u128{hi: first.hi | ones.hi, lo: first.lo | ones.lo}
		return config.Range{First: p.Addr(), Last: last.addr(f), Prefix: p}
	}
	first, last, ok := strings.Cut(s, "-")
	if !ok {
		t.Fatalf("bad range %q", s)
	}
	return config.Range{First: netip.MustParseAddr(first), Last: netip.MustParseAddr(last)}
}

// pool returns an auto-assign layer2 pool; opts "manual" turns auto-assign
// off, "avoid" turns avoid-buggy-ips on, anything else is a range.
func pool(t testing.TB, name string, opts ...string) config.Pool {
	t.Helper()
	p := config.Pool{Name: name, Protocol: config.Layer2, AutoAssign: true}
	for _, o := range opts {
		switch o {
		case "manual":
			p.AutoAssign = false
		case "avoid":
			p.AvoidBuggyIPs = true
		default:
			p.Ranges = append(p.Ranges, rng(t, o))
		}
	}
	return p
}

func addrs(ss ...string) []netip.Addr {
	var as []netip.Addr
	for _, s := range ss {
		as = append(as, netip.MustParseAddr(s))
	}
	return as
}

func assign(pool string, ss ...string) Assignment {
	return Assignment{Pool: pool, Addresses: addrs(ss...)}
}

func tcp(ports ...int32) []Port {
	var ps []Port
	for _, p := range ports {
		ps = append(ps, Port{Protocol: "TCP", Port: p})
	}
	return ps
}
