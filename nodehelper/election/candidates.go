package election

import (
	"slices"
	"strings"

	"github.com/barelb/barelb/nodehelper/ifaces"
)

// GroupCandidates is who may announce one group, who may not and why, and
// who wins.
type GroupCandidates struct {
	// Group is the group.
	Group Group
	// Eligible are the nodes that may announce the group, sorted.
	Eligible []string
	// Excluded lists the other nodes per reason, sorted; a node is listed
	// under the first reason that applies, in the order of the Exclusion
	// constants.
	Excluded map[Exclusion][]string
	// Owner is the eligible node with the highest Weight, or "" when no node
	// is eligible.
	Owner string
}

// Candidates computes, for every group of the view, the eligible nodes, the
// reasons of the others, and the owner. It is the readable statement of the
// election rules that Table implements incrementally. A gossip member without
// a Node in the view is not considered at all: without a Node there is
// nothing to say whether it may serve.
//
// A node is eligible for a group when it is usable (not labelled
// node.kubernetes.io/exclude-from-external-load-balancers, not
// NetworkUnavailable, not Ready=False), a live gossip member, and every
// Service of the group can be served through it: a Cluster-policy Service
// must have a ready endpoint somewhere, a Local-policy Service a ready,
// serving endpoint on that very node. Among those, only the nodes of the best
// reach tier are eligible (see reachTier): connected to every address's
// subnet, else able to announce every address on the node link; the others
// are excluded as NoInterface.
func Candidates(v View) []GroupCandidates {
	nodes := sortedNodes(v.Nodes)
	members := make(map[string]bool, len(v.Members))
	for _, m := range v.Members {
		members[m] = true
	}
	gs := buildGroups(v.Services)
	out := make([]GroupCandidates, 0, len(gs))
	for i := range gs {
		g := &gs[i]
		c := GroupCandidates{Group: g.Group, Excluded: map[Exclusion][]string{}}
		var passed []string
		for _, n := range nodes {
			e := nodeExclusion(n, members[n.Name])
			if e == 0 {
				e = g.req.exclusion(n.Name)
			}
			if e != 0 {
				c.Excluded[e] = append(c.Excluded[e], n.Name)
				continue
			}
			passed = append(passed, n.Name)
		}
		var noIface []string
		c.Eligible, noIface = bestTier(passed, g.Addresses, func(n string) *ifaces.Reach {
			if r, ok := v.Reach[n]; ok {
				return &r
			}
			return nil
		})
		if len(noIface) > 0 {
			c.Excluded[NoInterface] = noIface
		}
		var best uint64
		for _, n := range c.Eligible {
			if w := Weight(n, g.Key); c.Owner == "" || beats(w, n, best, c.Owner) {
				c.Owner, best = n, w
			}
		}
		out = append(out, c)
	}
	return out
}

// sortedNodes returns the nodes sorted by name, each name once (the first
// entry for a name wins).
func sortedNodes(in []NodeInfo) []NodeInfo {
	nodes := slices.Clone(in)
	slices.SortStableFunc(nodes, func(a, b NodeInfo) int { return strings.Compare(a.Name, b.Name) })
	return slices.CompactFunc(nodes, func(a, b NodeInfo) bool { return a.Name == b.Name })
}
