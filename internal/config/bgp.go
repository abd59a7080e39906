package config

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

const (
	defaultPeerPort = 179
	defaultHoldTime = 90 * time.Second
	// minHoldTime is the smallest non-zero BGP hold time (RFC 4271 section 4.2).
	minHoldTime = 3 * time.Second
)

// ParseCommunity parses a BGP community in its two-part form asn:value,
// each half a decimal 16-bit number.
func ParseCommunity(s string) (Community, bool) {
	asn, value, ok := strings.Cut(s, ":")
	if !ok {
		return Community{}, false
	}
	a, err := strconv.ParseUint(asn, 10, 16)
	if err != nil {
		return Community{}, false
	}
	v, err := strconv.ParseUint(value, 10, 16)
	if err != nil {
		return Community{}, false
	}
	return Community{ASN: uint16(a), Value: uint16(v)}, true
}

// String returns the community as asn:value.
func (c Community) String() string {
	return strconv.Itoa(int(c.ASN)) + ":" + strconv.Itoa(int(c.Value))
}

// communities validates the bgp-communities aliases.
func (p *parser) communities(path string, n *yaml.Node) map[string]Community {
	fields, _ := p.mapping(path, n)
	if len(fields) == 0 {
		return nil
	}
	out := make(map[string]Community, len(fields))
	for _, name := range p.inOrder(fields) {
		v := fields[name]
		s, _, ok := p.str(child(path, name), v)
		if !ok {
			continue
		}
		c, ok := ParseCommunity(s)
		if !ok {
			p.error(child(path, name), p.resolve(v), s, "invalid community, want asn:value with 16-bit halves")
			continue
		}
		out[name] = c
	}
	return out
}

// bfdProfiles validates bfd-profiles (used by MetalLB's FRR mode only).
func (p *parser) bfdProfiles(path string, n *yaml.Node) []BFDProfile {
	var out []BFDProfile
	first := map[string]string{}
	for i, e := range p.sequence(path, n) {
		at := index(path, i)
		f, ok := p.mapping(at, e, "name", "receive-interval", "transmit-interval", "detect-multiplier",
			"echo-interval", "echo-mode", "passive-mode", "minimum-ttl")
		if !ok {
			continue
		}
		name, _, _ := p.str(child(at, "name"), f["name"])
		if name == "" {
			p.error(at, e, "", "missing name")
		} else if prev, ok := first[name]; ok {
			p.error(labelled(at, name), e, "", "duplicate name, first defined at "+prev)
		} else {
			first[name] = at
		}
		at = labelled(at, name)
		b := BFDProfile{Name: name}
		b.ReceiveInterval = p.optUint32(child(at, "receive-interval"), f["receive-interval"], 10, 60000)
		b.TransmitInterval = p.optUint32(child(at, "transmit-interval"), f["transmit-interval"], 10, 60000)
		b.DetectMultiplier = p.optUint32(child(at, "detect-multiplier"), f["detect-multiplier"], 2, 255)
		b.EchoInterval = p.optUint32(child(at, "echo-interval"), f["echo-interval"], 10, 60000)
		b.MinimumTTL = p.optUint32(child(at, "minimum-ttl"), f["minimum-ttl"], 1, 254)
		b.EchoMode, _ = p.boolean(child(at, "echo-mode"), f["echo-mode"])
		b.PassiveMode, _ = p.boolean(child(at, "passive-mode"), f["passive-mode"])
		out = append(out, b)
	}
	return out
}

func (p *parser) optUint32(path string, n *yaml.Node, lo, hi int64) *uint32 {
	v, set, ok := p.integer(path, n, lo, hi)
	if !set || !ok {
		return nil
	}
	u := uint32(v)
	return &u
}

