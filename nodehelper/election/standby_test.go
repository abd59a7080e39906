package election

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestWatched checks Watched against its definition on random views: the
// owners whose departure would give node a group, computed by electing the
// view without them. It also checks that Watched leaves the table as it was.
func TestWatched(t *testing.T) {
	t.Parallel()
	for seed := range 40 {
		r := rand.New(rand.NewPCG(uint64(seed), 7))
		v := watchedView(r)
		var tb Table
		tb.Recompute(v)
		before := tb.ownerMap()
		for _, n := range v.Nodes {
			got := tb.Watched(n.Name)
			want := watchedByDefinition(v, n.Name)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("seed %d: Watched(%s) (-want +got):\n%s", seed, n.Name, diff)
			}
		}
		if diff := cmp.Diff(before, tb.ownerMap(), cmpOpts); diff != "" {
			t.Errorf("seed %d: Watched changed the owners (-before +after):\n%s", seed, diff)
		}
		// The table still moves as it would have: a member leaving.
		if len(v.Members) > 1 {
			gone := v.Members[r.IntN(len(v.Members))]
			var fresh Table
			fresh.Recompute(v)
			if diff := cmp.Diff(fresh.MemberLeft(gone), tb.MemberLeft(gone), cmpOpts); diff != "" {
				t.Errorf("seed %d: MemberLeft(%s) after Watched (-fresh +after Watched):\n%s", seed, gone, diff)
			}
		}
	}
}

// TestWatchedCases pins the simple cases.
func TestWatchedCases(t *testing.T) {
	t.Parallel()
	nodes := []NodeInfo{{Name: "n1"}, {Name: "n2"}}
	svc := []ServiceInfo{{Key: "ns/a", Addresses: addrs("192.0.2.1"), HasReadyEndpoints: true}}
	tests := []struct {
		name string
		view View
		node string
		want []string
	}{
		{name: "two members: each watches the other's group", view: View{Nodes: nodes, Services: svc, Members: []string{"n1", "n2"}}, node: ownerOf(t, View{Nodes: nodes, Services: svc, Members: []string{"n1", "n2"}}, "192.0.2.1", true)},
		{name: "alone: nothing to watch", view: View{Nodes: nodes, Services: svc, Members: []string{"n1"}}, node: "n1"},
		{name: "not a member: nothing", view: View{Nodes: nodes, Services: svc, Members: []string{"n1"}}, node: "n2"},
		{name: "unknown node", view: View{Nodes: nodes, Services: svc, Members: []string{"n1", "n2"}}, node: "n9"},
	}
	tests[0].want = []string{ownerOf(t, tests[0].view, "192.0.2.1", false)}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tb Table
			tb.Recompute(tt.view)
			if diff := cmp.Diff(tt.want, tb.Watched(tt.node)); diff != "" {
				t.Errorf("Watched(%s) (-want +got):\n%s", tt.node, diff)
			}
		})
	}
}

// ownerOf returns the owner of the group of addr in v, or with other the
// member that does not own it (of two).
func ownerOf(t *testing.T, v View, addr string, other bool) string {
	t.Helper()
	var tb Table
	tb.Recompute(v)
	o := tb.Owner(key(addr))
	if !other {
		return o
	}
	for _, m := range v.Members {
		if m != o {
			return m
		}
	}
	return ""
}

// watchedByDefinition elects v without each owner in turn.
func watchedByDefinition(v View, node string) []string {
	var base Table
	base.Recompute(v)
	if !slices.Contains(v.Members, node) {
		return nil
	}
	var out []string
	for _, o := range v.Members {
		if o == node {
			continue
		}
		owned := base.Owned(o)
		if len(owned) == 0 {
			continue
		}
		w := v
		w.Members = slices.DeleteFunc(slices.Clone(v.Members), func(m string) bool { return m == o })
		var without Table
		without.Recompute(w)
		if slices.ContainsFunc(owned, func(k GroupKey) bool { return without.Owner(k) == node }) {
			out = append(out, o)
		}
	}
	return out
}

// watchedView is a random view: up to 6 nodes (some not members, some
// unschedulable), Cluster and Local services.
func watchedView(r *rand.Rand) View {
	var v View
	n := 1 + r.IntN(6)
	for i := range n {
		name := fmt.Sprintf("n%d", i)
		nd := NodeInfo{Name: name}
		if r.IntN(8) == 0 {
			nd.ExcludedByLabel = true
		}
		v.Nodes = append(v.Nodes, nd)
		if r.IntN(5) != 0 {
			v.Members = append(v.Members, name)
		}
	}
	for i := range 1 + r.IntN(12) {
		s := ServiceInfo{Key: fmt.Sprintf("ns/s%d", i), Addresses: addrs(fmt.Sprintf("192.0.2.%d", i+1)), HasReadyEndpoints: true}
		if r.IntN(3) == 0 {
			s.TrafficPolicyLocal = true
			for _, nd := range v.Nodes {
				if r.IntN(2) == 0 {
					s.LocalEndpointNodes = append(s.LocalEndpointNodes, nd.Name)
				}
			}
		}
		v.Services = append(v.Services, s)
	}
	return v
}
