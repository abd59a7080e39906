package config

import (
	"net/netip"
	"time"

	"k8s.io/apimachinery/pkg/labels"
)

// Protocol is how the addresses of a pool are announced.
type Protocol string

const (
	// Layer2 pools are announced by the node helpers with ARP (IPv4) and NDP (IPv6).
	Layer2 Protocol = "layer2"
	// BGP pools hand out addresses, but barelb does not announce them.
	BGP Protocol = "bgp"
)

// Config is a parsed and validated barelb (MetalLB v0.12 legacy) configuration.
// A *Config returned by Parse is never mutated afterwards.
type Config struct {
	Peers          []Peer
	Pools          []Pool // in declaration order
	BGPCommunities map[string]Community
	BFDProfiles    []BFDProfile

	// index finds the pool of an address; built by Parse, nil otherwise.
	index *poolIndex
}

// Pool is one entry of address-pools.
type Pool struct {
	Name              string
	Protocol          Protocol
	Ranges            []Range // in declaration order
	AvoidBuggyIPs     bool
	AutoAssign        bool
	BGPAdvertisements []BGPAdvertisement
}

// Range is an inclusive range of addresses of a single family.
// A CIDR entry becomes the range from its network address to its last address.
type Range struct {
	First, Last netip.Addr
	// Prefix is the CIDR the range was written as; invalid for a start-end entry.
	Prefix netip.Prefix
}

// Contains reports whether a lies in r.
func (r Range) Contains(a netip.Addr) bool {
	return a.BitLen() == r.First.BitLen() && r.First.Compare(a) <= 0 && a.Compare(r.Last) <= 0
}

// String returns the range as it is written in the config: a CIDR or "first-last".
func (r Range) String() string {
	if r.Prefix.IsValid() {
		return r.Prefix.String()
	}
	return r.First.String() + "-" + r.Last.String()
}

// Peer is one entry of peers (BGP; validated but not used).
type Peer struct {
	Address       netip.Addr
	ASN           uint32
	MyASN         uint32
	Port          uint16        // default 179
	HoldTime      time.Duration // default 90s
	KeepaliveTime time.Duration
	RouterID      netip.Addr // invalid when unset
	SourceAddress netip.Addr // invalid when unset
	Password      string
	EBGPMultiHop  bool
	BFDProfile    string
	// NodeSelectors select the nodes that peer; empty means every node.
	NodeSelectors []labels.Selector
}

// BGPAdvertisement is one entry of a pool's bgp-advertisements.
type BGPAdvertisement struct {
	AggregationLength   int // default 32
	AggregationLengthV6 int // default 128
	LocalPref           uint32
	Communities         []Community
}

// Community is a BGP community in its two-part form asn:value.
type Community struct {
	ASN, Value uint16
}

// BFDProfile is one entry of bfd-profiles; unset optional values are nil.
type BFDProfile struct {
	Name             string
	ReceiveInterval  *uint32
	TransmitInterval *uint32
	DetectMultiplier *uint32
	EchoInterval     *uint32
	EchoMode         bool
	PassiveMode      bool
	MinimumTTL       *uint32
}
