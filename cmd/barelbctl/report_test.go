package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/barelb/barelb/internal/contract"
	"github.com/barelb/barelb/internal/gossipkey"
	"github.com/barelb/barelb/internal/lastapplied"
)

func TestParseAnnouncement(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		want *announcement
	}{
		{name: "one address", msg: "announcing 198.51.100.3 on eth0 from node n2",
			want: &announcement{Node: "n2", Addresses: []announcedAddress{{Address: "198.51.100.3", Interfaces: []string{"eth0"}}}}},
		{name: "dual-stack, two interfaces", msg: "announcing 198.51.100.3 on eth0,eth1, 2001:db8::3 on eth0 from node n2",
			want: &announcement{Node: "n2", Addresses: []announcedAddress{
				{Address: "198.51.100.3", Interfaces: []string{"eth0", "eth1"}},
				{Address: "2001:db8::3", Interfaces: []string{"eth0"}},
			}}},
		{name: "node before interfaces", msg: "announcing 198.51.100.3 from node n2 on eth0,eth1",
			want: &announcement{Node: "n2", Addresses: []announcedAddress{{Address: "198.51.100.3", Interfaces: []string{"eth0", "eth1"}}}}},
		{name: "no interfaces named", msg: "announcing 198.51.100.3 from node n2",
			want: &announcement{Node: "n2", Addresses: []announcedAddress{{Address: "198.51.100.3", Interfaces: []string{}}}}},
		{name: "other text", msg: "no node can announce 198.51.100.3: no nodes"},
		{name: "no node", msg: "announcing 198.51.100.3 on eth0"},
		{name: "not an address", msg: "announcing web on eth0 from node n2"},
		{name: "empty node", msg: "announcing 198.51.100.3 on eth0 from node "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, parseAnnouncement(tt.msg)); diff != "" {
				t.Errorf("parseAnnouncement(%q) (-want +got):\n%s", tt.msg, diff)
			}
		})
	}
}

// base is the time the test objects are created at.
var base = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

const testConfig = `address-pools:
- name: l2
  protocol: layer2
  addresses: [198.51.100.0/30, 2001:db8::/126]
- name: b
  protocol: bgp
  auto-assign: false
  addresses: [203.0.113.8/31]
`

// svc is a class-less LoadBalancer Service created at base+age seconds holding addrs.
func svc(name string, createdAt int, addrs ...string) corev1.Service {
	s := corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + name),
			CreationTimestamp: metav1.NewTime(base.Add(time.Duration(createdAt) * time.Second))},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}}},
	}
	// spec.ipFamilies as the apiserver fills it: the families of the
	// addresses, in order (IPv4 when there are none).
	for _, a := range addrs {
		s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: a})
		fam := corev1.IPv4Protocol
		if strings.Contains(a, ":") {
			fam = corev1.IPv6Protocol
		}
		if !slices.Contains(s.Spec.IPFamilies, fam) {
			s.Spec.IPFamilies = append(s.Spec.IPFamilies, fam)
		}
	}
	if len(s.Spec.IPFamilies) == 2 {
		p := corev1.IPFamilyPolicyPreferDualStack
		s.Spec.IPFamilyPolicy = &p
	}
	return s
}

// event is an Event on the named Service (or the config ConfigMap for name "cm") at base+at seconds.
func event(name, typ string, reason contract.EventReason, at int, msg string) corev1.Event {
	obj := corev1.ObjectReference{Kind: "Service", Namespace: "default", Name: name, UID: types.UID("uid-" + name)}
	if name == "cm" {
		obj = corev1.ObjectReference{Kind: "ConfigMap", Namespace: "barelb-system", Name: "config"}
	}
	source := contract.ComponentNodeHelper
	switch reason {
	case contract.ReasonIPAllocated, contract.ReasonAllocationFailed, contract.ReasonAddressOrphaned, contract.ReasonAddressConflict:
		source = contract.ComponentCCM
	}
	if name == "cm" {
		source = contract.ComponentCCM
	}
	return corev1.Event{InvolvedObject: obj, Type: typ, Reason: string(reason), Message: msg, Source: corev1.EventSource{Component: source},
		LastTimestamp: metav1.NewTime(base.Add(time.Duration(at) * time.Second))}
}

func withCondition(s corev1.Service, status metav1.ConditionStatus, reason, msg string) corev1.Service {
	s.Status.Conditions = append(s.Status.Conditions, metav1.Condition{Type: contract.ConditionAnnounced, Status: status, Reason: reason, Message: msg,
		LastTransitionTime: metav1.NewTime(base)})
	return s
}

