package allocator

import (
	"fmt"
	"net/netip"
)

// Reason says why the allocator refused a request. Its String form is a
// stable snake_case name, usable as a metric label.
type Reason int

const (
	// ReasonInvalidRequest: the request contradicts itself (unknown or
	// repeated family, two addresses of one family, an address of a family the
	// service does not use, addresses in two pools, an empty service name).
	ReasonInvalidRequest Reason = iota + 1
	// ReasonUnknownPool: the requested pool is not configured.
	ReasonUnknownPool
	// ReasonNotInPool: a requested address lies in no pool, or not in the
	// requested pool.
	ReasonNotInPool
	// ReasonBuggyAddress: a requested IPv4 address ends in .0 or .255 and its
	// pool has avoid-buggy-ips.
	ReasonBuggyAddress
	// ReasonAddressInUse: an address is held by a service it cannot be shared
	// with (different or empty sharing key, different traffic policy, or
	// different selectors for externalTrafficPolicy: Local).
	ReasonAddressInUse
	// ReasonPortConflict: an address could be shared, but a (protocol, port)
	// of the request is already used on it.
	ReasonPortConflict
	// ReasonFamilyUnavailable: no candidate pool has addresses of every
	// family the request needs.
	ReasonFamilyUnavailable
	// ReasonPoolExhausted: every candidate pool with the needed families is
	// full.
	ReasonPoolExhausted
	// ReasonNoAutoAssignPool: the request names no pool and no address, and
	// no pool has auto-assign enabled.
	ReasonNoAutoAssignPool
)

var reasonNames = map[Reason]string{
	ReasonInvalidRequest:    "invalid_request",
	ReasonUnknownPool:       "unknown_pool",
	ReasonNotInPool:         "not_in_pool",
	ReasonBuggyAddress:      "buggy_address",
	ReasonAddressInUse:      "address_in_use",
	ReasonPortConflict:      "port_conflict",
	ReasonFamilyUnavailable: "family_unavailable",
	ReasonPoolExhausted:     "pool_exhausted",
	ReasonNoAutoAssignPool:  "no_auto_assign_pool",
}

// String returns the snake_case name of r, or "unknown" for a value that is
// not one of the constants.
func (r Reason) String() string {
	if s, ok := reasonNames[r]; ok {
		return s
	}
	return "unknown"
}

// RefusalError is the error the allocator returns when it refuses a request.
// Message is a sentence a user can act on, naming the addresses, pools,
// ports and services involved.
type RefusalError struct {
	Reason  Reason
	Message string
}

func (e *RefusalError) Error() string { return e.Message }

func refuse(r Reason, format string, args ...any) *RefusalError {
	return &RefusalError{Reason: r, Message: fmt.Sprintf(format, args...)}
}

// ClaimError reports a claim, or one address of a claim, that Restore did not
// adopt; the service holds nothing for Address (which is invalid when the
// whole claim was refused).
type ClaimError struct {
	Service string
	Address netip.Addr
	Err     *RefusalError
}

func (e *ClaimError) Error() string {
	if e.Address.IsValid() {
		return fmt.Sprintf("failed to restore %s for %s: %s", e.Address, e.Service, e.Err.Message)
	}
	return fmt.Sprintf("failed to restore %s: %s", e.Service, e.Err.Message)
}

// Unwrap returns the *RefusalError.
func (e *ClaimError) Unwrap() error { return e.Err }
