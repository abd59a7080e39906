package allocator

import (
	"cmp"
	"net/netip"
	"slices"
	"sync"

	"github.com/barelb/barelb/internal/config"
)

// Allocator assigns addresses from the configured pools to services. Its
// methods are safe for concurrent use.
//
// It keeps one record per service, an index of used addresses (which
// services hold each address) and, per configured range, the used addresses
// as a sorted set of runs, so that finding the lowest free address costs
// O(log n) in the allocated addresses whatever the size of the pool.
type Allocator struct {
	mu       sync.Mutex
	pools    []*poolState // declaration order
	byName   map[string]*poolState
	sorted   [2][]*span // per family, by first address
	services map[string]*record
	held4    map[uint32]*record // first holder of each used IPv4 address
	held6    map[u128]*record   // first holder of each used IPv6 address
	groups   map[string]map[netip.Addr]int
	orphaned map[*record]struct{}
	// poolNames numbers the pool names records refer to; 0 is "".
	poolNames []string
	poolNums  map[string]uint16
}

// New returns an allocator over the pools of cfg; a nil cfg means no pools.
func New(cfg *config.Config) *Allocator {
	a := &Allocator{
		services:  map[string]*record{},
		held4:     map[uint32]*record{},
		held6:     map[u128]*record{},
		groups:    map[string]map[netip.Addr]int{},
		orphaned:  map[*record]struct{}{},
		poolNames: []string{""},
		poolNums:  map[string]uint16{"": 0},
	}
	a.pools, a.byName, a.sorted = buildPools(cfg)
	return a
}

// Allocate returns addresses for req.Service.
//
// Without a requested pool or address, it takes the first pool in
// declaration order that has auto-assign and an address for each family the
// request needs (RequireDualStack: both; PreferDualStack: those of its
// families the pool has; SingleStack: the first). A requested pool may have
// auto-assign off; requested addresses must lie in it, or in some pool.
// Within a pool, ranges in declared order, it takes the lowest address that
// is free or that the service may share, as MetalLB v0.12 does: the same
// non-empty sharing key, no common (protocol, port), the same traffic policy
// and, for externalTrafficPolicy Local, the same selector. With
// avoid-buggy-ips, IPv4 addresses ending in .0 or .255 are never handed out.
//
// A service whose current assignment still satisfies req gets it back
// unchanged. Otherwise the service moves: the new assignment replaces the old
// one at once, keeping those of its current addresses that still fit. On
// error the service keeps what it held. Errors are *RefusalError.
func (a *Allocator) Allocate(req Request) (Assignment, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n, rerr := normalize(req)
	if rerr != nil {
		return Assignment{}, rerr
	}
	old := a.services[req.Service]
	if old != nil && a.satisfied(old, req, n) {
		a.update(old, req, n)
		return a.assignment(old), nil
	}
	if old != nil {
		a.remove(old)
	}
	r, rerr := a.plan(req, n, old)
	if rerr != nil {
		if old != nil {
			a.insert(old)
		}
		return Assignment{}, rerr
	}
	a.insert(r)
	return a.assignment(r), nil
}

// Release frees the addresses of service and reports whether it held any.
// An orphaned address returns to nowhere.
func (a *Allocator) Release(service string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.services[service]
	if r == nil {
		return false
	}
	a.remove(r)
	return true
}

// Assignment returns what service holds. Its Pool is the pool that hands
// out the first address, or, when every address is orphaned, the pool the
// service was allocated from.
func (a *Allocator) Assignment(service string) (Assignment, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.services[service]
	if r == nil {
		return Assignment{}, false
	}
	return a.assignment(r), true
}

// PoolOf returns the pool that hands out addr. An address excluded by its
// pool's avoid-buggy-ips is in no pool.
func (a *Allocator) PoolOf(addr netip.Addr) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !addr.IsValid() {
		return "", false
	}
	s := a.spanOf(familyOf(addr), u128Of(addr))
	if s == nil {
		return "", false
	}
	return s.pool.name, true
}

// Restore adopts existing assignments, typically the statuses of services
// found at start-up, before any allocation. Claims are taken oldest first
// (by Created, then Service). An address claimed by two services that cannot
// share it stays with the older; the younger gets a *ClaimError and holds
// nothing for that address. Addresses outside every pool are adopted as
// orphans. Restore does not check the claims' requests against the pools:
// the next Allocate of each service does.
func (a *Allocator) Restore(claims []Claim) []error {
	a.mu.Lock()
	defer a.mu.Unlock()
	cs := slices.Clone(claims)
	slices.SortStableFunc(cs, func(x, y Claim) int {
		return cmp.Or(x.Created.Compare(y.Created), cmp.Compare(x.Request.Service, y.Request.Service))
	})
	var errs []error
	for _, c := range cs {
		errs = append(errs, a.restore(c)...)
	}
	return errs
}

