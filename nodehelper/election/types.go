package election

import (
	"fmt"
	"net/netip"

	"github.com/barelb/barelb/nodehelper/ifaces"
)

// GroupKey identifies a group: the lowest of its addresses in netip.Addr order
// (so the IPv4 address of a dual-stack pair). Its 16-byte form is what the
// ownership hash reads.
type GroupKey netip.Addr

// Addr returns the address the key is made of.
func (k GroupKey) Addr() netip.Addr { return netip.Addr(k) }

// String returns the key's address in its usual text form.
func (k GroupKey) String() string { return netip.Addr(k).String() }

// Group is the unit of election: every Service that shares an address with
// another, transitively, together with all their addresses. A dual-stack
// Service therefore puts its IPv4 and IPv6 addresses in one group, and one
// node announces both.
type Group struct {
	// Key identifies the group; it is Addresses[0].
	Key GroupKey
	// Addresses are the group's addresses, sorted and unique.
	Addresses []netip.Addr
	// Services are the keys of the group's Services, sorted.
	Services []string
}

// NodeInfo is what the election needs to know about a Kubernetes Node. The
// zero value of every flag means "usable", so a test or a caller only sets
// what disqualifies.
type NodeInfo struct {
	// Name is the Node's name, which is also its gossip member name.
	Name string
	// ExcludedByLabel is set when the Node carries the label
	// node.kubernetes.io/exclude-from-external-load-balancers (with any value
	// but one that reads as false, as for the service controller), the
	// Kubernetes convention for keeping a node out of load balancers.
	ExcludedByLabel bool
	// NetworkUnavailable is set when the NetworkUnavailable condition is True.
	NetworkUnavailable bool
	// NotReady is set when the Ready condition is False. Unknown does not
	// count: it only means the kubelet stopped reporting, and gossip
	// membership is the faster and more direct liveness signal.
	NotReady bool
}

// ServiceInfo is what the election needs to know about a LoadBalancer
// Service and its EndpointSlices.
type ServiceInfo struct {
	// Key identifies the Service, conventionally "namespace/name".
	Key string
	// Addresses are the Service's ingress addresses this node helper
	// announces. A Service without addresses takes no part.
	Addresses []netip.Addr
	// TrafficPolicyLocal is set for externalTrafficPolicy: Local.
	TrafficPolicyLocal bool
	// LocalEndpointNodes are the nodes (EndpointSlice nodeName) that hold a
	// ready, serving endpoint of the Service. Consulted for Local policy.
	LocalEndpointNodes []string
	// HasReadyEndpoints is set when the Service has a ready, serving endpoint
	// anywhere. Consulted for Cluster policy.
	HasReadyEndpoints bool
}

// View is everything one election round reads. Nodes that compute from the
// same view (in any order) compute the same owners.
type View struct {
	// Nodes are the cluster's Nodes.
	Nodes []NodeInfo
	// Services are the Services whose addresses are to be announced.
	Services []ServiceInfo
	// Members are the names of the live gossip members, the local node
	// included once it has joined.
	Members []string
	// Reach is what each member can announce on, as it publishes it through
	// the gossip (see ifaces.Reach). A node without an entry is taken to
	// reach every address, as a peer that publishes nothing (an older
	// version) always was.
	Reach map[string]ifaces.Reach
}

// Exclusion is why a node cannot announce a group.
type Exclusion int

// The reasons, in the order they are checked: a node is reported under the
// first that applies.
const (
	// ExcludedByLabel: the Node is labelled
	// node.kubernetes.io/exclude-from-external-load-balancers.
	ExcludedByLabel Exclusion = iota + 1
	// NetworkUnavailable: the Node's NetworkUnavailable condition is True.
	NetworkUnavailable
	// NotReady: the Node's Ready condition is False.
	NotReady
	// NotMember: the node is not a live gossip member.
	NotMember
	// NoEndpoints: a Service of the group has externalTrafficPolicy: Cluster
	// and no ready endpoint anywhere, so no node can serve it.
	NoEndpoints
	// NoLocalEndpoint: a Service of the group has externalTrafficPolicy:
	// Local and no ready, serving endpoint on this node.
	NoLocalEndpoint
	// NoInterface: the node has no usable interface for an address of the
	// group while another candidate has a better one (see reachTier): its
	// link carrying the address's subnet is down, say, while a peer's is up.
	NoInterface
)

// String returns the reason as words fit for an Event message.
func (e Exclusion) String() string {
	switch e {
	case ExcludedByLabel:
		return "excluded by label"
	case NetworkUnavailable:
		return "network unavailable"
	case NotReady:
		return "not ready"
	case NotMember:
		return "not a gossip member"
	case NoEndpoints:
		return "no ready endpoints"
	case NoLocalEndpoint:
		return "no ready local endpoint"
	case NoInterface:
		return "no interface for the address"
	default:
		return fmt.Sprintf("Exclusion(%d)", int(e))
	}
}

// nodeExclusion is the node-level part of eligibility, shared by Candidates
// and Table so the two cannot disagree.
func nodeExclusion(n NodeInfo, member bool) Exclusion {
	switch {
	case n.ExcludedByLabel:
		return ExcludedByLabel
	case n.NetworkUnavailable:
		return NetworkUnavailable
	case n.NotReady:
		return NotReady
	case !member:
		return NotMember
	}
	return 0
}
