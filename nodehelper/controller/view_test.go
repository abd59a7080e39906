package controller

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/barelb/barelb/internal/config"
	"github.com/barelb/barelb/internal/lbclass"
	"github.com/barelb/barelb/nodehelper/election"
	"github.com/barelb/barelb/nodehelper/report"
)

func TestNodeInfo(t *testing.T) {
	tests := []struct {
		name        string
		node        corev1.Node
		ignoreLabel bool
		want        election.NodeInfo
	}{
		{name: "usable", node: corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, want: election.NodeInfo{Name: "n1"}},
		{
			name: "excluded by label with an empty value",
			node: corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{ExcludeLabel: ""}}},
			want: election.NodeInfo{Name: "n1", ExcludedByLabel: true},
		},
		{
			name: "excluded by label true",
			node: corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{ExcludeLabel: "true"}}},
			want: election.NodeInfo{Name: "n1", ExcludedByLabel: true},
		},
		{
			name: "excluded by a label value that is not a boolean",
			node: corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{ExcludeLabel: "yes"}}},
			want: election.NodeInfo{Name: "n1", ExcludedByLabel: true},
		},
		{
			name: "label false includes, as for the service controller",
			node: corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{ExcludeLabel: "false"}}},
			want: election.NodeInfo{Name: "n1"},
		},
		{
			name:        "label ignored",
			node:        corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{ExcludeLabel: "true"}}},
			ignoreLabel: true,
			want:        election.NodeInfo{Name: "n1"},
		},
		{
			name: "label ignored, conditions still count",
			node: corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{ExcludeLabel: ""}},
				Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse}}}},
			ignoreLabel: true,
			want:        election.NodeInfo{Name: "n1", NotReady: true},
		},
		{
			name: "not ready and network unavailable",
			node: corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
				{Type: corev1.NodeReady, Status: corev1.ConditionFalse},
				{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionTrue},
			}}},
			want: election.NodeInfo{Name: "n1", NotReady: true, NetworkUnavailable: true},
		},
		{
			name: "ready unknown counts as usable",
			node: corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
				{Type: corev1.NodeReady, Status: corev1.ConditionUnknown},
				{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse},
			}}},
			want: election.NodeInfo{Name: "n1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, nodeInfo(&tt.node, tt.ignoreLabel)); diff != "" {
				t.Errorf("nodeInfo() (-want +got):\n%s", diff)
			}
		})
	}
}

func lbService(ns, name string, policy corev1.ServiceExternalTrafficPolicy, ips ...string) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: policy},
	}
	for _, ip := range ips {
		s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
	}
	return s
}

func slice(ns, svc string, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: svc + "-x", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		Endpoints:  eps,
	}
}

func ep(node string, ready bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{NodeName: &node, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}
}

