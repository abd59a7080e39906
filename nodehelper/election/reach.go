package election

import (
	"net/netip"

	"github.com/barelb/barelb/nodehelper/ifaces"
)

// A node announces an address on a link connected to the address's subnet,
// or, when it has none, on the link holding its own address (see
// ifaces.Choose). The election prefers the first: among the candidates for a
// group, only those of the best tier may own it. So when the owner's link
// carrying the subnet goes down while its gossip link stays up, the owner
// drops to the fallback tier (or below), and a peer that is still connected
// takes over; when no node is connected to the subnet at all (addresses
// routed to the nodes' LAN), every node with a node link qualifies.

// tier is how well a node can announce a group's addresses.
type tier int8

const (
	// tierNone: some address cannot be announced at all.
	tierNone tier = iota
	// tierFallback: every address can be announced, some only on the node
	// link.
	tierFallback
	// tierConnected: every address is in a connected prefix. A node that
	// publishes no reach counts as connected.
	tierConnected
)

// reachTier returns r's tier for addrs; r nil is a node that publishes no
// reach.
func reachTier(r *ifaces.Reach, addrs []netip.Addr) tier {
	if r == nil {
		return tierConnected
	}
	t := tierConnected
	for _, a := range addrs {
		switch r.Choose(a) {
		case ifaces.ReasonConnected:
		case ifaces.ReasonNodeLink:
			t = tierFallback
		default:
			return tierNone
		}
	}
	return t
}

// bestTier filters candidates to those of the best tier, which must be above
// tierNone. reachOf returns a candidate's reach (nil: publishes none). It
// returns the kept candidates and the others, in the order given.
func bestTier[N any](cands []N, addrs []netip.Addr, reachOf func(N) *ifaces.Reach) (keep, drop []N) {
	tiers := make([]tier, len(cands))
	top := tierNone
	for i, c := range cands {
		tiers[i] = reachTier(reachOf(c), addrs)
		top = max(top, tiers[i])
	}
	for i, c := range cands {
		if top > tierNone && tiers[i] == top {
			keep = append(keep, c)
		} else {
			drop = append(drop, c)
		}
	}
	return keep, drop
}
