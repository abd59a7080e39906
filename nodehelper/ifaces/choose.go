package ifaces

import (
	"fmt"
	"net"
	"net/netip"
	"path"
	"slices"
)

// Flags are the interface flags that matter for answering ARP/NDP.
type Flags uint8

const (
	// FlagUp is set when the link is administratively up (IFF_UP).
	FlagUp Flags = 1 << iota
	// FlagRunning is set when the link is operationally up (IFF_RUNNING: carrier present).
	FlagRunning
	// FlagLoopback is set on the loopback device (IFF_LOOPBACK).
	FlagLoopback
	// FlagNoARP is set on links that do no neighbour discovery at all, IPv4 or IPv6 (IFF_NOARP).
	FlagNoARP
)

// Link is an interface as far as the choice is concerned.
type Link struct {
	// Name is the interface name.
	Name string
	// Index is the interface index.
	Index int
	// Flags are its flags.
	Flags Flags
	// Kind is the netlink link type: "device" (physical), "bridge", "bond", "veth", "dummy", "vlan", "vrf", ...
	Kind string
	// MasterIndex is the index of the link it is enslaved to (a bridge, bond, VRF...), or 0.
	MasterIndex int
	// HardwareAddr is its MAC address.
	HardwareAddr net.HardwareAddr
	// Prefixes are its addresses with their prefix lengths, sorted.
	Prefixes []netip.Prefix
}

// Filter holds the operator's allow and deny lists of interface name globs (path.Match syntax).
type Filter struct {
	// Allow, when not empty, limits the choice to matching links and replaces the built-in name
	// rules (VirtualNames): an operator may allow "veth*" explicitly.
	Allow []string
	// Deny excludes matching links, in addition to the built-in name rules; it wins over Allow.
	Deny []string
}

// VirtualNames returns the name globs of links that belong to container networking, tunnels or
// service proxies, never to the node's LAN, and so are skipped unless Filter.Allow is set.
func VirtualNames() []string { return slices.Clone(virtualNames) }

var virtualNames = []string{
	"cni*", "cali*", "flannel*", "kube-ipvs0", "kube-bridge", "kube-dummy-if", "nodelocaldns",
	"docker*", "veth*", "lxc*", "tunl*", "cilium*", "vxlan*", "weave*", "antrea-*", "ovn-k8s-*", "genev_sys_*",
}

// Exclusion says why a link may not be answered on.
type Exclusion int

const (
	// Eligible means the link may be answered on.
	Eligible Exclusion = iota
	// ExcludedDown means the link is administratively or operationally down.
	ExcludedDown
	// ExcludedLoopback means the link is the loopback device.
	ExcludedLoopback
	// ExcludedNoARP means the link does no neighbour discovery (IFF_NOARP).
	ExcludedNoARP
	// ExcludedSlave means the link is a port of a bridge, bond or similar: the master answers.
	ExcludedSlave
	// ExcludedVirtual means the name matches VirtualNames.
	ExcludedVirtual
	// ExcludedDenied means the name matches Filter.Deny.
	ExcludedDenied
	// ExcludedNotAllowed means Filter.Allow is set and the name matches none of it.
	ExcludedNotAllowed
)

var exclusionNames = [...]string{"Eligible", "Down", "Loopback", "NoARP", "Slave", "Virtual", "Denied", "NotAllowed"}

func (e Exclusion) String() string {
	if e < 0 || int(e) >= len(exclusionNames) {
		return "Unknown"
	}
	return exclusionNames[e]
}

// Exclude says whether l may be answered on. links is the whole link list, used to look up l's
// master: a link enslaved to a VRF is an ordinary layer-3 interface and stays eligible; a link
// enslaved to anything else (bridge, bond, team, Open vSwitch), or to a master not in links, is not.
func Exclude(l Link, links []Link, f Filter) Exclusion {
	switch {
	case l.Flags&FlagLoopback != 0:
		return ExcludedLoopback
	case l.Flags&(FlagUp|FlagRunning) != FlagUp|FlagRunning:
		return ExcludedDown
	case l.Flags&FlagNoARP != 0:
		return ExcludedNoARP
	case l.MasterIndex != 0 && !enslavedToVRF(l, links):
		return ExcludedSlave
	case matchAny(f.Deny, l.Name):
		return ExcludedDenied
	case len(f.Allow) > 0 && !matchAny(f.Allow, l.Name):
		return ExcludedNotAllowed
	case len(f.Allow) == 0 && matchAny(virtualNames, l.Name):
		return ExcludedVirtual
	}
	return Eligible
}

