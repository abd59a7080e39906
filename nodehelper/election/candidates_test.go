package election

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// cmpOpts compares addresses and keys by value.
var cmpOpts = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b GroupKey) bool { return a == b }),
	cmpopts.EquateEmpty(),
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func key(s string) GroupKey { return GroupKey(netip.MustParseAddr(s)) }

func TestGroups(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		services []ServiceInfo
		want     []Group
	}{
		{
			name: "one service per address",
			services: []ServiceInfo{
				{Key: "ns/b", Addresses: addrs("198.51.100.3")},
				{Key: "ns/a", Addresses: addrs("192.0.2.1")},
			},
			want: []Group{
				{Key: key("192.0.2.1"), Addresses: addrs("192.0.2.1"), Services: []string{"ns/a"}},
				{Key: key("198.51.100.3"), Addresses: addrs("198.51.100.3"), Services: []string{"ns/b"}},
			},
		},
		{
			name: "shared address",
			services: []ServiceInfo{
				{Key: "ns/tcp", Addresses: addrs("192.0.2.1")},
				{Key: "ns/udp", Addresses: addrs("192.0.2.1")},
			},
			want: []Group{{Key: key("192.0.2.1"), Addresses: addrs("192.0.2.1"), Services: []string{"ns/tcp", "ns/udp"}}},
		},
		{
			name: "dual-stack pair keyed by its IPv4 address",
			services: []ServiceInfo{
				{Key: "ns/ds", Addresses: addrs("2001:db8::5", "198.51.100.7")},
			},
			want: []Group{{Key: key("198.51.100.7"), Addresses: addrs("198.51.100.7", "2001:db8::5"), Services: []string{"ns/ds"}}},
		},
		{
			name: "sharing is transitive",
			services: []ServiceInfo{
				{Key: "ns/a", Addresses: addrs("192.0.2.1", "2001:db8::1")},
				{Key: "ns/b", Addresses: addrs("2001:db8::1")},
				{Key: "ns/c", Addresses: addrs("2001:db8::1", "192.0.2.9")},
				{Key: "ns/d", Addresses: addrs("192.0.2.9")},
				{Key: "ns/e", Addresses: addrs("192.0.2.10")},
			},
			want: []Group{
				{Key: key("192.0.2.1"), Addresses: addrs("192.0.2.1", "192.0.2.9", "2001:db8::1"), Services: []string{"ns/a", "ns/b", "ns/c", "ns/d"}},
				{Key: key("192.0.2.10"), Addresses: addrs("192.0.2.10"), Services: []string{"ns/e"}},
			},
		},
		{
			name: "mapped address counts as IPv4, invalid and empty ignored",
			services: []ServiceInfo{
				{Key: "ns/a", Addresses: []netip.Addr{netip.MustParseAddr("::ffff:192.0.2.1"), {}}},
				{Key: "ns/b", Addresses: addrs("192.0.2.1")},
				{Key: "ns/none"},
				{Key: "ns/invalid", Addresses: []netip.Addr{{}}},
			},
			want: []Group{{Key: key("192.0.2.1"), Addresses: addrs("192.0.2.1"), Services: []string{"ns/a", "ns/b"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, Groups(tt.services), cmpOpts); diff != "" {
				t.Errorf("Groups() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCandidates(t *testing.T) {
	t.Parallel()
	nodes := []NodeInfo{
		{Name: "n1"},
		{Name: "n2"},
		{Name: "n3"},
		{Name: "labelled", ExcludedByLabel: true, NotReady: true},
		{Name: "nonet", NetworkUnavailable: true},
		{Name: "down", NotReady: true},
		{Name: "gone"},
	}
	members := []string{"n1", "n2", "n3", "labelled", "nonet", "down", "stranger"}
	nodeExcl := map[Exclusion][]string{
		ExcludedByLabel:    {"labelled"},
		NetworkUnavailable: {"nonet"},
		NotReady:           {"down"},
		NotMember:          {"gone"},
	}
	with := func(e Exclusion, names ...string) map[Exclusion][]string {
		m := map[Exclusion][]string{}
		for k, v := range nodeExcl {
			m[k] = v
		}
		m[e] = names
		return m
	}
	ownerOf := func(k GroupKey, names ...string) string {
		var best string
		var bw uint64
		for _, n := range names {
			if w := Weight(n, k); best == "" || beats(w, n, bw, best) {
				best, bw = n, w
			}
		}
		return best
	}
	g := func(a string, svcs ...string) Group {
		return Group{Key: key(a), Addresses: addrs(a), Services: svcs}
	}
	tests := []struct {
		name     string
		services []ServiceInfo
		want     []GroupCandidates
	}{
		{
			name:     "cluster policy with endpoints: every usable member",
			services: []ServiceInfo{{Key: "ns/a", Addresses: addrs("192.0.2.1"), HasReadyEndpoints: true}},
			want: []GroupCandidates{{
				Group:    g("192.0.2.1", "ns/a"),
				Eligible: []string{"n1", "n2", "n3"},
				Excluded: nodeExcl,
				Owner:    ownerOf(key("192.0.2.1"), "n1", "n2", "n3"),
			}},
		},
		{
			name:     "cluster policy without endpoints: nobody",
			services: []ServiceInfo{{Key: "ns/a", Addresses: addrs("192.0.2.1")}},
			want: []GroupCandidates{{
				Group:    g("192.0.2.1", "ns/a"),
				Excluded: with(NoEndpoints, "n1", "n2", "n3"),
			}},
		},
		{
			name: "local policy: nodes with a ready endpoint",
			services: []ServiceInfo{{
				Key: "ns/a", Addresses: addrs("192.0.2.1"), TrafficPolicyLocal: true,
				LocalEndpointNodes: []string{"n3", "down", "n1", "n3"},
			}},
			want: []GroupCandidates{{
				Group:    g("192.0.2.1", "ns/a"),
				Eligible: []string{"n1", "n3"},
				Excluded: with(NoLocalEndpoint, "n2"),
				Owner:    ownerOf(key("192.0.2.1"), "n1", "n3"),
			}},
		},
		{
			name: "local policy shared address: endpoints of every service",
			services: []ServiceInfo{
				{Key: "ns/a", Addresses: addrs("192.0.2.1"), TrafficPolicyLocal: true, LocalEndpointNodes: []string{"n1", "n2"}},
				{Key: "ns/b", Addresses: addrs("192.0.2.1"), TrafficPolicyLocal: true, LocalEndpointNodes: []string{"n2", "n3"}},
			},
			want: []GroupCandidates{{
				Group:    g("192.0.2.1", "ns/a", "ns/b"),
				Eligible: []string{"n2"},
				Excluded: with(NoLocalEndpoint, "n1", "n3"),
				Owner:    "n2",
			}},
		},
		{
			name: "local without endpoints anywhere",
			services: []ServiceInfo{
				{Key: "ns/a", Addresses: addrs("192.0.2.1"), TrafficPolicyLocal: true},
			},
			want: []GroupCandidates{{
				Group:    g("192.0.2.1", "ns/a"),
				Excluded: with(NoLocalEndpoint, "n1", "n2", "n3"),
			}},
		},
		{
			name: "mixed policies: cluster service without endpoints blocks the group",
			services: []ServiceInfo{
				{Key: "ns/a", Addresses: addrs("192.0.2.1"), TrafficPolicyLocal: true, LocalEndpointNodes: []string{"n1"}},
				{Key: "ns/b", Addresses: addrs("192.0.2.1")},
			},
			want: []GroupCandidates{{
				Group:    g("192.0.2.1", "ns/a", "ns/b"),
				Excluded: with(NoEndpoints, "n1", "n2", "n3"),
			}},
		},
		{
			name: "mixed policies with endpoints: the local service decides",
			services: []ServiceInfo{
				{Key: "ns/a", Addresses: addrs("192.0.2.1"), TrafficPolicyLocal: true, LocalEndpointNodes: []string{"n1"}},
				{Key: "ns/b", Addresses: addrs("192.0.2.1"), HasReadyEndpoints: true},
			},
			want: []GroupCandidates{{
				Group:    g("192.0.2.1", "ns/a", "ns/b"),
				Eligible: []string{"n1"},
				Excluded: with(NoLocalEndpoint, "n2", "n3"),
				Owner:    "n1",
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := View{Nodes: nodes, Services: tt.services, Members: members}
			got := Candidates(v)
			if diff := cmp.Diff(tt.want, got, cmpOpts); diff != "" {
				t.Errorf("Candidates() mismatch (-want +got):\n%s", diff)
			}
			// Table.Explain must say the same.
			var tb Table
			tb.Recompute(v)
			for _, c := range got {
				ex, ok := tb.Explain(c.Group.Key)
				if !ok {
					t.Fatalf("Explain(%s): unknown group", c.Group.Key)
				}
				if diff := cmp.Diff(c, ex, cmpOpts); diff != "" {
					t.Errorf("Explain(%s) mismatch (-Candidates +Explain):\n%s", c.Group.Key, diff)
				}
			}
		})
	}
}
