package allocator

import (
	"slices"

	"github.com/barelb/barelb/internal/config"
)

// famIdx maps a family to an array index: IPv4 0, IPv6 1.
func famIdx(f Family) int {
	if f == IPv6 {
		return 1
	}
	return 0
}

var families = [2]Family{IPv4, IPv6}

// poolState is one configured pool with its ranges split by family, each
// family's ranges in declaration order.
type poolState struct {
	name       string
	autoAssign bool
	spans      [2][]*span
}

// hasFamily reports whether the pool has addresses of family f.
func (p *poolState) hasFamily(f Family) bool { return len(p.spans[famIdx(f)]) > 0 }

// span is the allocation state of one configured range: which of its
// addresses are used, as a set of runs, and how many.
type span struct {
	pool        *poolState
	fam         Family
	idx         int // position among the pool's spans of fam
	first, last u128
	avoidBuggy  bool // IPv4 and the pool has avoid-buggy-ips
	size        u128 // addresses the range hands out, saturated
	used        uint64
	runs        runSet
}

func newSpan(p *poolState, r config.Range, avoidBuggy bool) *span {
	f := IPv6
	if r.First.Is4() {
		f = IPv4
	}
	s := &span{
		pool:       p,
		fam:        f,
		first:      u128Of(r.First),
		last:       u128Of(r.Last),
		avoidBuggy: avoidBuggy && f == IPv4,
		runs:       runSet{seed: 1},
	}
	s.size = s.last.sub(s.first).inc()
	if s.avoidBuggy {
		lo, hi := int64(s.first.lo), int64(s.last.lo)
		buggy := countLowByte(lo, hi, 0) + countLowByte(lo, hi, 255)
		s.size = s.size.sub(u128{lo: uint64(buggy)})
	}
	return s
}

// countLowByte counts the x in [lo, hi] with x%256 == b.
func countLowByte(lo, hi, b int64) int64 {
	upTo := func(n int64) int64 { // x in [0, n]
		if n < b {
			return 0
		}
		return (n-b)/256 + 1
	}
	return upTo(hi) - upTo(lo-1)
}

func (s *span) contains(u u128) bool { return !u.less(s.first) && !s.last.less(u) }

// usable reports whether the range hands out u (in range): avoid-buggy-ips
// excludes IPv4 addresses ending in .0 or .255, which some CPE firmwares drop
// as smurf-attack broadcasts.
func (s *span) usable(u u128) bool {
	if !s.avoidBuggy {
		return true
	}
	b := u.lo & 0xff
	return b != 0 && b != 255
}

// next returns the usable address after u, if the range has one.
func (s *span) next(u u128) (u128, bool) {
	for u != s.last {
		u = u.inc()
		if s.usable(u) {
			return u, true
		}
	}
	return u128{}, false
}

// prev returns the usable address before u, if the range has one.
func (s *span) prev(u u128) (u128, bool) {
	for u != s.first {
		u = u.dec()
		if s.usable(u) {
			return u, true
		}
	}
	return u128{}, false
}

func (s *span) full() bool { return s.size.cmp(u128{lo: s.used}) <= 0 }

// lowestFree returns the lowest usable address nobody holds: the first
// usable address, or the one after the first run. O(log n) in the runs.
func (s *span) lowestFree() (u128, bool) {
	if s.full() {
		return u128{}, false
	}
	f0 := s.first
	if !s.usable(f0) {
		var ok bool
		if f0, ok = s.next(f0); !ok {
			return u128{}, false
		}
	}
	m := s.runs.min()
	if m == nil || f0.less(m.lo) {
		return f0, true
	}
	return s.next(m.hi)
}

// add marks the free usable address u used, merging it with its neighbour runs.
func (s *span) add(u u128) {
	s.used++
	p := s.runs.floor(u)
	n := s.runs.ceil(u)
	joinL, joinR := false, false
	if p != nil {
		pn, ok := s.next(p.hi)
		joinL = ok && pn == u
	}
	if n != nil {
		un, ok := s.next(u)
		joinR = ok && un == n.lo
	}
	switch {
	case joinL && joinR:
		p.hi = n.hi
		s.runs.delete(n.lo)
	case joinL:
		p.hi = u
	case joinR:
		n.lo = u // order kept: p.lo < u < n.lo and nothing lies between
	default:
		s.runs.insert(s.runs.newRun(u, u))
	}
}

// remove marks the used address u free, shrinking or splitting its run.
func (s *span) remove(u u128) {
	r := s.runs.floor(u)
	if r == nil || r.hi.less(u) {
		return // not held; cannot happen while the indexes agree
	}
	s.used--
	switch {
	case r.lo == u && r.hi == u:
		s.runs.delete(u)
	case r.lo == u:
		r.lo, _ = s.next(u)
	case r.hi == u:
		r.hi, _ = s.prev(u)
	default:
		hi := r.hi
		r.hi, _ = s.prev(u)
		lo, _ := s.next(u)
		s.runs.insert(s.runs.newRun(lo, hi))
	}
}

// buildPools turns cfg into pool states and the spans of each family sorted
// by first address, for lookups.
func buildPools(cfg *config.Config) (pools []*poolState, byName map[string]*poolState, sorted [2][]*span) {
	byName = map[string]*poolState{}
	if cfg == nil {
		return nil, byName, sorted
	}
	for _, cp := range cfg.Pools {
		if _, dup := byName[cp.Name]; dup {
			continue // config validation rejects duplicates; keep the first
		}
		p := &poolState{name: cp.Name, autoAssign: cp.AutoAssign}
		for _, r := range cp.Ranges {
			if !r.First.IsValid() || r.First.BitLen() != r.Last.BitLen() || r.Last.Less(r.First) || r.First.Is4() != r.Last.Is4() {
				continue // rejected by config validation
			}
			s := newSpan(p, r, cp.AvoidBuggyIPs)
			fi := famIdx(s.fam)
			s.idx = len(p.spans[fi])
			p.spans[fi] = append(p.spans[fi], s)
			sorted[fi] = append(sorted[fi], s)
		}
		pools = append(pools, p)
		byName[p.name] = p
	}
	for i := range sorted {
		slices.SortStableFunc(sorted[i], func(x, y *span) int { return x.first.cmp(y.first) })
	}
	return pools, byName, sorted
}

// findSpan returns the span of family f containing u, or nil. Ranges do not
// overlap (config validation), so the candidate is the last one starting at
// or before u.
func findSpan(sorted []*span, u u128) *span {
	i, found := slices.BinarySearchFunc(sorted, u, func(s *span, u u128) int { return s.first.cmp(u) })
	if !found {
		i--
	}
	if i < 0 || !sorted[i].contains(u) {
		return nil
	}
	return sorted[i]
}
