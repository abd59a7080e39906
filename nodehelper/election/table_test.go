package election

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/barelb/barelb/nodehelper/ifaces"
)

// TestTableSteps walks one table through a sequence of updates.
func TestTableSteps(t *testing.T) {
	t.Parallel()
	nodes := []NodeInfo{{Name: "n1"}, {Name: "n2"}, {Name: "n3"}}
	services := []ServiceInfo{
		{Key: "ns/a", Addresses: addrs("192.0.2.1"), HasReadyEndpoints: true},
		{Key: "ns/b", Addresses: addrs("192.0.2.2"), HasReadyEndpoints: true},
		{Key: "ns/c", Addresses: addrs("192.0.2.3"), HasReadyEndpoints: true},
		{Key: "ns/d", Addresses: addrs("192.0.2.4", "2001:db8::4"), HasReadyEndpoints: true},
		{Key: "ns/local", Addresses: addrs("192.0.2.5"), TrafficPolicyLocal: true, LocalEndpointNodes: []string{"n3"}},
	}
	type step struct {
		name string
		do   func(*Table) Changes
		want Changes
		// owned is what each node owns afterwards.
		owned map[string][]GroupKey
	}
	steps := []step{
		{
			name: "start alone",
			do: func(t *Table) Changes {
				return t.Recompute(View{Nodes: nodes, Services: services, Members: []string{"n1"}})
			},
			want: Changes{
				{Group: key("192.0.2.1"), To: "n1"},
				{Group: key("192.0.2.2"), To: "n1"},
				{Group: key("192.0.2.3"), To: "n1"},
				{Group: key("192.0.2.4"), To: "n1"},
			},
			owned: map[string][]GroupKey{"n1": {key("192.0.2.1"), key("192.0.2.2"), key("192.0.2.3"), key("192.0.2.4")}},
		},
		{
			name: "n2 joins and takes what it wins",
			do:   func(t *Table) Changes { return t.MemberJoined("n2") },
			want: Changes{
				{Group: key("192.0.2.1"), From: "n1", To: "n2"},
				{Group: key("192.0.2.4"), From: "n1", To: "n2"},
			},
			owned: map[string][]GroupKey{
				"n1": {key("192.0.2.2"), key("192.0.2.3")},
				"n2": {key("192.0.2.1"), key("192.0.2.4")},
			},
		},
		{
			name: "n3 joins, also gets its local service",
			do:   func(t *Table) Changes { return t.MemberJoined("n3") },
			want: Changes{
				{Group: key("192.0.2.3"), From: "n1", To: "n3"},
				{Group: key("192.0.2.5"), To: "n3"},
			},
			owned: map[string][]GroupKey{
				"n1": {key("192.0.2.2")},
				"n2": {key("192.0.2.1"), key("192.0.2.4")},
				"n3": {key("192.0.2.3"), key("192.0.2.5")},
			},
		},
		{
			name: "joining twice changes nothing",
			do:   func(t *Table) Changes { return t.MemberJoined("n3") },
			owned: map[string][]GroupKey{
				"n1": {key("192.0.2.2")},
				"n2": {key("192.0.2.1"), key("192.0.2.4")},
				"n3": {key("192.0.2.3"), key("192.0.2.5")},
			},
		},
		{
			name: "n2 leaves: only its groups move",
			do:   func(t *Table) Changes { return t.MemberLeft("n2") },
			want: Changes{
				{Group: key("192.0.2.1"), From: "n2", To: "n1"},
				{Group: key("192.0.2.4"), From: "n2", To: "n1"},
			},
			owned: map[string][]GroupKey{
				"n1": {key("192.0.2.1"), key("192.0.2.2"), key("192.0.2.4")},
				"n3": {key("192.0.2.3"), key("192.0.2.5")},
			},
		},
		{
			name: "n3 leaves: its local group has nobody left",
			do:   func(t *Table) Changes { return t.MemberLeft("n3") },
			want: Changes{
				{Group: key("192.0.2.3"), From: "n3", To: "n1"},
				{Group: key("192.0.2.5"), From: "n3"},
			},
			owned: map[string][]GroupKey{
				"n1": {key("192.0.2.1"), key("192.0.2.2"), key("192.0.2.3"), key("192.0.2.4")},
			},
		},
		{
			name: "leaving twice, and an unknown member, change nothing",
			do: func(t *Table) Changes {
				return append(t.MemberLeft("n3"), t.MemberJoined("stranger")...)
			},
			owned: map[string][]GroupKey{
				"n1": {key("192.0.2.1"), key("192.0.2.2"), key("192.0.2.3"), key("192.0.2.4")},
			},
		},
		{
			name: "service deleted and node excluded by label",
			do: func(t *Table) Changes {
				ns := slices.Clone(nodes)
				ns[0].ExcludedByLabel = true
				return t.Recompute(View{Nodes: ns, Services: services[1:], Members: []string{"n1", "n2", "n3"}})
			},
			want: Changes{
				{Group: key("192.0.2.1"), From: "n1"},
				{Group: key("192.0.2.2"), From: "n1", To: "n2"},
				{Group: key("192.0.2.3"), From: "n1", To: "n3"},
				{Group: key("192.0.2.4"), From: "n1", To: "n2"},
				{Group: key("192.0.2.5"), To: "n3"},
			},
			owned: map[string][]GroupKey{
				"n2": {key("192.0.2.2"), key("192.0.2.4")},
				"n3": {key("192.0.2.3"), key("192.0.2.5")},
			},
		},
	}
	var tb Table
	for _, s := range steps {
		got := s.do(&tb)
		if diff := cmp.Diff(s.want, got, cmpOpts); diff != "" {
			t.Fatalf("%s: changes mismatch (-want +got):\n%s", s.name, diff)
		}
		owned := map[string][]GroupKey{}
		for _, n := range []string{"n1", "n2", "n3", "stranger"} {
			if o := tb.Owned(n); len(o) > 0 {
				owned[n] = o
			}
		}
		if diff := cmp.Diff(s.owned, owned, cmpOpts); diff != "" {
			t.Fatalf("%s: owned mismatch (-want +got):\n%s", s.name, diff)
		}
	}
}

