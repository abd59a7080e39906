package main

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/barelb/barelb/internal/allocator"
	"github.com/barelb/barelb/internal/config"
	"github.com/barelb/barelb/internal/contract"
	"github.com/barelb/barelb/internal/lastapplied"
	"github.com/barelb/barelb/internal/lbclass"
	"github.com/barelb/barelb/internal/svcrequest"
)

// Reasons barelbctl itself gives a problem it finds.
const (
	reasonPending = "Pending" // no address and no Event saying why
)

// configState is the state of the configuration ConfigMap.
type configState string

// The configuration states.
const (
	configValid   configState = "valid"
	configInvalid configState = "invalid" // not applied: the controllers keep the last good one
	configMissing configState = "missing" // no ConfigMap or no key: the controllers keep the last good one
)

// clusterState is what status reads from the API server.
type clusterState struct {
	ConfigMapNamespace, ConfigMapName, ConfigKey string
	// ConfigMap is nil when it does not exist.
	ConfigMap *corev1.ConfigMap
	// Record is the record of the last applied configuration
	// (barelb-system/barelb-last-applied-config), nil when it does not exist
	// or may not be read.
	Record   *corev1.ConfigMap
	Services []corev1.Service
	// Events are the Events on Services and on the ConfigMap.
	Events []corev1.Event
}

// report is the output of status; its JSON form is `-o json`.
type report struct {
	Config   configReport    `json:"config"`
	Pools    []poolReport    `json:"pools"`
	Services []serviceReport `json:"services"`
}

// configReport describes the configuration ConfigMap.
type configReport struct {
	ConfigMap string      `json:"configMap"` // namespace/name
	Key       string      `json:"key"`
	State     configState `json:"state"`
	// Stale is true when the ConfigMap's content is not what the controllers use:
	// they keep the last good configuration (barelb_config_stale is 1).
	Stale    bool     `json:"stale"`
	Errors   []string `json:"errors"`
	Warnings []string `json:"warnings"`
	// LastEvent is the newest Event the CCM recorded on the ConfigMap.
	LastEvent *eventReport `json:"lastEvent,omitempty"`
	// Effective is the configuration the controllers run on, and the source
	// of the pools below: the ConfigMap's, the last applied record's (while
	// the ConfigMap is not valid), or none.
	Effective effectiveSource `json:"effective"`
	// LastApplied describes the record of the last applied configuration,
	// when there is one.
	LastApplied *lastAppliedReport `json:"lastApplied,omitempty"`
}

// effectiveSource is where the configuration in force comes from.
type effectiveSource string

// The effective sources.
const (
	effectiveConfigMap   effectiveSource = "configMap"
	effectiveLastApplied effectiveSource = "lastApplied"
	effectiveNone        effectiveSource = "none"
)

// lastAppliedReport describes the record of the last applied configuration.
type lastAppliedReport struct {
	Record string `json:"record"` // namespace/name
	// Source and ResourceVersion are the ConfigMap and its version the
	// configuration was read from; AppliedAt is when the CCM applied it.
	Source          string    `json:"source"`
	ResourceVersion string    `json:"resourceVersion"`
	AppliedAt       time.Time `json:"appliedAt"`
	// Error says why the record is not usable, empty when it is.
	Error string `json:"error,omitempty"`
}

// eventReport is one Event, reduced to what a reader needs.
type eventReport struct {
	Type    string    `json:"type"`
	Reason  string    `json:"reason"`
	Message string    `json:"message"`
	Time    time.Time `json:"time"`
}

// poolReport counts one pool's addresses of one family.
type poolReport struct {
	Name       string `json:"name"`
	Protocol   string `json:"protocol"`
	AutoAssign bool   `json:"autoAssign"`
	Family     string `json:"family"` // IPv4 or IPv6
	Size       uint64 `json:"size"`   // saturates at 18446744073709551615
	InUse      uint64 `json:"inUse"`
	Free       uint64 `json:"free"`
}

