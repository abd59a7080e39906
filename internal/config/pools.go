package config

import (
	"cmp"
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

var errZone = errors.New("address has a zone")

// entry is one parsed item of a pool's addresses, kept for the overlap check.
type entry struct {
	pool, idx int
	path      string
	line      int
	r         Range
}

// pools validates address-pools, then checks that no two entries overlap.
func (p *parser) pools(path string, n *yaml.Node, communities map[string]Community) []Pool {
	var (
		out     []Pool
		entries []entry
		first   = map[string]string{}
	)
	for i, e := range p.sequence(path, n) {
		pool, es := p.pool(index(path, i), e, communities, first)
		for j := range es {
			es[j].pool = i
		}
		entries = append(entries, es...)
		out = append(out, pool)
	}
	p.overlaps(entries)
	return out
}

// pool validates one entry of address-pools. first maps pool names to the path defining them.
func (p *parser) pool(at string, n *yaml.Node, communities map[string]Community, first map[string]string) (Pool, []entry) {
	f, ok := p.mapping(at, n, "name", "protocol", "addresses", "avoid-buggy-ips", "auto-assign", "bgp-advertisements")
	if !ok {
		return Pool{}, nil
	}
	name, _, _ := p.str(child(at, "name"), f["name"])
	if name == "" {
		p.error(at, p.resolve(n), "", "missing name")
	}
	at = labelled(at, name)
	if prev, ok := first[name]; ok && name != "" {
		p.error(at, p.resolve(n), "", "duplicate pool name, first defined at "+prev)
	} else if name != "" {
		first[name] = at
	}
	pool := Pool{Name: name, AutoAssign: true}
	proto, set, ok := p.str(child(at, "protocol"), f["protocol"])
	switch {
	case !ok:
	case !set || proto == "":
		p.error(at, p.resolve(n), "", "missing protocol (layer2 or bgp)")
	case Protocol(proto) == Layer2 || Protocol(proto) == BGP:
		pool.Protocol = Protocol(proto)
	default:
		p.error(child(at, "protocol"), p.resolve(f["protocol"]), proto, "unknown protocol, want layer2 or bgp")
	}
	pool.AvoidBuggyIPs, _ = p.boolean(child(at, "avoid-buggy-ips"), f["avoid-buggy-ips"])
	if v := p.resolve(f["auto-assign"]); !isNull(v) {
		pool.AutoAssign, _ = p.boolean(child(at, "auto-assign"), v)
	}

	addrPath := child(at, "addresses")
	var entries []entry
	for i, e := range p.sequence(addrPath, f["addresses"]) {
		epath := index(addrPath, i)
		s, _, ok := p.str(epath, e)
		if !ok {
			continue
		}
		r, msg := parseRange(s)
		if msg != "" {
			p.error(epath, e, s, msg)
			continue
		}
		pool.Ranges = append(pool.Ranges, r)
		entries = append(entries, entry{idx: i, path: epath, line: p.line(e), r: r})
	}
	if isNullOrEmpty(p.resolve(f["addresses"])) {
		p.error(at, p.resolve(n), "", "no addresses")
	}

	adsNode := p.resolve(f["bgp-advertisements"])
	switch {
	case pool.Protocol == Layer2 && !isNullOrEmpty(adsNode):
		p.error(child(at, "bgp-advertisements"), adsNode, "", "not allowed in a layer2 pool")
	case pool.Protocol == BGP:
		pool.BGPAdvertisements = p.advertisements(child(at, "bgp-advertisements"), adsNode, pool.Ranges, communities)
		p.warn(at, "BGP is not supported: addresses of pool "+strconv.Quote(name)+" are assigned but not announced")
	}
	return pool, entries
}

// isNullOrEmpty reports whether n is absent, null or an empty sequence.
func isNullOrEmpty(n *yaml.Node) bool {
	return isNull(n) || (n.Kind == yaml.SequenceNode && len(n.Content) == 0)
}

// parseRange parses an addresses entry: a CIDR or a start-end range. It
// returns a message instead of the range when the entry is invalid.
func parseRange(s string) (Range, string) {
	if start, end, ok := strings.Cut(s, "-"); ok {
		first, err := parseAddr(strings.TrimSpace(start))
		if err != nil {
			return Range{}, "invalid start address " + strconv.Quote(strings.TrimSpace(start))
		}
		last, err := parseAddr(strings.TrimSpace(end))
		if err != nil {
			return Range{}, "invalid end address " + strconv.Quote(strings.TrimSpace(end))
		}
		if first.Is4() != last.Is4() {
			return Range{}, "start and end are of different address families"
		}
		if first.Compare(last) > 0 {
			return Range{}, "start " + first.String() + " is after end " + last.String()
		}
		return Range{First: first, Last: last}, ""
	}
	if !strings.Contains(s, "/") {
		return Range{}, "neither a CIDR nor a start-end range"
	}
	pfx, err := netip.ParsePrefix(s)
	if err != nil || pfx.Addr().Zone() != "" {
		return Range{}, "invalid CIDR"
	}
	if a := pfx.Addr(); a.Is4In6() && pfx.Bits() >= 96 {
		// An IPv4-mapped prefix means IPv4 addresses, as it did for MetalLB.
		pfx = netip.PrefixFrom(a.Unmap(), pfx.Bits()-96)
	}
	if m := pfx.Masked(); m != pfx {
		return Range{}, "host bits set, did you mean " + strconv.Quote(m.String()) + "?"
	}
	return Range{First: pfx.Addr(), Last: lastAddr(pfx), Prefix: pfx}, ""
}

// lastAddr returns the last address of the masked prefix pfx.
func lastAddr(pfx netip.Prefix) netip.Addr {
	b := pfx.Addr().As16()
	off := 128 - pfx.Addr().BitLen() // bits of As16 before the address proper
	for i := off + pfx.Bits(); i < 128; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a := netip.AddrFrom16(b)
	if pfx.Addr().Is4() {
		return a.Unmap()
	}
	return a
}

// overlaps reports every entry that overlaps an earlier one, naming both. It
// sorts the entries by first address and sweeps once: O(n log n).
func (p *parser) overlaps(entries []entry) {
	sorted := slices.Clone(entries)
	slices.SortFunc(sorted, func(a, b entry) int {
		return cmp.Or(a.r.First.Compare(b.r.First), a.r.Last.Compare(b.r.Last))
	})
	type clash struct{ later, earlier entry }
	var clashes []clash
	var reach *entry // the entry reaching furthest among those sorted before
	for i := range sorted {
		e := &sorted[i]
		if reach != nil && reach.r.First.BitLen() == e.r.First.BitLen() && e.r.First.Compare(reach.r.Last) <= 0 {
			if declaredBefore(*reach, *e) {
				clashes = append(clashes, clash{later: *e, earlier: *reach})
			} else {
				clashes = append(clashes, clash{later: *reach, earlier: *e})
			}
		}
		if reach == nil || reach.r.First.BitLen() != e.r.First.BitLen() || e.r.Last.Compare(reach.r.Last) > 0 {
			reach = e
		}
	}
	slices.SortStableFunc(clashes, func(a, b clash) int {
		return cmp.Or(cmp.Compare(a.later.pool, b.later.pool), cmp.Compare(a.later.idx, b.later.idx))
	})
	for _, c := range clashes {
		p.errs = append(p.errs, &FieldError{Path: c.later.path, Line: c.later.line, Value: c.later.r.String(),
			Message: "overlaps " + strconv.Quote(c.earlier.r.String()) + " at " + c.earlier.path})
	}
}

func declaredBefore(a, b entry) bool {
	return a.pool < b.pool || (a.pool == b.pool && a.idx < b.idx)
}