func TestChangesFor(t *testing.T) {
	t.Parallel()
	cs := Changes{
		{Group: key("192.0.2.1"), From: "n1", To: "n2"},
		{Group: key("192.0.2.2"), To: "n1"},
		{Group: key("192.0.2.3"), From: "n2"},
	}
	tests := []struct {
		node         string
		gained, lost []GroupKey
	}{
		{node: "n1", gained: []GroupKey{key("192.0.2.2")}, lost: []GroupKey{key("192.0.2.1")}},
		{node: "n2", gained: []GroupKey{key("192.0.2.1")}, lost: []GroupKey{key("192.0.2.3")}},
		{node: "n3"},
	}
	for _, tt := range tests {
		gained, lost := cs.For(tt.node)
		if diff := cmp.Diff(tt.gained, gained, cmpOpts); diff != "" {
			t.Errorf("For(%q) gained mismatch (-want +got):\n%s", tt.node, diff)
		}
		if diff := cmp.Diff(tt.lost, lost, cmpOpts); diff != "" {
			t.Errorf("For(%q) lost mismatch (-want +got):\n%s", tt.node, diff)
		}
	}
}

// randomView builds a view of n nodes (some unusable) and s services (some
// Local, some sharing addresses, some dual-stack, some without endpoints).
func randomView(r *rand.Rand, n, s int) View {
	var v View
	for i := range n {
		ni := NodeInfo{Name: fmt.Sprintf("node-%03d", i)}
		switch r.IntN(20) {
		case 0:
			ni.ExcludedByLabel = true
		case 1:
			ni.NetworkUnavailable = true
		case 2:
			ni.NotReady = true
		}
		v.Nodes = append(v.Nodes, ni)
		if r.IntN(4) != 0 {
			v.Members = append(v.Members, ni.Name)
		}
	}
	for i := range s {
		si := ServiceInfo{
			Key:               fmt.Sprintf("ns/svc-%d", i),
			Addresses:         []netip.Addr{netip.AddrFrom4([4]byte{198, 51, byte(100 + r.IntN(2)), byte(r.IntN(256))})},
			HasReadyEndpoints: r.IntN(10) != 0,
		}
		if r.IntN(3) == 0 {
			si.Addresses = append(si.Addresses, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(r.IntN(256))}))
		}
		if r.IntN(4) == 0 {
			si.TrafficPolicyLocal = true
			for range r.IntN(n/2 + 1) {
				si.LocalEndpointNodes = append(si.LocalEndpointNodes, fmt.Sprintf("node-%03d", r.IntN(n+2)))
			}
		}
		v.Services = append(v.Services, si)
	}
	if r.IntN(3) != 0 {
		v.Reach = randomReach(r, v.Nodes)
	}
	return v
}

// randomReach gives most nodes a reach: the services' subnets connected or
// not, a node link or not; some nodes publish none.
func randomReach(r *rand.Rand, nodes []NodeInfo) map[string]ifaces.Reach {
	subnets := []netip.Prefix{
		netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("198.51.101.0/24"),
		netip.MustParsePrefix("2001:db8::/64"),
	}
	out := map[string]ifaces.Reach{}
	for _, n := range nodes {
		if r.IntN(6) == 0 {
			continue
		}
		var re ifaces.Reach
		for _, p := range subnets {
			if r.IntN(4) != 0 {
				re.Prefixes = append(re.Prefixes, p)
			}
		}
		re.NodeLink = r.IntN(4) != 0
		out[n.Name] = re
	}
	return out
}

