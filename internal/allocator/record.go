package allocator

import (
	"math"
	"net/netip"
	"slices"
)

// share holds what decides whether a service may share an address, and the
// links to the next holders of its addresses; nil in a record means the
// service never shares, so it is the only holder of its addresses.
type share struct {
	key      string
	local    bool
	selector string
	ports    []Port
	next     [2]*record // per family index, oldest holder first
}

// shareOf returns the sharing attributes of req, or nil if it never shares.
// Ports matter only between services that share, so they are kept here.
func shareOf(req Request) *share {
	if req.SharingKey == "" {
		return nil
	}
	return &share{key: req.SharingKey, local: req.TrafficPolicyLocal, selector: req.Selector, ports: slices.Clone(req.Ports)}
}

// record is the one allocation record of a service. Services holding the
// same address are chained through share.next.
type record struct {
	name  string
	share *share
	a6    u128
	a4    uint32
	pool  uint16 // the pool it was allocated from (or requested), see Allocator.poolName
	flags uint8
}

const (
	has4 uint8 = 1 << iota
	has6
	v6First            // the request listed IPv6 first
	twoFamilies        // the request listed two families
	policyShift = iota // two bits of FamilyPolicy from here

	// requestBits are the bits that remember the family request.
	requestBits = v6First | twoFamilies | 3<<policyShift
)

// requestFlags encodes the families and policy a record was made for, so
// that a changed family request can be told from a config edit.
func requestFlags(fams []Family, p FamilyPolicy) uint8 {
	var fl uint8
	if len(fams) > 0 && fams[0] == IPv6 {
		fl |= v6First
	}
	if len(fams) > 1 {
		fl |= twoFamilies
	}
	return fl | uint8(p&3)<<policyShift
}

func (r *record) has(f Family) bool {
	if f == IPv4 {
		return r.flags&has4 != 0
	}
	return r.flags&has6 != 0
}

func (r *record) held(f Family) u128 {
	if f == IPv4 {
		return u128{lo: uint64(r.a4)}
	}
	return r.a6
}

func (r *record) set(f Family, u u128) {
	if f == IPv4 {
		r.a4 = uint32(u.lo)
		r.flags |= has4
	} else {
		r.a6 = u
		r.flags |= has6
	}
}

// order returns the held families in the order the service listed them.
func (r *record) order() []Family {
	fs := make([]Family, 0, 2)
	for _, f := range familyOrder(r.flags&v6First != 0) {
		if r.has(f) {
			fs = append(fs, f)
		}
	}
	return fs
}

func familyOrder(v6first bool) [2]Family {
	if v6first {
		return [2]Family{IPv6, IPv4}
	}
	return [2]Family{IPv4, IPv6}
}

// assignment returns what r holds. Its pool is the one that hands out its
// first address now, or, when every address is orphaned, the pool it was
// allocated from.
func (a *Allocator) assignment(r *record) Assignment {
	as := Assignment{Pool: a.poolName(r.pool)}
	if p := a.heldPool(r); p != nil {
		as.Pool = p.name
	}
	n := 0
	if r.has(IPv4) {
		n++
	}
	if r.has(IPv6) {
		n++
	}
	as.Addresses = make([]netip.Addr, 0, n)
	for _, f := range familyOrder(r.flags&v6First != 0) {
		if r.has(f) {
			as.Addresses = append(as.Addresses, r.held(f).addr(f))
		}
	}
	return as
}

func sameShare(a, b *share) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.key == b.key && a.local == b.local && a.selector == b.selector && slices.Equal(a.ports, b.ports)
}

// next returns the holder after r of its address of family index fi.
func (r *record) next(fi int) *record {
	if r.share == nil {
		return nil
	}
	return r.share.next[fi]
}

// setNext links n after r; only sharing services have followers.
func (r *record) setNext(fi int, n *record) {
	if r.share != nil {
		r.share.next[fi] = n
	}
}

// holders returns the first service holding u of family f, or nil.
func (a *Allocator) holders(f Family, u u128) *record {
	if f == IPv4 {
		return a.held4[uint32(u.lo)]
	}
	return a.held6[u]
}

func (a *Allocator) setHead(f Family, u u128, r *record) {
	switch {
	case f == IPv4 && r == nil:
		delete(a.held4, uint32(u.lo))
	case f == IPv4:
		a.held4[uint32(u.lo)] = r
	case r == nil:
		delete(a.held6, u)
	default:
		a.held6[u] = r
	}
}

