package contract

// EventReason is the reason of an Event barelb records. barelbctl, tests
// and alerts match on it, so a value never changes once released.
type EventReason string

// The Events the CCM records, on Services and on the configuration ConfigMap.
const (
	// ReasonIPAllocated (Normal, on a Service): the Service got addresses. It is a Warning
	// when the pool is a BGP pool, whose addresses barelb does not announce.
	ReasonIPAllocated EventReason = "IPAllocated"
	// ReasonAllocationFailed (Warning, on a Service): the Service gets no address, with the allocator's message.
	ReasonAllocationFailed EventReason = "AllocationFailed"
	// ReasonAddressOrphaned (Warning, on a Service): the Service holds an address that is in no
	// configured pool any more. It keeps it until it is deleted; the node helpers do not announce it.
	ReasonAddressOrphaned EventReason = "AddressOrphaned"
	// ReasonAddressConflict (Warning, on a Service) is recorded by both binaries.
	// The CCM's: at start-up, the address in the Service's status is held by an
	// older Service; this one will get another. The node helper's: a host whose
	// MAC is not a gossip member's claimed the Service's address on the LAN; the
	// message names the address, the MAC and what the node did.
	ReasonAddressConflict EventReason = "AddressConflict"
	// ReasonStatusRepaired (Warning, on a Service): its status showed an address the allocator does not
	// hold for it (another Service's, or a free one); barelb wrote the Service's own addresses back.
	ReasonStatusRepaired EventReason = "StatusRepaired"
	// ReasonInvalidConfig (Warning, on the ConfigMap): the configuration is not applied; the message lists every error.
	ReasonInvalidConfig EventReason = "InvalidConfig"
	// ReasonConfigWarning (Warning, on the ConfigMap): the configuration is applied, with a warning.
	ReasonConfigWarning EventReason = "ConfigWarning"
	// ReasonConfigLoaded (Normal, on the ConfigMap): the configuration is applied.
	ReasonConfigLoaded EventReason = "ConfigLoaded"
	// ReasonConfigMissing (Warning, on the ConfigMap): the ConfigMap or its key is gone; the last good configuration stays.
	ReasonConfigMissing EventReason = "ConfigMissing"
	// ReasonConfigFromLastApplied (Warning, on the ConfigMap): at start the ConfigMap was
	// invalid or missing, and the CCM runs on the last applied configuration, recorded in
	// barelb-system/barelb-last-applied-config; the message says when it was applied and
	// from which resourceVersion.
	ReasonConfigFromLastApplied EventReason = "ConfigFromLastApplied"
	// ReasonLastAppliedNotSaved (Warning, on the ConfigMap): the applied configuration
	// could not be written to the record (the CCM retries); a restart while the ConfigMap
	// is invalid would not find it.
	ReasonLastAppliedNotSaved EventReason = "LastAppliedNotSaved"
)

// The Events the node helpers record on Services (and ReasonAddressConflict above).
const (
	// ReasonNodeAssigned (Normal): this node announces the Service's
	// addresses; the message is an [Announcement] (see [FormatAnnouncement]),
	// or, when an address withdrawn after a conflict is announced again, says so.
	// MetalLB records the same reason, with other messages.
	ReasonNodeAssigned EventReason = "nodeAssigned"
	// ReasonNotAnnounced (Warning): no node can announce the address; the
	// message says why, per class of node.
	ReasonNotAnnounced EventReason = "NotAnnounced"
	// ReasonNoInterface (Warning): the owner found no interface to answer on.
	ReasonNoInterface EventReason = "NoInterface"
	// ReasonBGPNotSupported (Warning): the address is from a BGP pool and is
	// not announced; the message is [BGPNotSupportedMessage]'s.
	ReasonBGPNotSupported EventReason = "BGPNotSupported"
	// ReasonAddressNotInPool (Warning): the address is in no layer2 pool of
	// the configuration (or no valid configuration was read) and is not
	// announced.
	ReasonAddressNotInPool EventReason = "AddressNotInPool"
)

// The Event sources (core/v1 source.component, events.k8s.io/v1
// reportingController) of barelb's binaries. MetalLB records some of the same
// reasons, so readers ignore Events of other sources.
const (
	// ComponentCCM is the CCM's; it is also the user agent and the field
	// manager of its API clients.
	ComponentCCM = "barelb-ccm"
	// ComponentNodeHelper is the node helpers'; it is also their server-side
	// apply field manager, shared by all helpers so that the newest owner's
	// write replaces the previous one's.
	ComponentNodeHelper = "barelb-nodehelper"
)

// ConditionAnnounced is the Service status condition through which a user
// sees, in `kubectl get svc -o yaml`, which node announces the Service's
// addresses and on which interfaces, or why no node does. The node helpers
// write it; True with [ConditionReasonAnnounced] carries an [Announcement].
const ConditionAnnounced = "barelb.io/Announced"

// ConditionReason is the reason of [ConditionAnnounced].
type ConditionReason string

// Reasons of ConditionAnnounced.
const (
	// ConditionReasonAnnounced (True): the message is an [Announcement].
	ConditionReasonAnnounced ConditionReason = "Announced"
	// ConditionReasonNoEligibleNode (False): no node can announce the
	// address; the message says why, per class of node.
	ConditionReasonNoEligibleNode ConditionReason = "NoEligibleNode"
	// ConditionReasonNoInterface (False): the owner found no interface to answer on.
	ConditionReasonNoInterface ConditionReason = "NoInterface"
	// ConditionReasonAddressNotInPool (False): the Service's addresses are in
	// no layer2 pool of the configuration and are not announced.
	ConditionReasonAddressNotInPool ConditionReason = "AddressNotInPool"
	// ConditionReasonAddressConflict (True while the owner keeps the address,
	// False while it is withdrawn or blocked): an address conflict is the
	// latest news of the Service's address; the message says what happened.
	ConditionReasonAddressConflict ConditionReason = "AddressConflict"
)