// owners returns every group's owner.
func owners(t *Table) map[GroupKey]string {
	m := map[GroupKey]string{}
	for _, g := range t.Groups() {
		m[g.Key] = t.Owner(g.Key)
	}
	return m
}

// TestIncrementalMatchesFull checks, over random views and random join/leave
// sequences, that the incremental updates give exactly the owners a full
// recompute gives, that Candidates agrees, and that movement is minimal: a
// leave moves only the leaver's groups, a join moves groups only to the
// joiner.
func TestIncrementalMatchesFull(t *testing.T) {
	t.Parallel()
	for seed := range uint64(30) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(seed, 1))
			v := randomView(r, 3+r.IntN(20), 1+r.IntN(150))
			var inc Table
			inc.Recompute(v)
			members := map[string]bool{}
			for _, m := range v.Members {
				members[m] = true
			}
			for step := range 60 {
				name := fmt.Sprintf("node-%03d", r.IntN(len(v.Nodes)+1))
				before := owners(&inc)
				var cs Changes
				if r.IntN(8) == 0 {
					// A member publishes a new reach: anything may move.
					v.Reach = randomReach(r, v.Nodes)
					cs = inc.SetReach(v.Reach)
				} else if members[name] {
					delete(members, name)
					cs = inc.MemberLeft(name)
					for _, c := range cs {
						if c.From != name {
							t.Fatalf("step %d: %s left but %s moved from %q", step, name, c.Group, c.From)
						}
					}
				} else {
					members[name] = true
					cs = inc.MemberJoined(name)
					for _, c := range cs {
						if c.To != name {
							t.Fatalf("step %d: %s joined but %s moved to %q", step, name, c.Group, c.To)
						}
					}
				}
				after := owners(&inc)
				// The changes describe exactly the difference.
				for _, c := range cs {
					before[c.Group] = c.To
				}
				if diff := cmp.Diff(before, after, cmpOpts); diff != "" {
					t.Fatalf("step %d: changes do not describe the update (-before+changes +after):\n%s", step, diff)
				}

				v.Members = v.Members[:0]
				for m := range members {
					v.Members = append(v.Members, m)
				}
				var full Table
				full.Recompute(v)
				if diff := cmp.Diff(owners(&full), after, cmpOpts); diff != "" {
					t.Fatalf("step %d: incremental differs from full recompute (-full +incremental):\n%s", step, diff)
				}
				fromCandidates := map[GroupKey]string{}
				for _, c := range Candidates(v) {
					fromCandidates[c.Group.Key] = c.Owner
				}
				if diff := cmp.Diff(fromCandidates, after, cmpOpts); diff != "" {
					t.Fatalf("step %d: Table differs from Candidates (-Candidates +Table):\n%s", step, diff)
				}
			}
		})
	}
}

// TestOrderIndependent checks that every node computes the same owners from
// the same view, whatever order its informers listed things in.
func TestOrderIndependent(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 7))
	v := randomView(r, 40, 300)
	var want Table
	want.Recompute(v)
	for i := range 10 {
		s := View{Nodes: slices.Clone(v.Nodes), Services: slices.Clone(v.Services), Members: slices.Clone(v.Members), Reach: v.Reach}
		r.Shuffle(len(s.Nodes), func(i, j int) { s.Nodes[i], s.Nodes[j] = s.Nodes[j], s.Nodes[i] })
		r.Shuffle(len(s.Services), func(i, j int) { s.Services[i], s.Services[j] = s.Services[j], s.Services[i] })
		r.Shuffle(len(s.Members), func(i, j int) { s.Members[i], s.Members[j] = s.Members[j], s.Members[i] })
		var got Table
		got.Recompute(s)
		if diff := cmp.Diff(owners(&want), owners(&got), cmpOpts); diff != "" {
			t.Errorf("shuffle %d: owners differ (-original +shuffled):\n%s", i, diff)
		}
	}
}

// TestSpread checks the hash spreads groups evenly enough: with 10 nodes and
// 10,000 groups every node owns 1,000 ± 15%.
func TestSpread(t *testing.T) {
	t.Parallel()
	v := benchView(10_000, 10)
	var tb Table
	tb.Recompute(v)
	for _, n := range v.Nodes {
		if got := len(tb.Owned(n.Name)); got < 850 || got > 1150 {
			t.Errorf("%s owns %d groups, want 1000 ± 150", n.Name, got)
		}
	}
}
