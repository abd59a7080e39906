package announce

import "net/netip"

// ownedSet is an immutable snapshot of the owned addresses, each mapped to
// the generation in which it was gained. Lookups are O(1), so answering for
// 10,000 addresses costs what answering for one does.
type ownedSet map[netip.Addr]uint64

// owns reports whether a is in s.
func (s ownedSet) owns(a netip.Addr) bool {
	_, ok := s[a]
	return ok
}

// next returns the set holding exactly addrs (unmapped, without zones,
// invalid ones skipped): addresses already in s keep their generation, the
// others get gen. It also returns the gained addresses, in the order given.
func (s ownedSet) next(addrs []netip.Addr, gen uint64) (ownedSet, []netip.Addr) {
	n := make(ownedSet, len(addrs))
	var gained []netip.Addr
	for _, a := range addrs {
		a = a.Unmap().WithZone("")
		if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() {
			continue
		}
		if _, dup := n[a]; dup {
			continue
		}
		if g, ok := s[a]; ok {
			n[a] = g
			continue
		}
		n[a] = gen
		gained = append(gained, a)
	}
	return n, gained
}
