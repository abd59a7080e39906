package report

import (
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/barelb/barelb/internal/contract"
	"github.com/barelb/barelb/nodehelper/announce"
	"github.com/barelb/barelb/nodehelper/election"
)

// emptyOK treats nil and empty lists and maps as equal.
var emptyOK = cmpopts.EquateEmpty()

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func group(a string, services ...string) election.Group {
	return election.Group{Key: election.GroupKey(netip.MustParseAddr(a)), Addresses: addrs(a), Services: services}
}

// reporterOf returns the member of members that reports on address a.
func reporterOf(members []string, a string) string {
	return Reporter(members, election.GroupKey(netip.MustParseAddr(a)))
}

// notReporterOf returns a member of members that does not report on a.
func notReporterOf(members []string, a string) string {
	for _, m := range members {
		if m != reporterOf(members, a) {
			return m
		}
	}
	return ""
}

func TestOwned(t *testing.T) {
	t.Parallel()
	const announcing = "announcing 198.51.100.1 on eth0 from node n1"
	noIface := "node n1 owns 198.51.100.1 but has no interface to announce it on"
	mixed := "announcing 198.51.100.1 on eth0 from node n1; 192.0.2.1 not announced: in no layer2 pool of the configuration"
	eth0 := map[netip.Addr][]string{v4: {"eth0"}}
	tests := []struct {
		name     string
		groups   []election.Group
		chosen   map[netip.Addr][]string
		outside  map[string][]netip.Addr
		last     map[string]string
		want     Output
		wantNext map[string]string
	}{
		{
			name:   "newly announced: nodeAssigned and True for each Service",
			groups: []election.Group{group("198.51.100.1", "default/a", "default/b")},
			chosen: eth0,
			want: Output{
				Events: []Event{
					{Service: "default/a", Type: corev1.EventTypeNormal, Reason: contract.ReasonNodeAssigned, Message: announcing},
					{Service: "default/b", Type: corev1.EventTypeNormal, Reason: contract.ReasonNodeAssigned, Message: announcing},
				},
				Conditions: []Condition{
					{Service: "default/a", Status: metav1.ConditionTrue, Reason: contract.ConditionReasonAnnounced, Message: announcing},
					{Service: "default/b", Status: metav1.ConditionTrue, Reason: contract.ConditionReasonAnnounced, Message: announcing},
				},
			},
			wantNext: map[string]string{"default/a": announcing, "default/b": announcing},
		},
		{
			name:   "told before: only the Service that joined the group",
			groups: []election.Group{group("198.51.100.1", "default/a", "default/b")},
			chosen: eth0,
			last:   map[string]string{"default/a": announcing, "default/gone": announcing},
			want: Output{
				Events:     []Event{{Service: "default/b", Type: corev1.EventTypeNormal, Reason: contract.ReasonNodeAssigned, Message: announcing}},
				Conditions: []Condition{{Service: "default/b", Status: metav1.ConditionTrue, Reason: contract.ConditionReasonAnnounced, Message: announcing}},
			},
			wantNext: map[string]string{"default/a": announcing, "default/b": announcing},
		},
		{
			name:   "no interface: a Warning and False",
			groups: []election.Group{group("198.51.100.1", "default/a")},
			want: Output{
				Events:     []Event{{Service: "default/a", Type: corev1.EventTypeWarning, Reason: contract.ReasonNoInterface, Message: noIface}},
				Conditions: []Condition{{Service: "default/a", Status: metav1.ConditionFalse, Reason: contract.ConditionReasonNoInterface, Message: noIface}},
			},
			wantNext: map[string]string{"default/a": noIface},
		},
		{
			name:    "the addresses outside every pool are named",
			groups:  []election.Group{group("198.51.100.1", "default/mixed")},
			chosen:  eth0,
			outside: map[string][]netip.Addr{"default/mixed": addrs("192.0.2.1")},
			want: Output{
				Events:     []Event{{Service: "default/mixed", Type: corev1.EventTypeNormal, Reason: contract.ReasonNodeAssigned, Message: mixed}},
				Conditions: []Condition{{Service: "default/mixed", Status: metav1.ConditionTrue, Reason: contract.ConditionReasonAnnounced, Message: mixed}},
			},
			wantNext: map[string]string{"default/mixed": mixed},
		},
		{
			name:     "nothing owned: nothing told, nothing remembered",
			last:     map[string]string{"default/a": announcing},
			wantNext: map[string]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, next := Node{Name: "n1"}.Owned(tt.groups, tt.chosen, tt.outside, tt.last)
			if diff := cmp.Diff(tt.want, got, emptyOK); diff != "" {
				t.Errorf("Owned() (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantNext, next, emptyOK); diff != "" {
				t.Errorf("Owned() messages (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOwnerless(t *testing.T) {
	t.Parallel()
	members := []string{"n1", "n2", "n3"}
	g := group("198.51.100.1", "default/a")
	k := g.Key
	byLabel := map[election.Exclusion][]string{election.ExcludedByLabel: {"n1", "n2"}}
	msg := "no node can announce 198.51.100.1: excluded by label: n1, n2"
	tests := []struct {
		name     string
		node     string
		last     map[election.GroupKey]string
		want     Output
		wantNext map[election.GroupKey]string
	}{
		{
			name: "the reporter tells",
			node: reporterOf(members, "198.51.100.1"),
			want: Output{
				Events:     []Event{{Service: "default/a", Type: corev1.EventTypeWarning, Reason: contract.ReasonNotAnnounced, Message: msg}},
				Conditions: []Condition{{Service: "default/a", Status: metav1.ConditionFalse, Reason: contract.ConditionReasonNoEligibleNode, Message: msg}},
			},
			wantNext: map[election.GroupKey]string{k: msg},
		},
		{
			name:     "the reporter told it already",
			node:     reporterOf(members, "198.51.100.1"),
			last:     map[election.GroupKey]string{k: msg},
			wantNext: map[election.GroupKey]string{k: msg},
		},
		{
			name:     "another member reports it",
			node:     notReporterOf(members, "198.51.100.1"),
			wantNext: map[election.GroupKey]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			excluded := func(got election.GroupKey) map[election.Exclusion][]string {
				if got != k {
					t.Errorf("excluded(%v), want only %v", got, k)
				}
				return byLabel
			}
			got, next := Node{Name: tt.node, Members: members}.Ownerless([]election.Group{g}, excluded, tt.last)
			if diff := cmp.Diff(tt.want, got, emptyOK); diff != "" {
				t.Errorf("Ownerless() (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantNext, next, emptyOK); diff != "" {
				t.Errorf("Ownerless() explanations (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSkipped(t *testing.T) {
	t.Parallel()
	members := []string{"n1", "n2"}
	a := netip.MustParseAddr("192.0.2.1")
	hijack := Skipped{Service: "default/hijack", Addr: a, Reason: SkipNotInPool}
	early := Skipped{Service: "default/early", Addr: a, Reason: SkipNoConfig}
	routed := Skipped{Service: "default/routed", Addr: netip.MustParseAddr("203.0.113.5"), Reason: SkipBGP, Pool: "routed"}
	const notInPool = "192.0.2.1 not announced: in no layer2 pool of the configuration"
	const noConfig = "192.0.2.1 not announced: no valid configuration has been read, so no address is in a layer2 pool"
	tests := []struct {
		name      string
		node      string
		skipped   []Skipped
		announced []string
		noConfig  bool
		last      SkippedState
		want      Output
		wantNext  SkippedState
	}{
		{
			name:    "outside every pool: a Warning and False",
			node:    reporterOf(members, "192.0.2.1"),
			skipped: []Skipped{hijack},
			want: Output{
				Events:     []Event{{Service: "default/hijack", Type: corev1.EventTypeWarning, Reason: contract.ReasonAddressNotInPool, Message: notInPool}},
				Conditions: []Condition{{Service: "default/hijack", Status: metav1.ConditionFalse, Reason: contract.ConditionReasonAddressNotInPool, Message: notInPool}},
			},
			wantNext: SkippedState{Warned: map[Skipped]bool{hijack: true}, Conditions: map[string]string{"default/hijack": notInPool}},
		},
		{
			name:     "told already: nothing, the state kept",
			node:     reporterOf(members, "192.0.2.1"),
			skipped:  []Skipped{hijack},
			last:     SkippedState{Warned: map[Skipped]bool{hijack: true}, Conditions: map[string]string{"default/hijack": notInPool}},
			wantNext: SkippedState{Warned: map[Skipped]bool{hijack: true}, Conditions: map[string]string{"default/hijack": notInPool}},
		},
		{
			name:    "no valid configuration",
			node:    reporterOf(members, "192.0.2.1"),
			skipped: []Skipped{early}, noConfig: true,
			want: Output{
				Events:     []Event{{Service: "default/early", Type: corev1.EventTypeWarning, Reason: contract.ReasonAddressNotInPool, Message: noConfig}},
				Conditions: []Condition{{Service: "default/early", Status: metav1.ConditionFalse, Reason: contract.ConditionReasonAddressNotInPool, Message: noConfig}},
			},
			wantNext: SkippedState{Warned: map[Skipped]bool{early: true}, Conditions: map[string]string{"default/early": noConfig}},
		},
		{
			name:      "a Service with an announced address: the Event, not the condition",
			node:      reporterOf(members, "192.0.2.1"),
			skipped:   []Skipped{hijack},
			announced: []string{"default/hijack"},
			want: Output{
				Events: []Event{{Service: "default/hijack", Type: corev1.EventTypeWarning, Reason: contract.ReasonAddressNotInPool, Message: notInPool}},
			},
			wantNext: SkippedState{Warned: map[Skipped]bool{hijack: true}},
		},
		{
			name:    "BGP pool: an Event, no condition",
			node:    reporterOf(members, "203.0.113.5"),
			skipped: []Skipped{routed},
			want: Output{
				Events: []Event{{Service: "default/routed", Type: corev1.EventTypeWarning, Reason: contract.ReasonBGPNotSupported,
					Message: `203.0.113.5 is from BGP pool "routed": BGP is not supported by barelb, the address is assigned but not announced`}},
			},
			wantNext: SkippedState{Warned: map[Skipped]bool{routed: true}},
		},
		{
			name:     "reported by another member",
			node:     notReporterOf(members, "192.0.2.1"),
			skipped:  []Skipped{hijack},
			wantNext: SkippedState{},
		},
		{
			name:     "no longer skipped: forgotten",
			node:     reporterOf(members, "192.0.2.1"),
			last:     SkippedState{Warned: map[Skipped]bool{hijack: true}, Conditions: map[string]string{"default/hijack": notInPool}},
			wantNext: SkippedState{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			announced := func(key string) bool {
				for _, k := range tt.announced {
					if k == key {
						return true
					}
				}
				return false
			}
			got, next := Node{Name: tt.node, Members: members}.Skipped(tt.skipped, announced, tt.noConfig, tt.last)
			if diff := cmp.Diff(tt.want, got, emptyOK); diff != "" {
				t.Errorf("Skipped() (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantNext, next, emptyOK); diff != "" {
				t.Errorf("Skipped() state (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConflict(t *testing.T) {
	t.Parallel()
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x09}
	cf := func(o announce.Outcome) announce.Conflict {
		return announce.Conflict{Interface: "eth0", Addr: v4, MAC: mac, Outcome: o}
	}
	msg := func(o announce.Outcome) string { return ConflictMessage("n1", cf(o)) }
	const announcing = "announcing 198.51.100.1 on eth0 from node n1"
	tests := []struct {
		outcome announce.Outcome
		want    Output
	}{
		{announce.Kept, Output{
			Events:     []Event{{Service: "default/a", Type: corev1.EventTypeWarning, Reason: contract.ReasonAddressConflict, Message: msg(announce.Kept)}},
			Conditions: []Condition{{Service: "default/a", Status: metav1.ConditionTrue, Reason: contract.ConditionReasonAddressConflict, Message: msg(announce.Kept)}},
		}},
		{announce.Withdrawn, Output{
			Events:     []Event{{Service: "default/a", Type: corev1.EventTypeWarning, Reason: contract.ReasonAddressConflict, Message: msg(announce.Withdrawn)}},
			Conditions: []Condition{{Service: "default/a", Status: metav1.ConditionFalse, Reason: contract.ConditionReasonAddressConflict, Message: msg(announce.Withdrawn)}},
		}},
		{announce.Blocked, Output{
			Events:     []Event{{Service: "default/a", Type: corev1.EventTypeWarning, Reason: contract.ReasonAddressConflict, Message: msg(announce.Blocked)}},
			Conditions: []Condition{{Service: "default/a", Status: metav1.ConditionFalse, Reason: contract.ConditionReasonAddressConflict, Message: msg(announce.Blocked)}},
		}},
		// Resumed: the announced condition comes back, for the Service
		// whose announcement is known only.
		{announce.Resumed, Output{
			Events:     []Event{{Service: "default/a", Type: corev1.EventTypeNormal, Reason: contract.ReasonNodeAssigned, Message: msg(announce.Resumed)}},
			Conditions: []Condition{{Service: "default/a", Status: metav1.ConditionTrue, Reason: contract.ConditionReasonAnnounced, Message: announcing}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.outcome.String(), func(t *testing.T) {
			t.Parallel()
			got := Node{Name: "n1"}.Conflict(cf(tt.outcome), []string{"default/a"}, map[string]string{"default/a": announcing})
			if diff := cmp.Diff(tt.want, got, emptyOK); diff != "" {
				t.Errorf("Conflict() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOutside(t *testing.T) {
	t.Parallel()
	skipped := []Skipped{
		{Service: "default/a", Addr: netip.MustParseAddr("192.0.2.2"), Reason: SkipNotInPool},
		{Service: "default/a", Addr: netip.MustParseAddr("203.0.113.5"), Reason: SkipBGP, Pool: "routed"},
		{Service: "default/a", Addr: netip.MustParseAddr("192.0.2.1"), Reason: SkipNotInPool},
		{Service: "default/b", Addr: netip.MustParseAddr("192.0.2.3"), Reason: SkipNoConfig},
	}
	want := map[string][]netip.Addr{"default/a": addrs("192.0.2.2", "192.0.2.1"), "default/b": addrs("192.0.2.3")}
	if diff := cmp.Diff(want, Outside(skipped), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("Outside() (-want +got):\n%s", diff)
	}
}

func TestConflictMessage(t *testing.T) {
	t.Parallel()
	other := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x09}
	addr := netip.MustParseAddr("192.0.2.100")
	tests := []struct {
		outcome announce.Outcome
		want    string
	}{
		{announce.Kept, "192.0.2.100 is also claimed on eth0 by MAC 02:00:00:00:00:09, which is no gossip member's: node n1 has the lower MAC, keeps the address and announced it again"},
		{announce.Withdrawn, "192.0.2.100 is also claimed on eth0 by MAC 02:00:00:00:00:09, which is no gossip member's: it has the lower MAC, so node n1 withdrew the address and probes it every second"},
		{announce.Blocked, "192.0.2.100 is in use on eth0 by MAC 02:00:00:00:00:09, which is no gossip member's: node n1 does not announce it and probes it again later (1 s doubling to 1 min)"},
		{announce.Resumed, "192.0.2.100, withdrawn after MAC 02:00:00:00:00:09 claimed it on eth0, is announced again by node n1: nobody else answered its probe"},
	}
	for _, tt := range tests {
		t.Run(tt.outcome.String(), func(t *testing.T) {
			t.Parallel()
			got := ConflictMessage("n1", announce.Conflict{Interface: "eth0", Addr: addr, MAC: other, Outcome: tt.outcome})
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReporterIsAMemberAndStable(t *testing.T) {
	members := []string{"n1", "n2", "n3"}
	k := election.GroupKey(netip.MustParseAddr("198.51.100.1"))
	r := Reporter(members, k)
	if r == "" {
		t.Fatal("Reporter() is empty")
	}
	if got := Reporter([]string{"n3", "n2", "n1"}, k); got != r {
		t.Errorf("reporter depends on member order: %q vs %q", got, r)
	}
}