// peers validates the BGP peers. barelb does not speak BGP: a non-empty list
// yields one warning.
func (p *parser) peers(path string, n *yaml.Node, bfd []BFDProfile) []Peer {
	var out []Peer
	first := map[string]string{} // duplicate key -> path of first
	for i, e := range p.sequence(path, n) {
		at := index(path, i)
		peer, ok := p.peer(at, e, bfd)
		if !ok {
			continue
		}
		key := peerKey(peer)
		if prev, dup := first[key]; dup {
			p.error(at, e, "", "duplicate peer, same as "+prev)
			continue
		}
		first[key] = at
		out = append(out, peer)
	}
	if len(out) > 0 {
		p.warn(path, "BGP is not supported: peers are validated but no BGP session is established")
	}
	return out
}

// peer validates one entry of peers.
func (p *parser) peer(at string, n *yaml.Node, bfd []BFDProfile) (Peer, bool) {
	errs := len(p.errs)
	f, ok := p.mapping(at, n, "peer-address", "peer-asn", "my-asn", "peer-port", "hold-time", "keepalive-time",
		"router-id", "source-address", "password", "node-selectors", "ebgp-multihop", "bfd-profile")
	if !ok {
		return Peer{}, false
	}
	var peer Peer
	peer.Address = p.addr(at, "peer-address", n, f, true)
	peer.ASN = p.asn(at, "peer-asn", n, f)
	peer.MyASN = p.asn(at, "my-asn", n, f)
	// MetalLB treats peer-port 0 as unset.
	port, set, _ := p.integer(child(at, "peer-port"), f["peer-port"], 0, math.MaxUint16)
	peer.Port = uint16(port)
	if !set || port == 0 {
		peer.Port = defaultPeerPort
	}
	peer.HoldTime = defaultHoldTime
	if d, set, ok := p.duration(child(at, "hold-time"), f["hold-time"]); set && ok {
		if d != 0 && d < minHoldTime {
			p.error(child(at, "hold-time"), p.resolve(f["hold-time"]), scalarValue(p.resolve(f["hold-time"])), "must be 0 or at least 3s")
		}
		peer.HoldTime = d
	}
	peer.KeepaliveTime = peer.HoldTime / 3
	if d, set, ok := p.duration(child(at, "keepalive-time"), f["keepalive-time"]); set && ok {
		if d > peer.HoldTime {
			v := p.resolve(f["keepalive-time"])
			p.error(child(at, "keepalive-time"), v, v.Value, "must not exceed hold-time ("+peer.HoldTime.String()+")")
		}
		peer.KeepaliveTime = d
	}
	peer.RouterID = p.addr(at, "router-id", n, f, false)
	peer.SourceAddress = p.addr(at, "source-address", n, f, false)
	peer.Password, _, _ = p.str(child(at, "password"), f["password"])
	peer.EBGPMultiHop, _ = p.boolean(child(at, "ebgp-multihop"), f["ebgp-multihop"])
	if peer.EBGPMultiHop && peer.ASN != 0 && peer.ASN == peer.MyASN {
		p.error(child(at, "ebgp-multihop"), p.resolve(f["ebgp-multihop"]), "", "not allowed for an iBGP peer (peer-asn equals my-asn)")
	}
	peer.BFDProfile, _, _ = p.str(child(at, "bfd-profile"), f["bfd-profile"])
	if peer.BFDProfile != "" && !hasBFDProfile(bfd, peer.BFDProfile) {
		p.error(child(at, "bfd-profile"), p.resolve(f["bfd-profile"]), peer.BFDProfile, "not defined in bfd-profiles")
	}
	for i, s := range p.sequence(child(at, "node-selectors"), f["node-selectors"]) {
		if sel, ok := p.nodeSelector(index(child(at, "node-selectors"), i), s); ok {
			peer.NodeSelectors = append(peer.NodeSelectors, sel)
		}
	}
	return peer, len(p.errs) == errs
}

func hasBFDProfile(profiles []BFDProfile, name string) bool {
	for _, b := range profiles {
		if b.Name == name {
			return true
		}
	}
	return false
}

// addr validates the IP address in field key of the mapping n.
func (p *parser) addr(at, key string, n *yaml.Node, f map[string]*yaml.Node, required bool) netip.Addr {
	s, set, ok := p.str(child(at, key), f[key])
	if !ok {
		return netip.Addr{}
	}
	if !set || s == "" {
		if required {
			p.error(at, p.resolve(n), "", "missing "+key)
		}
		return netip.Addr{}
	}
	a, err := parseAddr(s)
	if err != nil {
		p.error(child(at, key), p.resolve(f[key]), s, "not an IP address")
		return netip.Addr{}
	}
	return a
}

