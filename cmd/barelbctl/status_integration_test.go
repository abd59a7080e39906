package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/barelb/barelb/internal/contract"
	"github.com/barelb/barelb/internal/controlplane"
)

// TestStatusAgainstAPIServer runs `barelbctl status` end to end against a real
// kube-apiserver holding a ConfigMap, Services in every state, their
// barelb.io/Announced conditions and their Events.
func TestStatusAgainstAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	cp := controlplane.ForTest(t)
	cs, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "barelb-system"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "barelb-system", Name: "config"}, Data: map[string]string{"config": testConfig}}
	if _, err := cs.CoreV1().ConfigMaps("barelb-system").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	createService(t, cs, "web", []string{"198.51.100.1", "2001:db8::1"}, &metav1.Condition{
		Type: contract.ConditionAnnounced, Status: metav1.ConditionTrue, Reason: "Announced",
		Message: "announcing 198.51.100.1 on eth0, 2001:db8::1 on eth0 from node n2", LastTransitionTime: metav1.Now(),
	})
	api := createService(t, cs, "api", []string{"198.51.100.2"}, nil)
	createEvent(t, cs, api, corev1.EventTypeNormal, contract.ReasonNodeAssigned, "announcing 198.51.100.2 on eth1 from node n1", time.Now().Add(-time.Minute))
	createEvent(t, cs, api, corev1.EventTypeNormal, contract.ReasonNodeAssigned, "announcing 198.51.100.2 on eth1 from node n3", time.Now())
	pending := createService(t, cs, "pending", nil, nil)
	createEvent(t, cs, pending, corev1.EventTypeWarning, contract.ReasonAllocationFailed, `pool "l2" is exhausted`, time.Now())
	createService(t, cs, "b", []string{"203.0.113.8"}, nil)

	var stdout, stderr strings.Builder
	code := run([]string{"status", "--kubeconfig", cp.Kubeconfig(), "-o", "json"}, nil, &stdout, &stderr)
	if code != exitInvalid {
		t.Fatalf("exit code = %d, want %d (problems exist); stderr %q", code, exitInvalid, stderr.String())
	}
	var got report
	if err := json.Unmarshal([]byte(stdout.String()), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
	}
	want := report{
		Config: configReport{ConfigMap: "barelb-system/config", Key: "config", State: configValid, Errors: []string{}, Effective: effectiveConfigMap,
			Warnings: []string{`address-pools[1] "b": BGP is not supported: addresses of pool "b" are assigned but not announced`}},
		Pools: []poolReport{
			{Name: "l2", Protocol: "layer2", AutoAssign: true, Family: "IPv4", Size: 4, InUse: 2, Free: 2},
			{Name: "l2", Protocol: "layer2", AutoAssign: true, Family: "IPv6", Size: 4, InUse: 1, Free: 3},
			{Name: "b", Protocol: "bgp", Family: "IPv4", Size: 2, InUse: 1, Free: 1},
		},
		Services: []serviceReport{
			{Namespace: "default", Name: "api", Addresses: []string{"198.51.100.2"}, Pool: "l2", Problems: []problem{},
				Announcement: &announcement{Node: "n3", Source: "event", Addresses: []announcedAddress{{Address: "198.51.100.2", Interfaces: []string{"eth1"}}}}},
			{Namespace: "default", Name: "b", Addresses: []string{"203.0.113.8"}, Pool: "b",
				Problems: []problem{{Reason: string(contract.ReasonBGPNotSupported), Message: `203.0.113.8 is from BGP pool "b": BGP is not supported by barelb, the address is assigned but not announced`}}},
			{Namespace: "default", Name: "pending", Addresses: []string{},
				Problems: []problem{{Reason: string(contract.ReasonAllocationFailed), Message: `pool "l2" is exhausted`}}},
			{Namespace: "default", Name: "web", Addresses: []string{"198.51.100.1", "2001:db8::1"}, Pool: "l2", Problems: []problem{},
				Announcement: &announcement{Node: "n2", Source: "condition", Addresses: []announcedAddress{
					{Address: "198.51.100.1", Interfaces: []string{"eth0"}}, {Address: "2001:db8::1", Interfaces: []string{"eth0"}}}}},
		},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(announcement{}, "Since")); diff != "" {
		t.Errorf("status -o json (-want +got):\n%s", diff)
	}

	// The table, with the kubeconfig found through $KUBECONFIG.
	t.Setenv("KUBECONFIG", cp.Kubeconfig())
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"status"}, nil, &stdout, &stderr); code != exitInvalid {
		t.Fatalf("exit code = %d, want %d; stderr %q", code, exitInvalid, stderr.String())
	}
	for _, line := range []string{
		`CONFIG barelb-system/config (key "config"): valid`,
		"default/web      198.51.100.1,2001:db8::1  l2    n2    eth0        0",
		`  default/pending: AllocationFailed: pool "l2" is exhausted`,
	} {
		if !strings.Contains(stdout.String(), line+"\n") {
			t.Errorf("table lacks the line %q:\n%s", line, stdout.String())
		}
	}

	// An invalid configuration: every error listed, exit 1.
	cm.Data["config"] = "address-pools:\n- {name: a, protocol: layer2, addresses: [198.51.100.1/24]}\n"
	if _, err := cs.CoreV1().ConfigMaps("barelb-system").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	if code := run([]string{"status", "-o", "table"}, nil, &stdout, &stderr); code != exitInvalid {
		t.Fatalf("exit code = %d, want %d; stderr %q", code, exitInvalid, stderr.String())
	}
	if !strings.Contains(stdout.String(), `error: address-pools[0] "a": addresses[0] "198.51.100.1/24": host bits set, did you mean "198.51.100.0/24"? (line 2)`) {
		t.Errorf("table lacks the configuration error:\n%s", stdout.String())
	}

	// A config map that does not exist, under another name.
	stdout.Reset()
	if code := run([]string{"status", "--config-map", "barelb-system/nope", "-o", "json"}, nil, &stdout, &stderr); code != exitInvalid {
		t.Fatalf("exit code = %d, want %d; stderr %q", code, exitInvalid, stderr.String())
	}
	if !strings.Contains(stdout.String(), `"state": "missing"`) {
		t.Errorf("json lacks the missing state:\n%s", stdout.String())
	}
}

