package allocator

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// String returns "IPv4" or "IPv6".
func (f Family) String() string {
	switch f {
	case IPv4:
		return "IPv4"
	case IPv6:
		return "IPv6"
	}
	return fmt.Sprintf("Family(%d)", int(f))
}

// norm is a validated request: the families the service uses, in its order,
// and the requested address of each family (invalid when none).
type norm struct {
	fams   [2]Family
	nf     int
	want   [2]netip.Addr
	policy FamilyPolicy
}

// families returns the families the service uses, in its order.
func (n *norm) families() []Family { return n.fams[:n.nf] }

func normalize(req Request) (norm, *RefusalError) {
	n := norm{fams: [2]Family{IPv4}, nf: 1, policy: req.FamilyPolicy}
	if req.Service == "" {
		return n, refuse(ReasonInvalidRequest, "the request names no service")
	}
	if len(req.Families) > 2 {
		return n, refuse(ReasonInvalidRequest, "%s lists %d IP families; at most two are possible", req.Service, len(req.Families))
	}
	if len(req.Families) > 0 {
		n.nf = copy(n.fams[:], req.Families)
	}
	for i, f := range n.families() {
		if f != IPv4 && f != IPv6 {
			return n, refuse(ReasonInvalidRequest, "%s lists the unknown IP family %d", req.Service, int(f))
		}
		if i == 1 && f == n.fams[0] {
			return n, refuse(ReasonInvalidRequest, "%s lists %s twice", req.Service, f)
		}
	}
	switch n.policy {
	case SingleStack:
		n.nf = 1
	case PreferDualStack:
	case RequireDualStack:
		if n.nf != 2 {
			return n, refuse(ReasonInvalidRequest, "%s requires dual-stack but lists only %s", req.Service, n.fams[0])
		}
	default:
		return n, refuse(ReasonInvalidRequest, "%s has the unknown IP family policy %d", req.Service, int(n.policy))
	}
	for _, addr := range req.Addresses {
		if !addr.IsValid() || addr.Zone() != "" {
			return n, refuse(ReasonInvalidRequest, "%q is not an IP address", addr.String())
		}
		f := familyOf(addr)
		if !slices.Contains(n.families(), f) {
			return n, refuse(ReasonInvalidRequest, "%s is an %s address, but %s uses only %s", addr, f, req.Service, n.fams[0])
		}
		if prev := n.want[famIdx(f)]; prev.IsValid() {
			return n, refuse(ReasonInvalidRequest, "%s requests %s and %s: at most one address per family", req.Service, prev, addr)
		}
		n.want[famIdx(f)] = addr
	}
	return n, nil
}

// heldPool returns the pool of the first held address that a pool hands
// out, or nil when every address of r is orphaned.
func (a *Allocator) heldPool(r *record) *poolState {
	for _, f := range familyOrder(r.flags&v6First != 0) {
		if r.has(f) {
			if s := a.spanOf(f, r.held(f)); s != nil {
				return s.pool
			}
		}
	}
	return nil
}

// satisfied reports whether r, as held, still fulfils req: the families of
// its policy, the requested addresses and pool, and sharing with the other
// holders. Orphaned addresses satisfy an unchanged pool request, so that no
// service moves because of a config edit.
func (a *Allocator) satisfied(r *record, req Request, n norm) bool {
	switch n.policy {
	case SingleStack:
		if !r.has(n.fams[0]) || r.has(other(n.fams[0])) {
			return false
		}
	case RequireDualStack:
		if !r.has(IPv4) || !r.has(IPv6) {
			return false
		}
	case PreferDualStack:
		// Any non-empty subset of the families. When the family request
		// changed (say from SingleStack), also every family the pool can
		// give now; a config edit alone never grows an assignment.
		for _, f := range families {
			if r.has(f) && !slices.Contains(n.families(), f) {
				return false
			}
		}
		if r.flags&(has4|has6) == 0 {
			return false
		}
		if p := a.heldPool(r); p != nil && r.flags&requestBits != requestFlags(n.families(), n.policy) {
			sh := shareOf(req)
			for _, f := range n.families() {
				if !r.has(f) && p.hasFamily(f) {
					if _, ok := a.lowestAvailable(p, f, r.name, sh); ok {
						return false
					}
				}
			}
		}
	}
	for _, f := range families {
		if w := n.want[famIdx(f)]; w.IsValid() && (!r.has(f) || r.held(f) != u128Of(w)) {
			return false
		}
	}
	sh := shareOf(req)
	for _, f := range families {
		if !r.has(f) {
			continue
		}
		u := r.held(f)
		// A held address outside the requested pool is fine if the service
		// was allocated from that pool: a config edit moved the address.
		if req.Pool != "" && a.poolName(r.pool) != req.Pool {
			if s := a.spanOf(f, u); s == nil || s.pool.name != req.Pool {
				return false
			}
		}
		if a.check(f, u, r.name, sh) != nil {
			return false
		}
	}
	return true
}

