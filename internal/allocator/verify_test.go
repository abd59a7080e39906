package allocator

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"

	"github.com/google/go-cmp/cmp"
)

// verify checks that every index agrees with the service records.
func (a *Allocator) verify() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	type key struct {
		f Family
		u u128
	}
	holders := map[key][]string{}
	groups := map[string]map[netip.Addr]int{}
	orphaned := map[string]bool{}
	for name, r := range a.services {
		if r.name != name {
			return fmt.Errorf("record %q filed as %q", r.name, name)
		}
		if r.flags&(has4|has6) == 0 {
			return fmt.Errorf("%s holds nothing", name)
		}
		for _, f := range families {
			if !r.has(f) {
				continue
			}
			k := key{f, r.held(f)}
			holders[k] = append(holders[k], name)
			if a.spanOf(f, k.u) == nil {
				orphaned[name] = true
			}
			if r.share != nil {
				if groups[r.share.key] == nil {
					groups[r.share.key] = map[netip.Addr]int{}
				}
				groups[r.share.key][k.u.addr(f)]++
			}
		}
	}
	// Chains.
	chains := map[key][]string{}
	for u, h := range a.held4 {
		for ; h != nil; h = h.next(0) {
			k := key{IPv4, u128{lo: uint64(u)}}
			chains[k] = append(chains[k], h.name)
		}
	}
	for u, h := range a.held6 {
		for ; h != nil; h = h.next(1) {
			k := key{IPv6, u}
			chains[k] = append(chains[k], h.name)
		}
	}
	sortAll := func(m map[key][]string) {
		for _, v := range m {
			for i := range v {
				for j := i + 1; j < len(v); j++ {
					if v[j] < v[i] {
						v[i], v[j] = v[j], v[i]
					}
				}
			}
		}
	}
	sortAll(holders)
	sortAll(chains)
	if !maps.EqualFunc(holders, chains, slices.Equal) {
		return fmt.Errorf("address index disagrees with records (-records +index):\n%s", cmp.Diff(holders, chains, cmp.AllowUnexported(key{}, u128{})))
	}
	if !maps.EqualFunc(groups, a.groups, maps.Equal) {
		return fmt.Errorf("sharing groups disagree (-records +index):\n%s", cmp.Diff(groups, a.groups, addrComparer))
	}
	gotOrphaned := map[string]bool{}
	for r := range a.orphaned {
		gotOrphaned[r.name] = true
	}
	if !maps.Equal(orphaned, gotOrphaned) {
		return fmt.Errorf("orphaned set disagrees (-records +index):\n%s", cmp.Diff(orphaned, gotOrphaned))
	}
	// Runs: sorted, disjoint, maximal, covering exactly the held usable addresses.
	for fi, spans := range a.sorted {
		for _, s := range spans {
			var runs []*run
			s.runs.each(func(r *run) bool { runs = append(runs, r); return true })
			if len(runs) != s.runs.n {
				return fmt.Errorf("span %v: %d runs, counted %d", s.first, len(runs), s.runs.n)
			}
			var used uint64
			for i, r := range runs {
				if r.hi.less(r.lo) || !s.contains(r.lo) || !s.contains(r.hi) || !s.usable(r.lo) || !s.usable(r.hi) {
					return fmt.Errorf("pool %q: bad run %v-%v", s.pool.name, r.lo, r.hi)
				}
				if i > 0 {
					if !runs[i-1].hi.less(r.lo) {
						return fmt.Errorf("pool %q: runs out of order", s.pool.name)
					}
					if n, ok := s.next(runs[i-1].hi); ok && n == r.lo {
						return fmt.Errorf("pool %q: runs not maximal", s.pool.name)
					}
				}
				for u := r.lo; ; {
					if _, ok := holders[key{families[fi], u}]; !ok {
						return fmt.Errorf("pool %q: run holds unheld %s", s.pool.name, u.addr(families[fi]))
					}
					used++
					if u == r.hi {
						break
					}
					u, _ = s.next(u)
				}
			}
			if used != s.used {
				return fmt.Errorf("pool %q: used %d, runs hold %d", s.pool.name, s.used, used)
			}
		}
	}
	for k := range holders {
		if s := a.spanOf(k.f, k.u); s != nil {
			if r := s.runs.floor(k.u); r == nil || r.hi.less(k.u) {
				return fmt.Errorf("held %s missing from the runs", k.u.addr(k.f))
			}
		}
	}
	return nil
}