func enslavedToVRF(l Link, links []Link) bool {
	i := slices.IndexFunc(links, func(m Link) bool { return m.Index == l.MasterIndex })
	return i >= 0 && links[i].Kind == "vrf"
}

// matchAny reports whether name matches one of the globs; malformed globs match nothing (Filter
// validation is the flag parser's job: see ValidateGlobs).
func matchAny(globs []string, name string) bool {
	for _, g := range globs {
		if ok, err := path.Match(g, name); err == nil && ok {
			return true
		}
	}
	return false
}

// ValidateGlobs returns the first malformed glob's error, for flag parsing.
func ValidateGlobs(globs []string) error {
	for _, g := range globs {
		if _, err := path.Match(g, ""); err != nil {
			return &GlobError{Glob: g, Err: err}
		}
	}
	return nil
}

// GlobError is a malformed interface glob.
type GlobError struct {
	// Glob is the malformed glob.
	Glob string
	// Err is path.Match's error.
	Err error
}

func (e *GlobError) Error() string {
	return fmt.Sprintf("invalid interface glob %q: %v", e.Glob, e.Err)
}

// Unwrap returns the path.Match error.
func (e *GlobError) Unwrap() error { return e.Err }

// Reason says how Choose chose, or why it found nothing.
type Reason int

const (
	// ReasonConnected means the chosen links have a connected prefix containing the address.
	ReasonConnected Reason = iota + 1
	// ReasonNodeLink means no eligible link is connected to the address, and the chosen link is the
	// one holding the node's address.
	ReasonNodeLink
	// ReasonNoNodeLink means no eligible link is connected to the address and no link holds the
	// node's address (or none was given).
	ReasonNoNodeLink
	// ReasonNodeLinkExcluded means no eligible link is connected to the address and the link
	// holding the node's address is excluded (Exclude says why).
	ReasonNodeLinkExcluded
	// ReasonInvalidAddress means the service address is not a valid unicast address.
	ReasonInvalidAddress
)

var reasonNames = [...]string{"", "Connected", "NodeLink", "NoNodeLink", "NodeLinkExcluded", "InvalidAddress"}

func (r Reason) String() string {
	if r <= 0 || int(r) >= len(reasonNames) {
		return "Unknown"
	}
	return reasonNames[r]
}

// OK reports whether links were chosen.
func (r Reason) OK() bool { return r == ReasonConnected || r == ReasonNodeLink }

// Choose returns the names of the links to answer ARP/NDP for vip on, in index order, and how it
// chose. By default these are the eligible links (see Exclude) with a connected prefix containing
// vip; a host prefix (/32, /128) is an address, not a connected network, and does not count. If
// there is none, it is the (first eligible) link holding nodeAddr: a service address outside every
// local subnet is still answered on the node's own LAN. Choose is pure and cheap: O(links·prefixes).
func Choose(links []Link, vip netip.Addr, nodeAddr netip.Addr, f Filter) ([]string, Reason) {
	return NewChooser(links, nodeAddr, f).Choose(vip)
}

// Chooser answers Choose for many addresses against one snapshot of links:
// it classifies the links once, so each address costs only a look at the
// eligible links' connected prefixes. A node with thousands of service
// addresses on lo or kube-ipvs0 then pays for them once per snapshot, not
// once per address. A Chooser is immutable and safe for concurrent use.
type Chooser struct {
	connected []connectedLink // eligible links with their connected (non-host) prefixes, in index order
	nodeLink  string          // the eligible link holding the node address
	fallback  Reason          // what Choose says when no link is connected
}

type connectedLink struct {
	name     string
	prefixes []netip.Prefix
}