func other(f Family) Family {
	if f == IPv4 {
		return IPv6
	}
	return IPv4
}

// update records the pool, sharing attributes and family request of req in
// r, which keeps its addresses.
func (a *Allocator) update(r *record, req Request, n norm) {
	if req.Pool != "" {
		r.pool = a.internPool(req.Pool)
	}
	sh := shareOf(req)
	flags := r.flags&^requestBits | requestFlags(n.families(), n.policy)
	if sameShare(sh, r.share) {
		r.flags = flags
		return
	}
	a.remove(r)
	r.share, r.flags = sh, flags
	a.insert(r)
}

// plan finds a new record for req; old, already removed from the indexes, is
// the service's previous record or nil, whose addresses are kept where they
// still fit.
func (a *Allocator) plan(req Request, n norm, old *record) (*record, *RefusalError) {
	sh := shareOf(req)
	pool, e := a.requestedPool(req, &n, sh)
	if e != nil {
		return nil, e
	}
	var buf [8]*poolState
	cands, e := a.candidates(buf[:0], pool, old)
	if e != nil {
		return nil, e
	}
	var short shortfalls
	for _, c := range cands {
		needs, nn := needed(c, &n)
		if nn == 0 {
			continue
		}
		need := needs[:nn]
		got, missing := a.pick(c, need, &n, old, req.Service, sh)
		if missing != 0 {
			short.add(c.name, missing, len(need) > 1)
			continue
		}
		r := &record{name: req.Service, pool: a.internPool(c.name), share: sh, flags: requestFlags(n.families(), n.policy)}
		for _, f := range need {
			r.set(f, got[famIdx(f)])
		}
		return r, nil
	}
	return nil, noFit(&short, cands, n)
}

// requestedPool returns the pool req names or, failing that, the pool of its
// requested addresses (nil when it requests neither), after checking that
// the addresses are in that pool, handed out and free for the service.
func (a *Allocator) requestedPool(req Request, n *norm, sh *share) (*poolState, *RefusalError) {
	var pinned, byAddr *poolState
	if req.Pool != "" {
		if pinned = a.byName[req.Pool]; pinned == nil {
			return nil, refuse(ReasonUnknownPool, "pool %q does not exist", req.Pool)
		}
	}
	for _, f := range n.families() {
		w := n.want[famIdx(f)]
		if !w.IsValid() {
			continue
		}
		u := u128Of(w)
		s := findSpan(a.sorted[famIdx(f)], u)
		switch {
		case s == nil:
			return nil, refuse(ReasonNotInPool, "%s is not in any pool", w)
		case !s.usable(u):
			return nil, refuse(ReasonBuggyAddress, "%s ends in .%d, which pool %q never hands out (avoid-buggy-ips)", w, u.lo&0xff, s.pool.name)
		case pinned != nil && s.pool != pinned:
			return nil, refuse(ReasonNotInPool, "%s is not in pool %q but in pool %q", w, pinned.name, s.pool.name)
		case byAddr != nil && s.pool != byAddr:
			return nil, refuse(ReasonInvalidRequest, "%s and %s are in different pools (%q and %q), but a service's addresses come from one pool",
				n.want[famIdx(other(f))], w, byAddr.name, s.pool.name)
		}
		byAddr = s.pool
		if e := a.check(f, u, req.Service, sh); e != nil {
			return nil, e
		}
	}
	if pinned == nil {
		pinned = byAddr
	}
	return pinned, nil
}

// candidates appends to dst the pools to try, in order, and returns it: the
// requested pool alone if there is one; otherwise the pool old holds
// addresses of (so a service stays in its pool), then every other
// auto-assign pool in declared order.
func (a *Allocator) candidates(dst []*poolState, requested *poolState, old *record) ([]*poolState, *RefusalError) {
	if requested != nil {
		return append(dst, requested), nil
	}
	var sticky *poolState
	if old != nil {
		sticky = a.heldPool(old)
	}
	if sticky != nil {
		dst = append(dst, sticky)
	}
	for _, p := range a.pools {
		if p.autoAssign && p != sticky {
			dst = append(dst, p)
		}
	}
	if len(dst) == 0 {
		if len(a.pools) == 0 {
			return nil, refuse(ReasonNoAutoAssignPool, "no address pools are configured")
		}
		return nil, refuse(ReasonNoAutoAssignPool, "no pool has auto-assign enabled: request a pool or an address")
	}
	return dst, nil
}