func state(cfg string, svcs []corev1.Service, events ...corev1.Event) clusterState {
	st := clusterState{ConfigMapNamespace: "barelb-system", ConfigMapName: "config", ConfigKey: "config", Services: svcs, Events: events}
	if cfg != "" {
		st.ConfigMap = &corev1.ConfigMap{Data: map[string]string{"config": cfg}}
	}
	return st
}

func TestBuildReportServices(t *testing.T) {
	const n2 = "announcing 198.51.100.1 on eth0 from node n2"
	class := "example.com/other"
	other := svc("other", 0, "192.0.2.1")
	other.Spec.LoadBalancerClass = &class
	clusterIP := svc("internal", 0)
	clusterIP.Spec.Type = corev1.ServiceTypeClusterIP

	tests := []struct {
		name   string
		svcs   []corev1.Service
		events []corev1.Event
		want   []serviceReport
	}{
		{
			name: "announced, read from the condition over older events",
			svcs: []corev1.Service{withCondition(svc("web", 0, "198.51.100.1"), metav1.ConditionTrue, "Announced", n2), clusterIP},
			events: []corev1.Event{
				event("web", "Normal", contract.ReasonIPAllocated, 1, "assigned 198.51.100.1 from pool l2"),
				event("web", "Warning", contract.ReasonNotAnnounced, 2, "no node can announce 198.51.100.1: no nodes"),
			},
			want: []serviceReport{{Namespace: "default", Name: "web", Addresses: []string{"198.51.100.1"}, Pool: "l2", Problems: []problem{},
				Announcement: &announcement{Node: "n2", Source: "condition", Since: base,
					Addresses: []announcedAddress{{Address: "198.51.100.1", Interfaces: []string{"eth0"}}}}}},
		},
		{
			// The owner's condition names the Service's addresses it leaves out;
			// barelbctl read it as unreadable before the contract package.
			name: "announced, with an address in no pool",
			svcs: []corev1.Service{withCondition(svc("web", 0, "198.51.100.1", "2001:db8:1::7"), metav1.ConditionTrue, "Announced",
				"announcing 198.51.100.1 on eth0 from node n2; 2001:db8:1::7 not announced: in no layer2 pool of the configuration")},
			want: []serviceReport{{Namespace: "default", Name: "web", Addresses: []string{"198.51.100.1", "2001:db8:1::7"}, Pool: "l2",
				Announcement: &announcement{Node: "n2", Source: "condition", Since: base,
					Addresses: []announcedAddress{{Address: "198.51.100.1", Interfaces: []string{"eth0"}}}},
				Problems: []problem{{Reason: string(contract.ReasonAddressOrphaned), Message: "2001:db8:1::7 is in no configured pool: the Service keeps it until it is deleted, no other Service gets it, and it is not announced"}}}},
		},
		{
			name: "condition true but the owner fights another MAC",
			svcs: []corev1.Service{withCondition(svc("web", 0, "198.51.100.1"), metav1.ConditionTrue, "AddressConflict",
				"198.51.100.1 is also claimed on eth0 by MAC 02:00:00:00:00:09, which is no gossip member's: node n2 has the lower MAC, keeps the address and announced it again")},
			want: []serviceReport{{Namespace: "default", Name: "web", Addresses: []string{"198.51.100.1"}, Pool: "l2",
				Problems: []problem{{Reason: "AddressConflict", Message: "198.51.100.1 is also claimed on eth0 by MAC 02:00:00:00:00:09, which is no gossip member's: node n2 has the lower MAC, keeps the address and announced it again"}}}},
		},
		{
			name: "condition false",
			svcs: []corev1.Service{withCondition(svc("web", 0, "198.51.100.1"), metav1.ConditionFalse, "NoEligibleNode", "no node can announce 198.51.100.1: excluded: n1")},
			want: []serviceReport{{Namespace: "default", Name: "web", Addresses: []string{"198.51.100.1"}, Pool: "l2",
				Problems: []problem{{Reason: "NoEligibleNode", Message: "no node can announce 198.51.100.1: excluded: n1"}}}},
		},
		{
			name: "newest nodeAssigned event wins after a failover",
			svcs: []corev1.Service{svc("web", 0, "198.51.100.1")},
			events: []corev1.Event{
				event("web", "Normal", contract.ReasonNodeAssigned, 5, "announcing 198.51.100.1 on eth1 from node n3"),
				event("web", "Warning", contract.ReasonNotAnnounced, 3, "no node can announce 198.51.100.1: no nodes"),
				event("web", "Normal", contract.ReasonNodeAssigned, 1, n2),
			},
			want: []serviceReport{{Namespace: "default", Name: "web", Addresses: []string{"198.51.100.1"}, Pool: "l2", Problems: []problem{},
				Announcement: &announcement{Node: "n3", Source: "event", Since: base.Add(5 * time.Second),
					Addresses: []announcedAddress{{Address: "198.51.100.1", Interfaces: []string{"eth1"}}}}}},
		},
		{
			name:   "an announcement of an address the Service no longer holds is ignored",
			svcs:   []corev1.Service{svc("web", 0, "198.51.100.2")},
			events: []corev1.Event{event("web", "Normal", contract.ReasonNodeAssigned, 1, n2)},
			want:   []serviceReport{{Namespace: "default", Name: "web", Addresses: []string{"198.51.100.2"}, Pool: "l2", Problems: []problem{}}},
		},
		{
			name: "not announced after having been",
			svcs: []corev1.Service{svc("web", 0, "198.51.100.1")},
			events: []corev1.Event{
				event("web", "Normal", contract.ReasonNodeAssigned, 1, n2),
				event("web", "Warning", contract.ReasonNotAnnounced, 3, "no node can announce 198.51.100.1: no nodes"),
			},
			want: []serviceReport{{Namespace: "default", Name: "web", Addresses: []string{"198.51.100.1"}, Pool: "l2",
				Problems: []problem{{Reason: string(contract.ReasonNotAnnounced), Message: "no node can announce 198.51.100.1: no nodes"}}}},
		},
		{
			name: "events of an earlier Service of the same name are ignored",
			svcs: []corev1.Service{svc("web", 0, "198.51.100.1")},
			events: func() []corev1.Event {
				e := event("web", "Warning", contract.ReasonNotAnnounced, 3, "old")
				e.InvolvedObject.UID = "uid-before"
				return []corev1.Event{e}
			}(),
			want: []serviceReport{{Namespace: "default", Name: "web", Addresses: []string{"198.51.100.1"}, Pool: "l2", Problems: []problem{}}},
		},
		{
			name: "MetalLB's Events are not barelb's",
			svcs: []corev1.Service{svc("web", 0, "198.51.100.1")},
			events: func() []corev1.Event {
				e := event("web", "Normal", contract.ReasonNodeAssigned, 3, `announcing from node "n1" with protocol "layer2"`)
				e.Source.Component = "metallb-speaker"
				f := event("web", "Warning", contract.ReasonAllocationFailed, 4, "old failure")
				f.Source = corev1.EventSource{}
				f.ReportingController = "metallb-controller"
				return []corev1.Event{e, f}
			}(),
			want: []serviceReport{{Namespace: "default", Name: "web", Addresses: []string{"198.51.100.1"}, Pool: "l2", Problems: []problem{}}},
		},
		{
			name: "events.k8s.io Events count",
			svcs: []corev1.Service{svc("web", 0, "198.51.100.1")},
			events: func() []corev1.Event {
				e := event("web", "Normal", contract.ReasonNodeAssigned, 3, "announcing 198.51.100.1 on eth0 from node n2")
				e.Source, e.ReportingController = corev1.EventSource{}, contract.ComponentNodeHelper
				return []corev1.Event{e}
			}(),
			want: []serviceReport{{Namespace: "default", Name: "web", Addresses: []string{"198.51.100.1"}, Pool: "l2", Problems: []problem{},
				Announcement: &announcement{Node: "n2", Source: "event", Since: base.Add(3 * time.Second),
					Addresses: []announcedAddress{{Address: "198.51.100.1", Interfaces: []string{"eth0"}}}}}},
		},
		{
			name:   "allocation failed",
			svcs:   []corev1.Service{svc("web", 0)},
			events: []corev1.Event{event("web", "Warning", contract.ReasonAllocationFailed, 1, `pool "l2" is exhausted`)},
			want: []serviceReport{{Namespace: "default", Name: "web", Addresses: []string{},
				Problems: []problem{{Reason: string(contract.ReasonAllocationFailed), Message: `pool "l2" is exhausted`}}}},
		},
		{
			name: "allocation failed, then allocated",
			svcs: []corev1.Service{svc("web", 0, "198.51.100.1")},
			events: []corev1.Event{
				event("web", "Warning", contract.ReasonAllocationFailed, 1, `pool "l2" is exhausted`),
				event("web", "Normal", contract.ReasonIPAllocated, 2, "assigned 198.51.100.1 from pool l2"),
			},
			want: []serviceReport{{Namespace: "default", Name: "web", Addresses: []string{"198.51.100.1"}, Pool: "l2", Problems: []problem{}}},
		},
		{
			name: "pending without events",
			svcs: []corev1.Service{svc("web", 0)},
			want: []serviceReport{{Namespace: "default", Name: "web", Addresses: []string{},
				Problems: []problem{{Reason: reasonPending, Message: "no address and no Event saying why: is barelb-ccm running, and its leader elected?"}}}},
		},
		{
			name: "BGP pool: assigned, never announced",
			svcs: []corev1.Service{svc("b", 0, "203.0.113.8")},
			want: []serviceReport{{Namespace: "default", Name: "b", Addresses: []string{"203.0.113.8"}, Pool: "b",
				Problems: []problem{{Reason: string(contract.ReasonBGPNotSupported), Message: `203.0.113.8 is from BGP pool "b": BGP is not supported by barelb, the address is assigned but not announced`}}}},
		},
		{
			name: "orphaned address",
			svcs: []corev1.Service{svc("web", 0, "192.0.2.7")},
			want: []serviceReport{{Namespace: "default", Name: "web", Addresses: []string{"192.0.2.7"},
				Problems: []problem{{Reason: string(contract.ReasonAddressOrphaned), Message: "192.0.2.7 is in no configured pool: the Service keeps it until it is deleted, no other Service gets it, and it is not announced"}}}},
		},
		{
			name: "conflict: the older Service keeps the address",
			svcs: []corev1.Service{svc("young", 10, "198.51.100.1"), svc("old", 0, "198.51.100.1")},
			want: []serviceReport{
				{Namespace: "default", Name: "old", Addresses: []string{"198.51.100.1"}, Pool: "l2", Problems: []problem{}},
				{Namespace: "default", Name: "young", Addresses: []string{"198.51.100.1"}, Pool: "l2",
					Problems: []problem{{Reason: string(contract.ReasonAddressConflict), Message: "failed to restore 198.51.100.1 for default/young: 198.51.100.1 is held by default/old"}}},
			},
		},
		{
			name: "another implementation's Service",
			svcs: []corev1.Service{other},
			want: []serviceReport{{Namespace: "default", Name: "other", LoadBalancerClass: class, Addresses: []string{"192.0.2.1"}, Problems: []problem{}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := buildReport(state(testConfig, tt.svcs, tt.events...))
			if diff := cmp.Diff(tt.want, got.Services); diff != "" {
				t.Errorf("services (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildReportConfig(t *testing.T) {
	loaded := event("cm", "Normal", "ConfigLoaded", 1, "configuration applied: 2 pools")
	invalid := event("cm", "Warning", "InvalidConfig", 2, "configuration not applied")
	tests := []struct {
		name      string
		st        clusterState
		want      configReport
		wantPools []poolReport
	}{
		{
			name: "valid, with a warning",
			st: state(testConfig, []corev1.Service{
				svc("a", 0, "198.51.100.1", "2001:db8::"), svc("b", 1, "198.51.100.2"), svc("c", 2, "203.0.113.9"),
			}, loaded),
			want: configReport{ConfigMap: "barelb-system/config", Key: "config", State: configValid, Errors: []string{}, Effective: effectiveConfigMap,
				Warnings:  []string{`address-pools[1] "b": BGP is not supported: addresses of pool "b" are assigned but not announced`},
				LastEvent: &eventReport{Type: "Normal", Reason: "ConfigLoaded", Message: "configuration applied: 2 pools", Time: base.Add(time.Second)}},
			wantPools: []poolReport{
				{Name: "l2", Protocol: "layer2", AutoAssign: true, Family: "IPv4", Size: 4, InUse: 2, Free: 2},
				{Name: "l2", Protocol: "layer2", AutoAssign: true, Family: "IPv6", Size: 4, InUse: 1, Free: 3},
				{Name: "b", Protocol: "bgp", AutoAssign: false, Family: "IPv4", Size: 2, InUse: 1, Free: 1},
			},
		},
		{
			name: "invalid: every error listed",
			st:   state("address-pools:\n- {name: a, protocol: layer2, addresses: [198.51.100.1/24]}\n- {name: a, protocol: l3, addresses: []}\n", nil, loaded, invalid),
			want: configReport{ConfigMap: "barelb-system/config", Key: "config", State: configInvalid, Stale: true, Warnings: []string{}, Effective: effectiveNone,
				Errors: []string{
					`address-pools[0] "a": addresses[0] "198.51.100.1/24": host bits set, did you mean "198.51.100.0/24"? (line 2)`,
					`address-pools[1] "a": duplicate pool name, first defined at address-pools[0] "a" (line 3)`,
					`address-pools[1] "a": protocol "l3": unknown protocol, want layer2 or bgp (line 3)`,
					`address-pools[1] "a": no addresses (line 3)`,
				},
				LastEvent: &eventReport{Type: "Warning", Reason: "InvalidConfig", Message: "configuration not applied", Time: base.Add(2 * time.Second)}},
			wantPools: []poolReport{},
		},
		{
			name: "missing ConfigMap",
			st:   state("", nil),
			want: configReport{ConfigMap: "barelb-system/config", Key: "config", State: configMissing, Stale: true, Warnings: []string{}, Effective: effectiveNone,
				Errors: []string{"ConfigMap barelb-system/config not found"}},
			wantPools: []poolReport{},
		},
		{
			name: "missing key",
			st: func() clusterState {
				s := state(testConfig, nil)
				s.ConfigKey = "other"
				return s
			}(),
			want: configReport{ConfigMap: "barelb-system/config", Key: "other", State: configMissing, Stale: true, Warnings: []string{}, Effective: effectiveNone,
				Errors: []string{`ConfigMap barelb-system/config has no key "other"`}},
			wantPools: []poolReport{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := buildReport(tt.st)
			if diff := cmp.Diff(tt.want, got.Config); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantPools, got.Pools); diff != "" {
				t.Errorf("pools (-want +got):\n%s", diff)
			}
		})
	}
}

// record is the record the CCM writes of testConfig at resourceVersion 41.
func record(t *testing.T) *corev1.ConfigMap {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "barelb-system", Name: "config", ResourceVersion: "41", UID: "u"}, Data: map[string]string{"config": testConfig}}
	r, _ := lastapplied.FromConfigMap(cm, "config", base)
	return r.ConfigMap()
}

// TestBuildReportLastApplied: while the ConfigMap is not valid, the pools
// and the Services' pools come from the record the controllers run on.
func TestBuildReportLastApplied(t *testing.T) {
	st := state("address-pools: [", []corev1.Service{svc("a", 0, "198.51.100.1"), svc("b", 1, "203.0.113.8")})
	st.Record = record(t)
	r := buildReport(st)
	want := &lastAppliedReport{Record: "barelb-system/barelb-last-applied-config", Source: "barelb-system/config", ResourceVersion: "41", AppliedAt: base}
	if diff := cmp.Diff(want, r.Config.LastApplied); diff != "" || r.Config.Effective != effectiveLastApplied || r.Config.State != configInvalid {
		t.Errorf("config is %s, effective %s, want invalid, lastApplied; record (-want +got):\n%s", r.Config.State, r.Config.Effective, diff)
	}
	if len(r.Pools) != 3 || r.Services[0].Pool != "l2" || r.Services[1].Pool != "b" {
		t.Errorf("pools %+v, Services' pools %q and %q; want the record's three, l2 and b", r.Pools, r.Services[0].Pool, r.Services[1].Pool)
	}
	var b strings.Builder
	writeTable(&b, r, base.Add(5*time.Minute))
	if line := "  running on the last applied configuration (record barelb-system/barelb-last-applied-config): applied 2030-01-02T03:04:05Z (5m ago) from ConfigMap barelb-system/config resourceVersion 41\n"; !strings.Contains(b.String(), line) {
		t.Errorf("table lacks %q:\n%s", line, b.String())
	}
	if !r.hasProblems() {
		t.Error("an invalid ConfigMap is not a problem while the record is used")
	}

	// A valid ConfigMap wins; a record of another ConfigMap is shown, unused.
	st = state(testConfig, nil)
	st.ConfigMapNamespace = "metallb-system"
	st.Record = record(t)
	r = buildReport(st)
	if r.Config.Effective != effectiveConfigMap || r.Config.LastApplied == nil || !strings.Contains(r.Config.LastApplied.Error, "another configuration ConfigMap") {
		t.Errorf("effective %s, record %+v; want configMap and the record refused", r.Config.Effective, r.Config.LastApplied)
	}
}

func TestBuildReportInvalidConfigFallsBackToEvents(t *testing.T) {
	st := state("address-pools: [", []corev1.Service{svc("b", 0, "203.0.113.8")},
		event("b", "Warning", contract.ReasonBGPNotSupported, 1, "bgp"),
		event("b", "Warning", contract.ReasonAddressOrphaned, 2, "orphaned"))
	got := buildReport(st).Services
	want := []serviceReport{{Namespace: "default", Name: "b", Addresses: []string{"203.0.113.8"},
		Problems: []problem{{Reason: string(contract.ReasonBGPNotSupported), Message: "bgp"}, {Reason: string(contract.ReasonAddressOrphaned), Message: "orphaned"}}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("services (-want +got):\n%s", diff)
	}
}

func TestWriteTable(t *testing.T) {
	st := state(testConfig, []corev1.Service{
		withCondition(svc("web", 0, "198.51.100.1"), metav1.ConditionTrue, "Announced", "announcing 198.51.100.1 on eth0 from node n2"),
		svc("pending", 0),
	}, event("pending", "Warning", contract.ReasonAllocationFailed, 1, `pool "l2" is exhausted`), event("cm", "Normal", "ConfigLoaded", 1, "configuration applied: 2 pools"))
	var b strings.Builder
	writeTable(&b, buildReport(st), base.Add(5*time.Minute))
	want := `CONFIG barelb-system/config (key "config"): valid
  warning: address-pools[1] "b": BGP is not supported: addresses of pool "b" are assigned but not announced
  last event: Normal ConfigLoaded (4m ago): configuration applied: 2 pools

POOL  PROTOCOL  AUTO-ASSIGN  FAMILY  SIZE  IN USE  FREE
l2    layer2    true         IPv4    4     1       3
l2    layer2    true         IPv6    4     0       4
b     bgp       false        IPv4    2     0       2

SERVICE          ADDRESSES     POOL  NODE  INTERFACES  PROBLEMS
default/pending  <pending>     -     -     -           1
default/web      198.51.100.1  l2    n2    eth0        0

PROBLEMS
  default/pending: AllocationFailed: pool "l2" is exhausted
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
}

func TestKeygen(t *testing.T) {
	var keys []string
	for range 2 {
		var stdout, stderr strings.Builder
		if code := run([]string{"keygen"}, nil, &stdout, &stderr); code != 0 {
			t.Fatalf("keygen exit code = %d, stderr %q", code, stderr.String())
		}
		keys = append(keys, strings.TrimSuffix(stdout.String(), "\n"))
	}
	if keys[0] == keys[1] {
		t.Fatalf("keygen printed the same key twice: %q", keys[0])
	}
	if _, err := gossipkey.Parse(keys[0] + "\n" + keys[1]); err != nil {
		t.Fatalf("gossipkey.Parse(keygen output) error = %v", err)
	}
}

func TestNewest(t *testing.T) {
	at := func(reason string, last, created int, rv string) corev1.Event {
		e := event("web", "Normal", contract.EventReason(reason), last, "")
		e.CreationTimestamp = metav1.NewTime(base.Add(time.Duration(created) * time.Second))
		e.ResourceVersion = rv
		return e
	}
	series := at("series", 1, 1, "1")
	series.Series = &corev1.EventSeries{Count: 2, LastObservedTime: metav1.NewMicroTime(base.Add(9 * time.Second))}
	micro := corev1.Event{Reason: "micro", EventTime: metav1.NewMicroTime(base.Add(3 * time.Second))}
	tests := []struct {
		name   string
		events []corev1.Event
		want   string
	}{
		{name: "latest lastTimestamp", events: []corev1.Event{at("a", 5, 0, "9"), at("b", 4, 4, "10")}, want: "a"},
		{name: "same second: later created", events: []corev1.Event{at("a", 5, 1, "9"), at("b", 5, 2, "3")}, want: "b"},
		{name: "same second, same creation: higher resourceVersion", events: []corev1.Event{at("a", 5, 1, "12"), at("b", 5, 1, "9")}, want: "a"},
		{name: "series", events: []corev1.Event{at("a", 5, 5, "9"), series}, want: "series"},
		{name: "eventTime", events: []corev1.Event{at("a", 2, 2, "9"), micro}, want: "micro"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ptrs []*corev1.Event
			for i := range tt.events {
				ptrs = append(ptrs, &tt.events[i])
			}
			if got := newest(ptrs, nil); got == nil || got.Reason != tt.want {
				t.Errorf("newest() = %v, want reason %q", got, tt.want)
			}
		})
	}
}
