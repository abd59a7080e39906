package controller

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/barelb/barelb/internal/config"
	"github.com/barelb/barelb/nodehelper/election"
	"github.com/barelb/barelb/nodehelper/report"
)

// event is one recorded Event.
type event struct {
	Object, Type, Reason, Message string
}

// fakeEvents is an EventSink that keeps what it is given.
type fakeEvents struct{ got []event }

func (f *fakeEvents) Eventf(obj runtime.Object, eventtype, reason, messageFmt string, args ...any) {
	s := obj.(*corev1.Service)
	f.got = append(f.got, event{Object: s.Namespace + "/" + s.Name, Type: eventtype, Reason: reason, Message: fmt.Sprintf(messageFmt, args...)})
}

// reportingController is a Controller of node with members, as far as the
// reporting functions need one.
func reportingController(node string, members []string, cfg *config.Config) (*Controller, *fakeEvents) {
	ev := &fakeEvents{}
	return &Controller{
		o:       Options{NodeName: node, Events: ev},
		members: members,
		cfg:     cfg,
		view:    newViewCache(),
		status:  newStatusWriter(nil),
	}, ev
}

func TestWarnSkipped(t *testing.T) {
	cfg := &config.Config{}
	addr := netip.MustParseAddr
	svcs := map[string]*corev1.Service{}
	for _, name := range []string{"hijack", "mixed", "routed", "two"} {
		svcs["default/"+name] = lbService("default", name, corev1.ServiceExternalTrafficPolicyCluster)
	}
	svc := func(key string) *corev1.Service { return svcs[key] }
	// reporterOf returns the member that reports on a.
	members := []string{"n1", "n2"}
	reporterOf := func(a string) string { return report.Reporter(members, election.GroupKey(addr(a))) }

	tests := []struct {
		name      string
		cfg       *config.Config
		skipped   []report.Skipped
		announced []string // Services with some announced address
		node      string
		want      []event
		wantConds map[string]condition
	}{
		{
			name:    "outside every pool",
			cfg:     cfg,
			skipped: []report.Skipped{{Service: "default/hijack", Addr: addr("192.0.2.1"), Reason: report.SkipNotInPool}},
			node:    reporterOf("192.0.2.1"),
			want: []event{{Object: "default/hijack", Type: corev1.EventTypeWarning, Reason: ReasonAddressNotInPool,
				Message: "192.0.2.1 not announced: in no layer2 pool of the configuration"}},
			wantConds: map[string]condition{"default/hijack": {status: metav1.ConditionFalse, reason: ConditionReasonAddressNotInPool,
				message: "192.0.2.1 not announced: in no layer2 pool of the configuration"}},
		},
		{
			name:    "reported by another member",
			cfg:     cfg,
			skipped: []report.Skipped{{Service: "default/hijack", Addr: addr("192.0.2.1"), Reason: report.SkipNotInPool}},
			node:    "not-the-reporter",
		},
		{
			name:    "no valid configuration",
			skipped: []report.Skipped{{Service: "default/hijack", Addr: addr("192.0.2.1"), Reason: report.SkipNoConfig}},
			node:    reporterOf("192.0.2.1"),
			want: []event{{Object: "default/hijack", Type: corev1.EventTypeWarning, Reason: ReasonAddressNotInPool,
				Message: "192.0.2.1 not announced: no valid configuration has been read, so no address is in a layer2 pool"}},
			wantConds: map[string]condition{"default/hijack": {status: metav1.ConditionFalse, reason: ConditionReasonAddressNotInPool,
				message: "192.0.2.1 not announced: no valid configuration has been read, so no address is in a layer2 pool"}},
		},
		{
			name:      "a Service with an announced address keeps the owner's condition",
			cfg:       cfg,
			skipped:   []report.Skipped{{Service: "default/mixed", Addr: addr("192.0.2.1"), Reason: report.SkipNotInPool}},
			announced: []string{"default/mixed"},
			node:      reporterOf("192.0.2.1"),
			want: []event{{Object: "default/mixed", Type: corev1.EventTypeWarning, Reason: ReasonAddressNotInPool,
				Message: "192.0.2.1 not announced: in no layer2 pool of the configuration"}},
		},
		{
			name:    "BGP pool: an Event, no condition",
			cfg:     cfg,
			skipped: []report.Skipped{{Service: "default/routed", Addr: addr("203.0.113.5"), Reason: report.SkipBGP, Pool: "routed"}},
			node:    reporterOf("203.0.113.5"),
			want: []event{{Object: "default/routed", Type: corev1.EventTypeWarning, Reason: ReasonBGPNotSupported,
				Message: `203.0.113.5 is from BGP pool "routed": BGP is not supported by barelb, the address is assigned but not announced`}},
		},
		{
			name: "two addresses: the condition names both, from the first one's reporter",
			cfg:  cfg,
			skipped: []report.Skipped{
				{Service: "default/two", Addr: addr("192.0.2.1"), Reason: report.SkipNotInPool},
				{Service: "default/two", Addr: addr("192.0.2.2"), Reason: report.SkipNotInPool},
			},
			node: reporterOf("192.0.2.1"),
			want: func() []event {
				var evs []event
				for _, a := range []string{"192.0.2.1", "192.0.2.2"} {
					if reporterOf(a) == reporterOf("192.0.2.1") {
						evs = append(evs, event{Object: "default/two", Type: corev1.EventTypeWarning, Reason: ReasonAddressNotInPool,
							Message: a + " not announced: in no layer2 pool of the configuration"})
					}
				}
				return evs
			}(),
			wantConds: map[string]condition{"default/two": {status: metav1.ConditionFalse, reason: ConditionReasonAddressNotInPool,
				message: "192.0.2.1, 192.0.2.2 not announced: in no layer2 pool of the configuration"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ev := reportingController(tt.node, members, tt.cfg)
			for _, key := range tt.announced {
				c.view.infos[key] = election.ServiceInfo{Key: key}
			}
			c.skipped, c.outside = tt.skipped, report.Outside(tt.skipped)
			c.warnSkipped(svc)
			if diff := cmp.Diff(tt.want, ev.got); diff != "" {
				t.Errorf("Events (-want +got):\n%s", diff)
			}
			if tt.wantConds == nil {
				tt.wantConds = map[string]condition{}
			}
			if diff := cmp.Diff(tt.wantConds, c.status.pending, cmp.AllowUnexported(condition{})); diff != "" {
				t.Errorf("conditions (-want +got):\n%s", diff)
			}
			// Once per Service and address: the next apply records nothing.
			ev.got = nil
			c.status.pending = map[string]condition{}
			c.warnSkipped(svc)
			if len(ev.got) > 0 || len(c.status.pending) > 0 {
				t.Errorf("second warnSkipped recorded %v and set %v, want nothing", ev.got, c.status.pending)
			}
		})
	}
}

// The owner's condition on a Service with addresses in and outside the
// layer2 pools names those it does not announce.
func TestRecordOwnedNamesAddressesOutsidePools(t *testing.T) {
	c, ev := reportingController("n1", []string{"n1"}, &config.Config{})
	in, out := netip.MustParseAddr("198.51.100.3"), netip.MustParseAddr("192.0.2.1")
	c.table.Recompute(election.View{
		Nodes:    []election.NodeInfo{{Name: "n1"}},
		Members:  []string{"n1"},
		Services: []election.ServiceInfo{{Key: "default/mixed", Addresses: []netip.Addr{in}, HasReadyEndpoints: true}},
	})
	skipped := []report.Skipped{{Service: "default/mixed", Addr: out, Reason: report.SkipNotInPool}}
	c.skipped, c.outside = skipped, report.Outside(skipped)
	s := lbService("default", "mixed", corev1.ServiceExternalTrafficPolicyCluster, in.String(), out.String())
	c.recordOwned(map[netip.Addr][]string{in: {"eth0"}}, func(string) *corev1.Service { return s })

	msg := "announcing 198.51.100.3 on eth0 from node n1; 192.0.2.1 not announced: in no layer2 pool of the configuration"
	want := []event{{Object: "default/mixed", Type: corev1.EventTypeNormal, Reason: ReasonNodeAssigned, Message: msg}}
	if diff := cmp.Diff(want, ev.got); diff != "" {
		t.Errorf("Events (-want +got):\n%s", diff)
	}
	wantConds := map[string]condition{"default/mixed": {status: metav1.ConditionTrue, reason: ConditionReasonAnnounced, message: msg}}
	if diff := cmp.Diff(wantConds, c.status.pending, cmp.AllowUnexported(condition{})); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}
}
