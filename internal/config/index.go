package config

import (
	"cmp"
	"net/netip"
	"slices"
)

// poolIndex finds the pool holding an address in O(log n): the ranges of all
// pools, which a valid config keeps disjoint, sorted by first address.
type poolIndex struct {
	ranges []indexedRange
}

type indexedRange struct {
	r    Range
	pool int
}

func newPoolIndex(pools []Pool) *poolIndex {
	var ix poolIndex
	for i, p := range pools {
		for _, r := range p.Ranges {
			ix.ranges = append(ix.ranges, indexedRange{r: r, pool: i})
		}
	}
	slices.SortFunc(ix.ranges, func(a, b indexedRange) int { return a.r.First.Compare(b.r.First) })
	return &ix
}

// lookup returns the index of the pool holding a.
func (ix *poolIndex) lookup(a netip.Addr) (int, bool) {
	// The first range starting after a; the candidate is the one before it.
	i, _ := slices.BinarySearchFunc(ix.ranges, a, func(e indexedRange, a netip.Addr) int {
		return cmp.Or(e.r.First.Compare(a), -1)
	})
	if i == 0 || !ix.ranges[i-1].r.Contains(a) {
		return 0, false
	}
	return ix.ranges[i-1].pool, true
}

// PoolFor returns the pool whose ranges contain a. It takes O(log n) in the
// number of ranges for a Config returned by Parse, and scans the pools of a
// Config built otherwise.
func (c *Config) PoolFor(a netip.Addr) (*Pool, bool) {
	if c.index == nil {
		for i := range c.Pools {
			if c.Pools[i].Contains(a) {
				return &c.Pools[i], true
			}
		}
		return nil, false
	}
	i, ok := c.index.lookup(a)
	if !ok {
		return nil, false
	}
	return &c.Pools[i], true
}

// Contains reports whether a lies in one of the pool's ranges.
func (p *Pool) Contains(a netip.Addr) bool {
	for _, r := range p.Ranges {
		if r.Contains(a) {
			return true
		}
	}
	return false
}