// parseAddr parses an IP address without zone; an IPv4-mapped IPv6 address
// becomes IPv4, as it was for MetalLB.
func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, err
	}
	if a.Zone() != "" {
		return netip.Addr{}, errZone
	}
	return a.Unmap(), nil
}

// asn validates the AS number in field key of the mapping n.
func (p *parser) asn(at, key string, n *yaml.Node, f map[string]*yaml.Node) uint32 {
	v, set, ok := p.integer(child(at, key), f[key], 1, math.MaxUint32)
	if !set {
		p.error(at, p.resolve(n), "", "missing "+key)
	}
	if !ok {
		return 0
	}
	return uint32(v)
}

// duration parses a Go duration such as 90s, rounded down to whole seconds as MetalLB did.
func (p *parser) duration(path string, n *yaml.Node) (d time.Duration, set, ok bool) {
	s, set, ok := p.str(path, n)
	if !set || !ok {
		return 0, set, ok
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		p.error(path, p.resolve(n), s, "not a duration (e.g. 90s)")
		return 0, true, false
	}
	return d.Truncate(time.Second), true, true
}

// nodeSelector validates one entry of a peer's node-selectors.
func (p *parser) nodeSelector(at string, n *yaml.Node) (labels.Selector, bool) {
	errs := len(p.errs)
	f, _ := p.mapping(at, n, "match-labels", "match-expressions")
	var sel metav1.LabelSelector
	ml, _ := p.mapping(child(at, "match-labels"), f["match-labels"])
	for _, k := range p.inOrder(ml) {
		v := ml[k]
		s, _, _ := p.str(child(child(at, "match-labels"), k), v)
		if sel.MatchLabels == nil {
			sel.MatchLabels = map[string]string{}
		}
		sel.MatchLabels[k] = s
	}
	for i, e := range p.sequence(child(at, "match-expressions"), f["match-expressions"]) {
		eat := index(child(at, "match-expressions"), i)
		ef, _ := p.mapping(eat, e, "key", "operator", "values")
		key, _, _ := p.str(child(eat, "key"), ef["key"])
		op, _, _ := p.str(child(eat, "operator"), ef["operator"])
		r := metav1.LabelSelectorRequirement{Key: key, Operator: metav1.LabelSelectorOperator(op)}
		for j, v := range p.sequence(child(eat, "values"), ef["values"]) {
			s, _, _ := p.str(index(child(eat, "values"), j), v)
			r.Values = append(r.Values, s)
		}
		sel.MatchExpressions = append(sel.MatchExpressions, r)
	}
	if len(p.errs) > errs {
		return nil, false
	}
	s, err := metav1.LabelSelectorAsSelector(&sel)
	if err != nil {
		p.error(at, p.resolve(n), "", "invalid selector: "+strings.ReplaceAll(err.Error(), "\n", " "))
		return nil, false
	}
	return s, true
}

// peerKey identifies a peer for the duplicate check: MetalLB rejected a peer
// equal in every field to an earlier one.
func peerKey(p Peer) string {
	sels := make([]string, len(p.NodeSelectors))
	for i, s := range p.NodeSelectors {
		sels[i] = strconv.Quote(s.String())
	}
	if len(sels) == 0 {
		sels = []string{`""`} // no selector selects every node, like an empty one
	}
	return strings.Join([]string{
		p.Address.String(), strconv.FormatUint(uint64(p.ASN), 10), strconv.FormatUint(uint64(p.MyASN), 10),
		strconv.Itoa(int(p.Port)), p.HoldTime.String(), p.KeepaliveTime.String(), p.RouterID.String(),
		p.SourceAddress.String(), strconv.Quote(p.Password), strconv.FormatBool(p.EBGPMultiHop),
		strconv.Quote(p.BFDProfile), strings.Join(sels, ","),
	}, "|")
}