// pick chooses an address of pool c for each family of need: the requested
// one, else the one old holds if it is still in c and free for the service,
// else the lowest available. It returns the first family c has none of, or
// 0 when every family got one.
func (a *Allocator) pick(c *poolState, need []Family, n *norm, old *record, svc string, sh *share) (got [2]u128, missing Family) {
	for _, f := range need {
		fi := famIdx(f)
		if w := n.want[fi]; w.IsValid() {
			got[fi] = u128Of(w)
			continue
		}
		if old != nil && old.has(f) {
			u := old.held(f)
			if s := a.spanOf(f, u); s != nil && s.pool == c && a.check(f, u, svc, sh) == nil {
				got[fi] = u
				continue
			}
		}
		u, ok := a.lowestAvailable(c, f, svc, sh)
		if !ok {
			return got, f
		}
		got[fi] = u
	}
	return got, 0
}

// noFit is the refusal when no candidate pool could give the service its
// addresses: some ran out, or none has the families it needs.
func noFit(short *shortfalls, cands []*poolState, n norm) *RefusalError {
	if short.n > 0 {
		return &RefusalError{Reason: ReasonPoolExhausted, Message: short.String()}
	}
	if len(cands) == 1 {
		return refuse(ReasonFamilyUnavailable, "pool %q has no %s", cands[0].name, describe(n, cands[0]))
	}
	return refuse(ReasonFamilyUnavailable, "no auto-assign pool has %s", describe(n, nil))
}

// needed returns the families req needs from pool c, in the service's order,
// and their number: 0 when c lacks one it must have.
func needed(c *poolState, n *norm) (need [2]Family, nn int) {
	switch n.policy {
	case SingleStack:
		if !c.hasFamily(n.fams[0]) {
			return need, 0
		}
		return n.fams, 1
	case RequireDualStack:
		if !c.hasFamily(IPv4) || !c.hasFamily(IPv6) {
			return need, 0
		}
		return n.fams, 2
	}
	for _, f := range n.families() {
		if c.hasFamily(f) {
			need[nn] = f
			nn++
		} else if n.want[famIdx(f)].IsValid() {
			return need, 0
		}
	}
	return need, nn
}

// describe names the addresses req lacks in pool c (any pool when c is nil).
func describe(n norm, c *poolState) string {
	switch {
	case n.policy == RequireDualStack && c != nil:
		for _, f := range n.families() {
			if !c.hasFamily(f) {
				return f.String() + " addresses"
			}
		}
		return "addresses"
	case n.policy == RequireDualStack:
		return "both IPv4 and IPv6 addresses"
	case n.nf == 2:
		return "IPv4 or IPv6 addresses"
	}
	return n.fams[0].String() + " addresses"
}

// lowestAvailable returns the first address of pool c and family f, ranges
// in declared order and each from its lowest address, that is either free or
// already held by services this one may share it with, as MetalLB v0.12 does.
// A free address is found in O(log n); shared ones are looked up through the
// sharing key's addresses.
func (a *Allocator) lowestAvailable(c *poolState, f Family, svc string, sh *share) (u128, bool) {
	bestIdx := -1
	var best u128
	for i, s := range c.spans[famIdx(f)] {
		if u, ok := s.lowestFree(); ok {
			best, bestIdx = u, i
			break
		}
	}
	if sh == nil {
		return best, bestIdx >= 0
	}
	for addr := range a.groups[sh.key] {
		if familyOf(addr) != f {
			continue
		}
		u := u128Of(addr)
		s := a.spanOf(f, u)
		if s == nil || s.pool != c {
			continue
		}
		if bestIdx >= 0 && (s.idx > bestIdx || s.idx == bestIdx && !u.less(best)) {
			continue
		}
		if a.check(f, u, svc, sh) == nil {
			best, bestIdx = u, s.idx
		}
	}
	return best, bestIdx >= 0
}

// shortfalls lists the candidate pools that ran out, for the refusal
// message; a failed attempt costs one string, however many pools.
type shortfalls struct {
	n     int
	first [4]shortfall
	more  []shortfall
}

type shortfall struct {
	pool string
	fam  Family
	dual bool // the pool had to give two families: name the missing one
}

func (s *shortfalls) add(pool string, f Family, dual bool) {
	x := shortfall{pool, f, dual}
	if s.n < len(s.first) {
		s.first[s.n] = x
	} else {
		s.more = append(s.more, x)
	}
	s.n++
}

// String returns `pool "a" is exhausted; pool "b" is exhausted for IPv6`.
func (s *shortfalls) String() string {
	var b strings.Builder
	b.Grow(32 * s.n)
	for i := range s.n {
		var sf shortfall
		if i < len(s.first) {
			sf = s.first[i]
		} else {
			sf = s.more[i-len(s.first)]
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString("pool ")
		b.WriteString(strconv.Quote(sf.pool))
		b.WriteString(" is exhausted")
		if sf.dual {
			b.WriteString(" for ")
			b.WriteString(sf.fam.String())
		}
	}
	return b.String()
}