// spanOf returns the span that hands out u of family f, or nil when u is
// orphaned: in no range, or excluded by avoid-buggy-ips.
func (a *Allocator) spanOf(f Family, u u128) *span {
	s := findSpan(a.sorted[famIdx(f)], u)
	if s == nil || !s.usable(u) {
		return nil
	}
	return s
}

// insert adds r, whose addresses are set, to every index.
func (a *Allocator) insert(r *record) {
	a.services[r.name] = r
	orphan := false
	for _, f := range families {
		if !r.has(f) {
			continue
		}
		u := r.held(f)
		fi := famIdx(f)
		r.setNext(fi, nil)
		s := a.spanOf(f, u)
		if s == nil {
			orphan = true
		}
		if head := a.holders(f, u); head == nil {
			a.setHead(f, u, r)
			if s != nil {
				s.add(u)
			}
		} else {
			t := head
			for t.next(fi) != nil {
				t = t.next(fi)
			}
			t.setNext(fi, r)
		}
		if r.share != nil {
			g := a.groups[r.share.key]
			if g == nil {
				g = map[netip.Addr]int{}
				a.groups[r.share.key] = g
			}
			g[u.addr(f)]++
		}
	}
	if orphan {
		a.orphaned[r] = struct{}{}
	}
}

// remove deletes r from every index.
func (a *Allocator) remove(r *record) {
	delete(a.services, r.name)
	delete(a.orphaned, r)
	for _, f := range families {
		if !r.has(f) {
			continue
		}
		u := r.held(f)
		fi := famIdx(f)
		head := a.holders(f, u)
		if head == r {
			a.setHead(f, u, r.next(fi))
			if r.next(fi) == nil {
				if s := a.spanOf(f, u); s != nil {
					s.remove(u)
				}
			}
		} else {
			for t := head; t != nil; t = t.next(fi) {
				if t.next(fi) == r {
					t.setNext(fi, r.next(fi))
					break
				}
			}
		}
		r.setNext(fi, nil)
		if r.share != nil {
			g := a.groups[r.share.key]
			ad := u.addr(f)
			if g[ad]--; g[ad] <= 0 {
				delete(g, ad)
			}
			if len(g) == 0 {
				delete(a.groups, r.share.key)
			}
		}
	}
}

// check returns a refusal if svc, sharing as sh, cannot hold u of family f
// next to its current holders; svc itself is ignored.
func (a *Allocator) check(f Family, u u128, svc string, sh *share) *RefusalError {
	fi := famIdx(f)
	for h := a.holders(f, u); h != nil; h = h.next(fi) {
		if h.name == svc {
			continue
		}
		if err := sharable(u.addr(f), h, sh); err != nil {
			return err
		}
	}
	return nil
}

// sharable returns a refusal if a service sharing as sh cannot share addr
// with holder h.
func sharable(addr netip.Addr, h *record, sh *share) *RefusalError {
	switch {
	case h.share == nil || sh == nil:
		return refuse(ReasonAddressInUse, "%s is held by %s", addr, h.name)
	case h.share.key != sh.key:
		return refuse(ReasonAddressInUse, "%s is held by %s, whose sharing key %q differs from %q", addr, h.name, h.share.key, sh.key)
	case h.share.local != sh.local:
		return refuse(ReasonAddressInUse, "%s is held by %s: services with externalTrafficPolicy Local and Cluster never share an address", addr, h.name)
	case sh.local && h.share.selector != sh.selector:
		return refuse(ReasonAddressInUse, "%s is held by %s: services with externalTrafficPolicy Local share an address only with identical selectors", addr, h.name)
	}
	for _, p := range sh.ports {
		if slices.Contains(h.share.ports, p) {
			return refuse(ReasonPortConflict, "port %s/%d already used on %s by %s", p.Protocol, p.Port, addr, h.name)
		}
	}
	return nil
}

// internPool returns the number of a pool name, so that a record keeps two
// bytes rather than a string. Names are never forgotten; past 65,535 of them
// (pool names ever configured or requested) a record forgets its pool name,
// which only matters for an orphan's Assignment.Pool.
func (a *Allocator) internPool(name string) uint16 {
	if i, ok := a.poolNums[name]; ok {
		return i
	}
	if len(a.poolNames) > math.MaxUint16 {
		return 0
	}
	i := uint16(len(a.poolNames))
	a.poolNames = append(a.poolNames, name)
	a.poolNums[name] = i
	return i
}

func (a *Allocator) poolName(i uint16) string { return a.poolNames[i] }
