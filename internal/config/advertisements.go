package config

import (
	"encoding/binary"
	"math"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// advertisements validates the bgp-advertisements of a BGP pool with the
// given ranges. None given means one advertisement with default values, as in MetalLB.
func (p *parser) advertisements(path string, n *yaml.Node, ranges []Range, communities map[string]Community) []BGPAdvertisement {
	elems := p.sequence(path, n)
	if len(elems) == 0 {
		return []BGPAdvertisement{{AggregationLength: 32, AggregationLengthV6: 128}}
	}
	var out []BGPAdvertisement
	first := map[string]string{} // as written -> path of first
	for i, e := range elems {
		at := index(path, i)
		f, _ := p.mapping(at, e, "aggregation-length", "aggregation-length-v6", "localpref", "communities")
		ad := BGPAdvertisement{AggregationLength: 32, AggregationLengthV6: 128}
		var raw []string // the advertisement as written, for the duplicate check
		if v, set, ok := p.integer(child(at, "aggregation-length"), f["aggregation-length"], 0, 32); set && ok {
			ad.AggregationLength = int(v)
			p.aggregation(child(at, "aggregation-length"), f["aggregation-length"], int(v), false, ranges)
			raw = append(raw, "v4="+strconv.Itoa(int(v)))
		}
		if v, set, ok := p.integer(child(at, "aggregation-length-v6"), f["aggregation-length-v6"], 0, 128); set && ok {
			ad.AggregationLengthV6 = int(v)
			p.aggregation(child(at, "aggregation-length-v6"), f["aggregation-length-v6"], int(v), true, ranges)
			raw = append(raw, "v6="+strconv.Itoa(int(v)))
		}
		if v, set, ok := p.integer(child(at, "localpref"), f["localpref"], 0, math.MaxUint32); set && ok {
			ad.LocalPref = uint32(v)
			raw = append(raw, "localpref="+strconv.Itoa(int(v)))
		}
		cpath := child(at, "communities")
		if cn := p.resolve(f["communities"]); !isNull(cn) {
			raw = append(raw, "communities")
		}
		seen := map[string]bool{}
		for j, c := range p.sequence(cpath, f["communities"]) {
			s, _, ok := p.str(index(cpath, j), c)
			if !ok {
				continue
			}
			if seen[s] {
				p.error(index(cpath, j), c, s, "duplicate community")
				continue
			}
			seen[s] = true
			raw = append(raw, strconv.Quote(s))
			if v, ok := communities[s]; ok {
				ad.Communities = append(ad.Communities, v)
			} else if v, ok := ParseCommunity(s); ok {
				ad.Communities = append(ad.Communities, v)
			} else {
				p.error(index(cpath, j), c, s, "invalid community, want asn:value with 16-bit halves or a bgp-communities alias")
			}
		}
		key := strings.Join(raw, ",")
		if prev, ok := first[key]; ok {
			p.error(at, e, "", "duplicate advertisement, same as "+prev)
		} else {
			first[key] = at
		}
		out = append(out, ad)
	}
	return out
}

// aggregation checks that aggregating an assigned address to length bits
// stays within the entry holding it: MetalLB requires length to be at least
// the shortest prefix of every entry of the family (for a start-end range,
// of the CIDRs that make it up).
func (p *parser) aggregation(path string, n *yaml.Node, length int, v6 bool, ranges []Range) {
	need, needBy := -1, Range{}
	for _, r := range ranges {
		if r.First.Is6() != v6 {
			continue
		}
		if l := minPrefixLen(r); l > need {
			need, needBy = l, r
		}
	}
	if length < need {
		n = p.resolve(n)
		p.error(path, n, n.Value, "must be at least "+strconv.Itoa(need)+" to stay within "+strconv.Quote(needBy.String()))
	}
}

// minPrefixLen returns the length of the shortest prefix among the CIDRs
// that exactly cover r.
func minPrefixLen(r Range) int {
	if r.Prefix.IsValid() {
		return r.Prefix.Bits()
	}
	width := r.First.BitLen()
	cur, last := toU128(r.First), toU128(r.Last)
	best := width
	for {
		// The largest block starting at cur: aligned to cur and ending by last.
		h := min(cur.trailingZeros(), width)
		for h > 0 && cur.add(ones(h)).cmp(last) > 0 {
			h--
		}
		best = min(best, width-h)
		end := cur.add(ones(h))
		if end.cmp(last) >= 0 {
			return best
		}
		cur = end.add(u128{lo: 1})
	}
}

// u128 is an address as a 128-bit unsigned number; IPv4 uses the low 32 bits.
type u128 struct{ hi, lo uint64 }

func toU128(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{lo: uint64(binary.BigEndian.Uint32(b[:]))}
	}
	b := a.As16()
	return u128{hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint64(b[8:])}
}

// ones returns 2^h - 1.
func ones(h int) u128 {
	switch {
	case h <= 0:
		return u128{}
	case h < 64:
		return u128{lo: 1<<h - 1}
	case h == 64:
		return u128{lo: math.MaxUint64}
	case h < 128:
		return u128{hi: 1<<(h-64) - 1, lo: math.MaxUint64}
	default:
		return u128{hi: math.MaxUint64, lo: math.MaxUint64}
	}
}

func (a u128) add(b u128) u128 {
	lo, carry := bits.Add64(a.lo, b.lo, 0)
	hi, _ := bits.Add64(a.hi, b.hi, carry)
	return u128{hi: hi, lo: lo}
}

func (a u128) cmp(b u128) int {
	switch {
	case a.hi != b.hi:
		return cmpUint(a.hi, b.hi)
	default:
		return cmpUint(a.lo, b.lo)
	}
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (a u128) trailingZeros() int {
	if a.lo != 0 {
		return bits.TrailingZeros64(a.lo)
	}
	return 64 + bits.TrailingZeros64(a.hi)
}
