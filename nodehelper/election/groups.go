package election

import (
	"net/netip"
	"slices"
	"strings"
)

// Groups partitions the Services into election groups: Services that share an
// address, directly or through another Service, land in one group. Addresses
// are unmapped (an IPv4-mapped IPv6 address counts as IPv4); invalid
// addresses and Services without addresses are ignored. The result is sorted
// by key.
func Groups(services []ServiceInfo) []Group {
	gs := buildGroups(services)
	out := make([]Group, len(gs))
	for i := range gs {
		out[i] = gs[i].Group
	}
	return out
}

// requirement is what a group asks of a node beyond being usable: it is the
// conjunction over the group's Services.
type requirement struct {
	// noEndpoints: a Cluster-policy Service has no ready endpoint anywhere.
	noEndpoints bool
	// local: at least one Service has Local policy, so only localNodes qualify.
	local bool
	// localNodes are the nodes holding a ready endpoint of every Local-policy
	// Service of the group, sorted and unique.
	localNodes []string
}

// group is a Group with what it requires of its owner.
type group struct {
	Group
	req requirement
}

// buildGroups is Groups with each group's requirement.
func buildGroups(services []ServiceInfo) []group {
	// Union-find over Service indices, joined through shared addresses.
	parent := make([]int, len(services))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	seen := make(map[netip.Addr]int, len(services))
	for i, s := range services {
		for _, a := range s.Addresses {
			if !a.IsValid() {
				continue
			}
			a = a.Unmap()
			if j, ok := seen[a]; ok {
				if ri, rj := find(i), find(j); ri != rj {
					parent[ri] = rj
				}
				continue
			}
			seen[a] = i
		}
	}

	byRoot := make(map[int]int) // root Service index -> index in gs
	var gs []group
	for i, s := range services {
		if !hasValid(s.Addresses) {
			continue
		}
		r := find(i)
		gi, ok := byRoot[r]
		if !ok {
			gi = len(gs)
			byRoot[r] = gi
			gs = append(gs, group{})
		}
		g := &gs[gi]
		for _, a := range s.Addresses {
			if a.IsValid() {
				g.Addresses = append(g.Addresses, a.Unmap())
			}
		}
		g.Services = append(g.Services, s.Key)
		addRequirement(&g.req, s)
	}
	for i := range gs {
		g := &gs[i]
		slices.SortFunc(g.Addresses, netip.Addr.Compare)
		g.Addresses = slices.Compact(g.Addresses)
		slices.Sort(g.Services)
		g.Key = GroupKey(g.Addresses[0])
	}
	// Sort by key through a small index: groups are large to swap.
	order := make([]int32, len(gs))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return gs[a].Key.Addr().Compare(gs[b].Key.Addr()) })
	sorted := make([]group, len(gs))
	for i, j := range order {
		sorted[i] = gs[j]
	}
	return sorted
}

// addRequirement adds what Service s asks of a node to r.
func addRequirement(r *requirement, s ServiceInfo) {
	if !s.TrafficPolicyLocal {
		if !s.HasReadyEndpoints {
			r.noEndpoints = true
		}
		return
	}
	nodes := slices.Clone(s.LocalEndpointNodes)
	slices.Sort(nodes)
	nodes = slices.Compact(nodes)
	if !r.local {
		r.local = true
		r.localNodes = nodes
		return
	}
	// Intersect two sorted lists.
	var both []string
	for i, j := 0, 0; i < len(r.localNodes) && j < len(nodes); {
		switch c := strings.Compare(r.localNodes[i], nodes[j]); {
		case c == 0:
			both = append(both, nodes[j])
			i++
			j++
		case c < 0:
			i++
		default:
			j++
		}
	}
	r.localNodes = both
}

// exclusion is the group-level part of eligibility for a usable member node.
func (r *requirement) exclusion(node string) Exclusion {
	if r.noEndpoints {
		return NoEndpoints
	}
	if r.local {
		if _, ok := slices.BinarySearch(r.localNodes, node); !ok {
			return NoLocalEndpoint
		}
	}
	return 0
}

func hasValid(as []netip.Addr) bool {
	for _, a := range as {
		if a.IsValid() {
			return true
		}
	}
	return false
}