func (a *Allocator) restore(c Claim) []error {
	svc := c.Request.Service
	fail := func(addr netip.Addr, e *RefusalError) error {
		return &ClaimError{Service: svc, Address: addr, Err: e}
	}
	if svc == "" {
		return []error{fail(netip.Addr{}, refuse(ReasonInvalidRequest, "the claim names no service"))}
	}
	if a.services[svc] != nil {
		return []error{fail(netip.Addr{}, refuse(ReasonInvalidRequest, "%s is claimed twice", svc))}
	}
	r := &record{name: svc, share: shareOf(c.Request)}
	r.flags = requestFlags(c.Request.Families, c.Request.FamilyPolicy)
	var errs []error
	for _, addr := range c.Addresses {
		if !addr.IsValid() || addr.Zone() != "" {
			errs = append(errs, fail(addr, refuse(ReasonInvalidRequest, "%q is not an IP address", addr.String())))
			continue
		}
		f := familyOf(addr)
		u := u128Of(addr)
		if r.has(f) {
			errs = append(errs, fail(addr, refuse(ReasonInvalidRequest, "%s already holds %s, and a service holds at most one address per family", svc, r.held(f).addr(f))))
			continue
		}
		if e := a.check(f, u, svc, r.share); e != nil {
			errs = append(errs, fail(addr, e))
			continue
		}
		r.set(f, u)
	}
	if r.flags&(has4|has6) != 0 {
		// The requested pool, so that an unchanged request still matches
		// after a config edit moved the address; else where it is now.
		pool := c.Request.Pool
		if p := a.heldPool(r); pool == "" && p != nil {
			pool = p.name
		}
		r.pool = a.internPool(pool)
		a.insert(r)
	}
	return errs
}

// SetConfig replaces the pools at once. No service changes address: an
// address in use that no new pool hands out stays with its service as an
// orphan, is never handed to anyone else, and returns to nowhere when
// released. SetConfig returns the orphans, as Orphans does.
func (a *Allocator) SetConfig(cfg *config.Config) []Orphan {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pools, a.byName, a.sorted = buildPools(cfg)
	clear(a.orphaned)
	for _, r := range a.services {
		orphan := false
		for _, f := range families {
			if !r.has(f) {
				continue
			}
			u := r.held(f)
			s := a.spanOf(f, u)
			if s == nil {
				orphan = true
				continue
			}
			if a.holders(f, u) == r {
				s.add(u) // once per address, by its first holder
			}
		}
		if orphan {
			a.orphaned[r] = struct{}{}
		}
	}
	return a.orphans()
}

// Orphans returns the held addresses that no pool hands out, by service and
// address.
func (a *Allocator) Orphans() []Orphan {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.orphans()
}

func (a *Allocator) orphans() []Orphan {
	var os []Orphan
	for r := range a.orphaned {
		for _, f := range r.order() {
			if u := r.held(f); a.spanOf(f, u) == nil {
				os = append(os, Orphan{Service: r.name, Address: u.addr(f)})
			}
		}
	}
	slices.SortFunc(os, func(x, y Orphan) int {
		return cmp.Or(cmp.Compare(x.Service, y.Service), x.Address.Compare(y.Address))
	})
	return os
}

// Stats returns the counts of every pool, in declaration order, and family,
// IPv4 first; a pool without addresses of a family has no entry for it.
func (a *Allocator) Stats() []PoolStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	var st []PoolStats
	for _, p := range a.pools {
		for _, f := range families {
			spans := p.spans[famIdx(f)]
			if len(spans) == 0 {
				continue
			}
			var size u128
			var used uint64
			for _, s := range spans {
				size = size.add(s.size)
				used += s.used
			}
			st = append(st, PoolStats{
				Pool:   p.name,
				Family: f,
				Size:   size.uint64(),
				InUse:  used,
				Free:   size.sub(u128{lo: used}).uint64(),
			})
		}
	}
	return st
}

func familyOf(addr netip.Addr) Family {
	if addr.Is4() {
		return IPv4
	}
	return IPv6
}