// serviceReport describes one LoadBalancer Service.
type serviceReport struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// LoadBalancerClass is set for a Service that another implementation serves.
	LoadBalancerClass string   `json:"loadBalancerClass,omitempty"`
	Addresses         []string `json:"addresses"`
	// Pool is the pool of the addresses, "" when unknown or in none.
	Pool         string        `json:"pool,omitempty"`
	Announcement *announcement `json:"announcement,omitempty"`
	Problems     []problem     `json:"problems"`
}

// announcement is which node announces a Service's addresses, and on which interfaces.
type announcement struct {
	Node      string             `json:"node"`
	Addresses []announcedAddress `json:"addresses"`
	// Source is where it was read: "condition" (barelb.io/Announced) or "event" (nodeAssigned).
	Source string    `json:"source"`
	Since  time.Time `json:"since"`
}

// announcedAddress is one address and the interfaces it is answered on.
type announcedAddress struct {
	Address    string   `json:"address"`
	Interfaces []string `json:"interfaces"`
}

// problem is why a Service is not fully served.
type problem struct {
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// buildReport computes the status from what was read. It is pure.
func buildReport(st clusterState) report {
	r := report{Config: configReport{
		ConfigMap: st.ConfigMapNamespace + "/" + st.ConfigMapName,
		Key:       st.ConfigKey,
		Errors:    []string{},
		Warnings:  []string{},
	}, Pools: []poolReport{}, Services: []serviceReport{}}
	svcEvents, cmEvents := splitEvents(st)
	if e := newest(cmEvents, nil); e != nil {
		r.Config.LastEvent = reportEvent(e)
	}
	cfg := readConfig(st, &r.Config)
	r.Config.Effective = effectiveConfigMap
	if rcfg := readRecord(st, &r.Config); cfg == nil {
		cfg, r.Config.Effective = rcfg, effectiveLastApplied
		if cfg == nil {
			r.Config.Effective = effectiveNone
		}
	}

	var alloc *allocator.Allocator
	claimProblems := map[string][]problem{}
	orphans := map[string][]netip.Addr{}
	if cfg != nil {
		alloc = allocator.New(cfg)
		var claims []allocator.Claim
		for i := range st.Services {
			if c, ok := svcrequest.Claim(&st.Services[i], lbclass.Selector{}); ok {
				claims = append(claims, c)
			}
		}
		for _, err := range alloc.Restore(claims) {
			var ce *allocator.ClaimError
			if errors.As(err, &ce) {
				claimProblems[ce.Service] = append(claimProblems[ce.Service], problem{Reason: string(contract.ReasonAddressConflict), Message: err.Error()})
			}
		}
		for _, o := range alloc.Orphans() {
			orphans[o.Service] = append(orphans[o.Service], o.Address)
		}
		r.Pools = poolReports(cfg, alloc.Stats())
	}

	for i := range st.Services {
		svc := &st.Services[i]
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
			continue
		}
		key := svc.Namespace + "/" + svc.Name
		sr := serviceFor(svc, cfg, svcEvents[key])
		sr.Problems = append(sr.Problems, claimProblems[key]...)
		for _, a := range orphans[key] {
			sr.Problems = append(sr.Problems, problem{Reason: string(contract.ReasonAddressOrphaned),
				Message: fmt.Sprintf("%s is in no configured pool: the Service keeps it until it is deleted, no other Service gets it, and it is not announced", a)})
		}
		r.Services = append(r.Services, sr)
	}
	slices.SortFunc(r.Services, func(a, b serviceReport) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return r
}

// readConfig fills in the configuration's state and returns it when valid.
func readConfig(st clusterState, cr *configReport) *config.Config {
	if st.ConfigMap == nil {
		cr.State, cr.Stale = configMissing, true
		cr.Errors = append(cr.Errors, fmt.Sprintf("ConfigMap %s not found", cr.ConfigMap))
		return nil
	}
	if _, ok := st.ConfigMap.Data[st.ConfigKey]; !ok {
		cr.State, cr.Stale = configMissing, true
		cr.Errors = append(cr.Errors, fmt.Sprintf("ConfigMap %s has no key %q", cr.ConfigMap, st.ConfigKey))
		return nil
	}
	cfg, warns, err := config.ParseConfigMapData(st.ConfigMap.Data, st.ConfigKey)
	for _, w := range warns {
		cr.Warnings = append(cr.Warnings, w.String())
	}
	if err != nil {
		cr.State, cr.Stale = configInvalid, true
		var list config.ErrorList
		if errors.As(err, &list) {
			for _, e := range list {
				cr.Errors = append(cr.Errors, e.Error())
			}
		} else {
			cr.Errors = append(cr.Errors, err.Error())
		}
		return nil
	}
	cr.State = configValid
	return cfg
}

// readRecord fills in the record of the last applied configuration and
// returns its configuration when it is usable.
func readRecord(st clusterState, cr *configReport) *config.Config {
	if st.Record == nil {
		return nil
	}
	la := &lastAppliedReport{Record: lastapplied.Namespace + "/" + lastapplied.Name}
	cr.LastApplied = la
	rec, cfg, err := lastapplied.Load(st.Record, st.ConfigMapNamespace, st.ConfigMapName, st.ConfigKey)
	if rec.Source.Name != "" {
		la.Source = rec.Source.Namespace + "/" + rec.Source.Name
		la.ResourceVersion, la.AppliedAt = rec.Source.ResourceVersion, rec.AppliedAt
	}
	if err != nil {
		la.Error = config.Summary(err, 1024)
		return nil
	}
	return cfg
}

// poolReports joins the allocator's counts with the pools' settings.
func poolReports(cfg *config.Config, stats []allocator.PoolStats) []poolReport {
	out := []poolReport{}
	for _, s := range stats {
		pr := poolReport{Name: s.Pool, Family: fmt.Sprintf("IPv%d", s.Family), Size: s.Size, InUse: s.InUse, Free: s.Free}
		for _, p := range cfg.Pools {
			if p.Name == s.Pool {
				pr.Protocol, pr.AutoAssign = string(p.Protocol), p.AutoAssign
			}
		}
		out = append(out, pr)
	}
	return out
}

// serviceFor describes one LoadBalancer Service from its status, its
// barelb.io/Announced condition and its Events (newest first is not assumed).
// cfg is nil when the configuration is not valid.
func serviceFor(svc *corev1.Service, cfg *config.Config, events []*corev1.Event) serviceReport {
	sr := serviceReport{Namespace: svc.Namespace, Name: svc.Name, Addresses: []string{}, Problems: []problem{}}
	if svc.Spec.LoadBalancerClass != nil {
		sr.LoadBalancerClass = *svc.Spec.LoadBalancerClass
	}
	addrs := svcrequest.IngressAddresses(svc)
	for _, a := range addrs {
		sr.Addresses = append(sr.Addresses, a.String())
	}
	if sr.LoadBalancerClass != "" {
		return sr // another implementation's: nothing of barelb's applies
	}

	// Allocation: the newest of IPAllocated / AllocationFailed / AddressConflict.
	alloc := newest(events, []contract.EventReason{contract.ReasonIPAllocated, contract.ReasonAllocationFailed, contract.ReasonAddressConflict})
	if alloc != nil && contract.EventReason(alloc.Reason) != contract.ReasonIPAllocated {
		sr.Problems = append(sr.Problems, problem{Reason: alloc.Reason, Message: alloc.Message})
	} else if len(addrs) == 0 && alloc == nil {
		sr.Problems = append(sr.Problems, problem{Reason: reasonPending,
			Message: "no address and no Event saying why: is barelb-ccm running, and its leader elected?"})
	}

	// Pool and protocol: from the configuration when it is valid, else from the Events.
	var bgp []string
	if cfg != nil {
		var pools []string
		for _, a := range addrs {
			if p, ok := cfg.PoolFor(a); ok {
				if !slices.Contains(pools, p.Name) {
					pools = append(pools, p.Name)
				}
				if p.Protocol == config.BGP {
					bgp = append(bgp, contract.BGPNotSupportedMessage(a, p.Name))
				}
			}
		}
		sr.Pool = strings.Join(pools, ",")
	} else {
		for _, reason := range []contract.EventReason{contract.ReasonBGPNotSupported, contract.ReasonAddressOrphaned} {
			if e := newest(events, []contract.EventReason{reason}); e != nil && len(addrs) > 0 {
				sr.Problems = append(sr.Problems, problem{Reason: e.Reason, Message: e.Message})
			}
		}
	}
	for _, m := range bgp {
		sr.Problems = append(sr.Problems, problem{Reason: string(contract.ReasonBGPNotSupported), Message: m})
	}

	if len(addrs) == 0 || len(bgp) > 0 {
		return sr
	}
	ann, prob := announcementOf(svc, events)
	if ann != nil && !announces(ann, addrs) {
		ann = nil // about addresses the Service no longer holds
	}
	sr.Announcement = ann
	if prob != nil {
		sr.Problems = append(sr.Problems, *prob)
	}
	return sr
}

// announcementOf reads which node announces the Service: from its
// barelb.io/Announced condition when it has one, else from the newest of its
// nodeAssigned / NotAnnounced / NoInterface Events.
func announcementOf(svc *corev1.Service, events []*corev1.Event) (*announcement, *problem) {
	for _, c := range svc.Status.Conditions {
		if c.Type != contract.ConditionAnnounced {
			continue
		}
		switch c.Status {
		case metav1.ConditionTrue:
			a := parseAnnouncement(c.Message)
			if a == nil && contract.ConditionReason(c.Reason) != contract.ConditionReasonAnnounced {
				return nil, &problem{Reason: c.Reason, Message: c.Message}
			}
			if a == nil {
				return nil, &problem{Reason: c.Reason, Message: "unreadable condition message: " + c.Message}
			}
			a.Source, a.Since = "condition", c.LastTransitionTime.Time
			return a, nil
		case metav1.ConditionFalse:
			return nil, &problem{Reason: c.Reason, Message: c.Message}
		}
	}
	e := newest(events, []contract.EventReason{contract.ReasonNodeAssigned, contract.ReasonNotAnnounced, contract.ReasonNoInterface})
	if e == nil {
		return nil, nil
	}
	if contract.EventReason(e.Reason) != contract.ReasonNodeAssigned {
		return nil, &problem{Reason: e.Reason, Message: e.Message}
	}
	a := parseAnnouncement(e.Message)
	if a == nil {
		return nil, &problem{Reason: e.Reason, Message: "unreadable event message: " + e.Message}
	}
	a.Source, a.Since = "event", eventTime(e)
	if a.Node == "" {
		a.Node = e.Source.Host
	}
	return a, nil
}

// announces reports whether a names one of addrs.
func announces(a *announcement, addrs []netip.Addr) bool {
	for _, aa := range a.Addresses {
		for _, x := range addrs {
			if aa.Address == x.String() {
				return true
			}
		}
	}
	return false
}

// parseAnnouncement reads the node helpers' announcement (see
// contract.ParseAnnouncement) into its presentation. It returns nil for any
// other text.
func parseAnnouncement(msg string) *announcement {
	ca, err := contract.ParseAnnouncement(msg)
	if err != nil {
		return nil
	}
	a := &announcement{Node: ca.Node, Addresses: []announcedAddress{}}
	for _, aa := range ca.Addresses {
		a.Addresses = append(a.Addresses, announcedAddress{Address: aa.Addr.String(), Interfaces: append([]string{}, aa.Interfaces...)})
	}
	return a
}

// splitEvents sorts barelb's Events into those of each Service
// ("namespace/name"; an Event whose UID names an earlier Service of the same
// name is dropped) and those of the ConfigMap. Events of other sources are
// dropped.
func splitEvents(st clusterState) (map[string][]*corev1.Event, []*corev1.Event) {
	uids := map[string]string{}
	for _, s := range st.Services {
		uids[s.Namespace+"/"+s.Name] = string(s.UID)
	}
	svc := map[string][]*corev1.Event{}
	var cm []*corev1.Event
	for i := range st.Events {
		e := &st.Events[i]
		if !fromBarelb(e) {
			continue
		}
		o := e.InvolvedObject
		switch o.Kind {
		case "Service":
			key := o.Namespace + "/" + o.Name
			if uid, ok := uids[key]; ok && (o.UID == "" || uid == "" || string(o.UID) == uid) {
				svc[key] = append(svc[key], e)
			}
		case "ConfigMap":
			if o.Namespace == st.ConfigMapNamespace && o.Name == st.ConfigMapName {
				cm = append(cm, e)
			}
		}
	}
	return svc, cm
}

// fromBarelb reports whether the CCM or a node helper recorded e, through
// the core/v1 (source) or the events.k8s.io/v1 (reportingController) API.
func fromBarelb(e *corev1.Event) bool {
	for _, c := range []string{e.Source.Component, e.ReportingController} {
		if c == contract.ComponentCCM || c == contract.ComponentNodeHelper {
			return true
		}
	}
	return false
}

// newest returns the newest Event with one of reasons (any reason when
// reasons is nil), or nil.
func newest(events []*corev1.Event, reasons []contract.EventReason) *corev1.Event {
	var best *corev1.Event
	for _, e := range events {
		if reasons != nil && !slices.Contains(reasons, contract.EventReason(e.Reason)) {
			continue
		}
		if best == nil || newer(e, best) {
			best = e
		}
	}
	return best
}

// newer reports whether a was last observed after b. Timestamps of
// core/v1 Events have one-second precision, so ties go to the later-created
// Event, then to the higher resourceVersion (opaque by contract, in practice
// etcd's revision: good enough to order two Events of one second).
func newer(a, b *corev1.Event) bool {
	if c := eventTime(a).Compare(eventTime(b)); c != 0 {
		return c > 0
	}
	if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
		return c > 0
	}
	ra, errA := strconv.ParseUint(a.ResourceVersion, 10, 64)
	rb, errB := strconv.ParseUint(b.ResourceVersion, 10, 64)
	return errA == nil && errB == nil && ra > rb
}

// eventTime is when an Event was last observed, whichever API wrote it: the
// series' last observation, else the later of eventTime (events.k8s.io/v1)
// and lastTimestamp (core/v1), else firstTimestamp, else its creation.
func eventTime(e *corev1.Event) time.Time {
	if e.Series != nil && !e.Series.LastObservedTime.IsZero() {
		return e.Series.LastObservedTime.Time
	}
	t := e.LastTimestamp.Time
	if e.EventTime.After(t) {
		t = e.EventTime.Time
	}
	for _, c := range []time.Time{e.FirstTimestamp.Time, e.CreationTimestamp.Time} {
		if t.IsZero() {
			t = c
		}
	}
	return t
}

func reportEvent(e *corev1.Event) *eventReport {
	return &eventReport{Type: e.Type, Reason: e.Reason, Message: e.Message, Time: eventTime(e)}
}

// hasProblems reports whether the report shows anything a user must act on.
func (r report) hasProblems() bool {
	if r.Config.State != configValid {
		return true
	}
	for _, s := range r.Services {
		if len(s.Problems) > 0 {
			return true
		}
	}
	return false
}