// NewChooser classifies links for Choose with nodeAddr and f.
func NewChooser(links []Link, nodeAddr netip.Addr, f Filter) *Chooser {
	c := &Chooser{fallback: ReasonNoNodeLink}
	sorted := slices.SortedFunc(slices.Values(links), func(a, b Link) int { return a.Index - b.Index })
	nodeAddr = nodeAddr.Unmap()
	for _, l := range sorted {
		eligible := Exclude(l, links, f) == Eligible
		holdsNode := false
		var connected []netip.Prefix
		for _, p := range l.Prefixes {
			if nodeAddr.IsValid() && p.Addr().Unmap() == nodeAddr {
				holdsNode = true
			}
			if eligible && p.Bits() < p.Addr().BitLen() {
				connected = append(connected, p)
			}
		}
		if len(connected) > 0 {
			c.connected = append(c.connected, connectedLink{name: l.Name, prefixes: connected})
		}
		if holdsNode && c.nodeLink == "" {
			if eligible {
				c.nodeLink, c.fallback = l.Name, ReasonNodeLink
			} else {
				c.fallback = ReasonNodeLinkExcluded
			}
		}
	}
	return c
}

// Choose is Choose for vip against the Chooser's links.
func (c *Chooser) Choose(vip netip.Addr) ([]string, Reason) {
	vip = vip.Unmap()
	if !announceable(vip) {
		return nil, ReasonInvalidAddress
	}
	var names []string
	for _, l := range c.connected {
		if slices.ContainsFunc(l.prefixes, func(p netip.Prefix) bool { return p.Contains(vip) }) {
			names = append(names, l.name)
		}
	}
	if len(names) > 0 {
		return names, ReasonConnected
	}
	if c.nodeLink != "" {
		return []string{c.nodeLink}, ReasonNodeLink
	}
	return nil, c.fallback
}

// Reach is what a node can announce on, as far as the election of its peers
// is concerned: the connected prefixes of its eligible links, and whether it
// has an eligible link holding its own address (Choose's fallback for
// addresses outside every connected prefix). Each node publishes its Reach to
// the others through the gossip, so that every node computes the same owner
// for an address and none picks a node that cannot announce it.
type Reach struct {
	// Prefixes are the connected prefixes, masked, sorted and unique.
	Prefixes []netip.Prefix
	// NodeLink is set when an eligible link holds the node's address.
	NodeLink bool
}

// Reach summarises the Chooser's links: Reach().Choose(a) says for every
// address what c.Choose(a) says, without the link names.
func (c *Chooser) Reach() Reach {
	var r Reach
	for _, l := range c.connected {
		for _, p := range l.prefixes {
			if announceable(p.Addr().Unmap()) { // no service address is link-local
				r.Prefixes = append(r.Prefixes, p.Masked())
			}
		}
	}
	slices.SortFunc(r.Prefixes, comparePrefix)
	r.Prefixes = slices.Compact(r.Prefixes)
	r.NodeLink = c.nodeLink != ""
	return r
}

// Choose says how a node with this reach would announce vip: ReasonConnected
// when a prefix contains it, ReasonNodeLink when none does but the node link
// is eligible, ReasonNoNodeLink (not OK) otherwise, and ReasonInvalidAddress
// for an address nobody announces.
func (r Reach) Choose(vip netip.Addr) Reason {
	vip = vip.Unmap()
	if !announceable(vip) {
		return ReasonInvalidAddress
	}
	for _, p := range r.Prefixes {
		if p.Contains(vip) {
			return ReasonConnected
		}
	}
	if r.NodeLink {
		return ReasonNodeLink
	}
	return ReasonNoNodeLink
}

// Equal reports whether r and o are the same reach.
func (r Reach) Equal(o Reach) bool {
	return r.NodeLink == o.NodeLink && slices.Equal(r.Prefixes, o.Prefixes)
}

// announceable reports whether vip (unmapped) is an address ARP or NDP may
// be answered for.
func announceable(vip netip.Addr) bool {
	return vip.IsValid() && !vip.IsUnspecified() && !vip.IsMulticast() && !vip.IsLoopback() && !vip.IsLinkLocalUnicast()
}