func TestServiceEntry(t *testing.T) {
	cfg, _, err := config.Parse([]byte(`
address-pools:
- name: l2
  protocol: layer2
  addresses: [198.51.100.0/24, "2001:db8::/64"]
- name: routed
  protocol: bgp
  addresses: [203.0.113.0/24]
`))
	if err != nil {
		t.Fatal(err)
	}
	class := "other.example/lb"
	other := lbService("default", "other-class", corev1.ServiceExternalTrafficPolicyCluster, "198.51.100.9")
	other.Spec.LoadBalancerClass = &class
	clusterIP := lbService("default", "cluster-ip", corev1.ServiceExternalTrafficPolicyCluster)
	clusterIP.Spec.Type = corev1.ServiceTypeClusterIP
	addr := netip.MustParseAddr

	tests := []struct {
		name        string
		svc         *corev1.Service
		slices      []*discoveryv1.EndpointSlice
		cfg         *config.Config
		want        election.ServiceInfo
		wantOK      bool
		wantSkipped []report.Skipped
	}{
		{
			name:   "dual-stack, the ready endpoint's node",
			svc:    lbService("default", "web", corev1.ServiceExternalTrafficPolicyCluster, "2001:db8::1", "198.51.100.1"),
			slices: []*discoveryv1.EndpointSlice{slice("default", "web", ep("n1", false)), slice("default", "web", ep("n2", true))},
			cfg:    cfg,
			want:   election.ServiceInfo{Key: "default/web", Addresses: []netip.Addr{addr("198.51.100.1"), addr("2001:db8::1")}, HasReadyEndpoints: true, LocalEndpointNodes: []string{"n2"}},
			wantOK: true,
		},
		{
			name:   "local policy",
			svc:    lbService("default", "local", corev1.ServiceExternalTrafficPolicyLocal, "198.51.100.2"),
			slices: []*discoveryv1.EndpointSlice{slice("default", "local", ep("n3", true), ep("n1", false))},
			cfg:    cfg,
			want:   election.ServiceInfo{Key: "default/local", Addresses: []netip.Addr{addr("198.51.100.2")}, TrafficPolicyLocal: true, HasReadyEndpoints: true, LocalEndpointNodes: []string{"n3"}},
			wantOK: true,
		},
		{
			name:        "BGP pool",
			svc:         lbService("default", "routed", corev1.ServiceExternalTrafficPolicyCluster, "203.0.113.5"),
			cfg:         cfg,
			wantSkipped: []report.Skipped{{Service: "default/routed", Addr: addr("203.0.113.5"), Reason: report.SkipBGP, Pool: "routed"}},
		},
		{
			name:        "outside every pool (the gateway's, or an orphan)",
			svc:         lbService("default", "hijack", corev1.ServiceExternalTrafficPolicyCluster, "192.0.2.1"),
			cfg:         cfg,
			wantSkipped: []report.Skipped{{Service: "default/hijack", Addr: addr("192.0.2.1"), Reason: report.SkipNotInPool}},
		},
		{
			name:        "one address inside, one outside",
			svc:         lbService("default", "mixed", corev1.ServiceExternalTrafficPolicyCluster, "198.51.100.3", "192.0.2.1"),
			cfg:         cfg,
			want:        election.ServiceInfo{Key: "default/mixed", Addresses: []netip.Addr{addr("198.51.100.3")}},
			wantOK:      true,
			wantSkipped: []report.Skipped{{Service: "default/mixed", Addr: addr("192.0.2.1"), Reason: report.SkipNotInPool}},
		},
		{
			name: "no valid configuration ever read",
			svc:  lbService("default", "early", corev1.ServiceExternalTrafficPolicyCluster, "198.51.100.4", "203.0.113.6"),
			wantSkipped: []report.Skipped{
				{Service: "default/early", Addr: addr("198.51.100.4"), Reason: report.SkipNoConfig},
				{Service: "default/early", Addr: addr("203.0.113.6"), Reason: report.SkipNoConfig},
			},
		},
		{name: "no address yet", svc: lbService("default", "pending", corev1.ServiceExternalTrafficPolicyCluster), cfg: cfg},
		{name: "unparsable address", svc: lbService("default", "junk", corev1.ServiceExternalTrafficPolicyCluster, "198.51.100.300"), cfg: cfg},
		{name: "another implementation's class", svc: other, cfg: cfg},
		{name: "not a LoadBalancer", svc: clusterIP, cfg: cfg},
	}
	cmpAddr := cmp.Comparer(func(a, b netip.Addr) bool { return a == b })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, skipped := serviceEntry(tt.svc, tt.slices, tt.cfg, lbclass.Selector{})
			if ok != tt.wantOK {
				t.Errorf("serviceEntry() ok = %v, want %v", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got, cmpAddr); diff != "" {
				t.Errorf("serviceEntry() info (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantSkipped, skipped, cmpAddr); diff != "" {
				t.Errorf("serviceEntry() skipped (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDiffSorted(t *testing.T) {
	tests := []struct {
		name                string
		a, b                []string
		wantAdded, wantGone []string
	}{
		{name: "same", a: []string{"a", "b"}, b: []string{"a", "b"}},
		{name: "join", a: []string{"a", "c"}, b: []string{"a", "b", "c"}, wantAdded: []string{"b"}},
		{name: "leave", a: []string{"a", "b", "c"}, b: []string{"a", "c"}, wantGone: []string{"b"}},
		{name: "both", a: []string{"a", "b"}, b: []string{"b", "c"}, wantAdded: []string{"c"}, wantGone: []string{"a"}},
		{name: "from nothing", b: []string{"a"}, wantAdded: []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			added, gone := diffSorted(tt.a, tt.b)
			if diff := cmp.Diff(tt.wantAdded, added); diff != "" {
				t.Errorf("added (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantGone, gone); diff != "" {
				t.Errorf("removed (-want +got):\n%s", diff)
			}
		})
	}
}