// createService creates a LoadBalancer Service in default and writes its
// status: addrs as ingress and cond, if set, as a condition.
func createService(t *testing.T, cs kubernetes.Interface, name string, addrs []string, cond *metav1.Condition) *corev1.Service {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}},
			Selector: map[string]string{"app": name}},
	}
	// Dual-stack when the status will hold both families, as the CCM only
	// ever writes addresses of the Service's families.
	if slices.ContainsFunc(addrs, func(a string) bool { return strings.Contains(a, ":") }) &&
		slices.ContainsFunc(addrs, func(a string) bool { return !strings.Contains(a, ":") }) {
		policy := corev1.IPFamilyPolicyPreferDualStack
		s.Spec.IPFamilyPolicy = &policy
		s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	}
	created, err := cs.CoreV1().Services("default").Create(ctx, s, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("failed to create Service %s: %v", name, err)
	}
	if len(addrs) == 0 && cond == nil {
		return created
	}
	for _, a := range addrs {
		created.Status.LoadBalancer.Ingress = append(created.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: a})
	}
	if cond != nil {
		created.Status.Conditions = append(created.Status.Conditions, *cond)
	}
	updated, err := cs.CoreV1().Services("default").UpdateStatus(ctx, created, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("failed to write the status of Service %s: %v", name, err)
	}
	return updated
}

// createEvent records an Event on svc as the barelb controllers would.
func createEvent(t *testing.T, cs kubernetes.Interface, svc *corev1.Service, typ string, reason contract.EventReason, msg string, at time.Time) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	e := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Namespace: svc.Namespace, GenerateName: svc.Name + "."},
		InvolvedObject: corev1.ObjectReference{Kind: "Service", APIVersion: "v1", Namespace: svc.Namespace, Name: svc.Name,
			UID: svc.UID, ResourceVersion: svc.ResourceVersion},
		Type: typ, Reason: string(reason), Message: msg,
		FirstTimestamp: metav1.NewTime(at), LastTimestamp: metav1.NewTime(at), Count: 1,
		Source: corev1.EventSource{Component: contract.ComponentNodeHelper},
	}
	if reason == contract.ReasonAllocationFailed {
		e.Source.Component = contract.ComponentCCM
	}
	if _, err := cs.CoreV1().Events(svc.Namespace).Create(ctx, e, metav1.CreateOptions{}); err != nil {
		t.Fatalf("failed to create Event: %v", err)
	}
}
