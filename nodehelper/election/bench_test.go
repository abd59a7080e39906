package election

import (
	"fmt"
	"maps"
	"net/netip"
	"testing"

	"github.com/barelb/barelb/nodehelper/ifaces"
)

// benchView is a cluster of nodes Ready members and one Cluster-policy
// Service with endpoints per address, addresses 10.x.y.z-style inside
// 2001:db8::/32 and 198.51.100.0/24 alternately.
func benchView(addresses, nodes int) View {
	var v View
	for i := range nodes {
		name := fmt.Sprintf("worker-%04d", i)
		v.Nodes = append(v.Nodes, NodeInfo{Name: name})
		v.Members = append(v.Members, name)
	}
	for i := range addresses {
		var a netip.Addr
		if i%2 == 0 {
			a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)})
		} else {
			a = netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)})
		}
		v.Services = append(v.Services, ServiceInfo{
			Key: fmt.Sprintf("ns/svc-%d", i), Addresses: []netip.Addr{a}, HasReadyEndpoints: true,
		})
	}
	return v
}

func BenchmarkFullRecompute_10kx1k(b *testing.B) {
	v := benchView(10_000, 1_000)
	var tb Table
	for b.Loop() {
		tb.Recompute(v)
	}
}

func BenchmarkMemberLeft_10kx1k(b *testing.B) { benchMemberLeft(b, benchView(10_000, 1_000)) }

// benchMemberLeft measures one member of v leaving, member after member.
func benchMemberLeft(b *testing.B, v View) {
	var tb Table
	tb.Recompute(v)
	i := 0
	for b.Loop() {
		name := v.Nodes[i%len(v.Nodes)].Name
		i++
		tb.MemberLeft(name)
		b.StopTimer()
		tb.MemberJoined(name)
		b.StartTimer()
	}
}

func BenchmarkMemberJoined_10kx1k(b *testing.B) {
	v := benchView(10_000, 1_000)
	var tb Table
	tb.Recompute(v)
	i := 0
	for b.Loop() {
		name := v.Nodes[i%len(v.Nodes)].Name
		i++
		b.StopTimer()
		tb.MemberLeft(name)
		b.StartTimer()
		tb.MemberJoined(name)
	}
}

func BenchmarkWeight(b *testing.B) {
	k := GroupKey(netip.MustParseAddr("198.51.100.3"))
	var sink uint64
	for b.Loop() {
		sink += Weight("worker-0001", k)
	}
	_ = sink
}

// benchReach gives every node of v a reach connected to the bench
// addresses' subnets, except every tenth, whose service link is down.
func benchReach(v *View) {
	up := ifaces.Reach{Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.0.0/16"), netip.MustParsePrefix("2001:db8::/32")}, NodeLink: true}
	cut := ifaces.Reach{NodeLink: true}
	v.Reach = map[string]ifaces.Reach{}
	for i, n := range v.Nodes {
		if i%10 == 0 {
			v.Reach[n.Name] = cut
		} else {
			v.Reach[n.Name] = up
		}
	}
}

func BenchmarkFullRecompute_10kx1k_reach(b *testing.B) {
	v := benchView(10_000, 1_000)
	benchReach(&v)
	var tb Table
	for b.Loop() {
		tb.Recompute(v)
	}
}

func BenchmarkMemberLeft_10kx1k_reach(b *testing.B) {
	v := benchView(10_000, 1_000)
	benchReach(&v)
	benchMemberLeft(b, v)
}

// BenchmarkSetReach_10kx1k is one node's service link going down.
func BenchmarkSetReach_10kx1k(b *testing.B) {
	v := benchView(10_000, 1_000)
	benchReach(&v)
	var tb Table
	tb.Recompute(v)
	cut := maps.Clone(v.Reach)
	cut[v.Nodes[1].Name] = ifaces.Reach{NodeLink: true}
	for b.Loop() {
		tb.SetReach(cut)
		b.StopTimer()
		tb.SetReach(v.Reach)
		b.StartTimer()
	}
}
