package allocator

import (
	"net/netip"
	"time"
)

// Family is an IP address family.
type Family int

// The families, valued after their IP version.
const (
	// IPv4 is the family of 32-bit addresses.
	IPv4 Family = 4
	// IPv6 is the family of 128-bit addresses.
	IPv6 Family = 6
)

// FamilyPolicy mirrors a Service's spec.ipFamilyPolicy.
type FamilyPolicy int

// The policies, as Kubernetes defines them.
const (
	// SingleStack: one address, of the first listed family.
	SingleStack FamilyPolicy = iota
	// PreferDualStack: an address of each listed family the pool has.
	PreferDualStack
	// RequireDualStack: an IPv4 and an IPv6 address from one pool, or none.
	RequireDualStack
)

// Port is one (protocol, port) a Service exposes, for the sharing check.
type Port struct {
	Protocol string // "TCP", "UDP" or "SCTP"
	Port     int32
}

// Request is what a Service asks of the allocator. It carries no Kubernetes types.
type Request struct {
	// Service identifies the holder, "namespace/name".
	Service string
	// Families in the order of spec.ipFamilies; empty means [IPv4].
	Families     []Family
	FamilyPolicy FamilyPolicy
	// Pool is the requested pool name; empty means any pool with auto-assign.
	Pool string
	// Addresses are requested specific addresses, at most one per family.
	Addresses []netip.Addr
	// SharingKey is the allow-shared-ip annotation; empty never shares.
	SharingKey string
	Ports      []Port
	// TrafficPolicyLocal is externalTrafficPolicy: Local.
	TrafficPolicyLocal bool
	// Selector is the Service's pod selector in canonical form; compared for Local sharing.
	Selector string
}

// Assignment is what a Service holds.
type Assignment struct {
	Pool string
	// Addresses in the order of the request's Families (one per family held).
	Addresses []netip.Addr
}

// Claim is an existing assignment found at start-up (a Service's status), to adopt.
type Claim struct {
	Request   Request
	Addresses []netip.Addr
	// Created orders conflicting claims: the older keeps the address.
	Created time.Time
}

// Orphan is an address held by a Service that lies in no configured pool.
type Orphan struct {
	Service string
	Address netip.Addr
}

// PoolStats are the counts of one pool and family.
type PoolStats struct {
	Pool   string
	Family Family
	Size   uint64 // saturates at math.MaxUint64 for huge IPv6 pools
	InUse  uint64
	Free   uint64
}
