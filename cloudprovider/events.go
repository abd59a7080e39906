package cloudprovider

// Reason is the reason of an Event barelb records. Tests and alerts match on it.
type Reason string

// The Events barelb records, on Services and on the config ConfigMap.
const (
	// ReasonIPAllocated (Normal, on a Service): the Service got addresses. It is a Warning
	// when the pool is a BGP pool, whose addresses barelb does not announce.
	ReasonIPAllocated Reason = "IPAllocated"
	// ReasonAllocationFailed (Warning, on a Service): the Service gets no address, with the allocator's message.
	ReasonAllocationFailed Reason = "AllocationFailed"
	// ReasonAddressOrphaned (Warning, on a Service): the Service holds an address that is in no
	// configured pool any more. It keeps it until it is deleted; the node helpers do not announce it.
	ReasonAddressOrphaned Reason = "AddressOrphaned"
	// ReasonAddressConflict (Warning, on a Service): at start-up, the address in the Service's status
	// is held by an older Service; this one will get another.
	ReasonAddressConflict Reason = "AddressConflict"
	// ReasonStatusRepaired (Warning, on a Service): its status showed an address the allocator does not
	// hold for it (another Service's, or a free one); barelb wrote the Service's own addresses back.
	ReasonStatusRepaired Reason = "StatusRepaired"
	// ReasonInvalidConfig (Warning, on the ConfigMap): the configuration is not applied; the message lists every error.
	ReasonInvalidConfig Reason = "InvalidConfig"
	// ReasonConfigWarning (Warning, on the ConfigMap): the configuration is applied, with a warning.
	ReasonConfigWarning Reason = "ConfigWarning"
	// ReasonConfigLoaded (Normal, on the ConfigMap): the configuration is applied.
	ReasonConfigLoaded Reason = "ConfigLoaded"
	// ReasonConfigMissing (Warning, on the ConfigMap): the ConfigMap or its key is gone; the last good configuration stays.
	ReasonConfigMissing Reason = "ConfigMissing"
)

// The Events about the record of the last applied configuration, on the config ConfigMap.
const (
	// ReasonConfigFromLastApplied (Warning, on the ConfigMap): at start the ConfigMap was
	// invalid or missing, and the CCM runs on the last applied configuration, recorded in
	// barelb-system/barelb-last-applied-config; the message says when it was applied and
	// from which resourceVersion.
	ReasonConfigFromLastApplied Reason = "ConfigFromLastApplied"
	// ReasonLastAppliedNotSaved (Warning, on the ConfigMap): the applied configuration
	// could not be written to the record (the CCM retries); a restart while the ConfigMap
	// is invalid would not find it.
	ReasonLastAppliedNotSaved Reason = "LastAppliedNotSaved"
)
