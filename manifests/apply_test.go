package manifests

import (
	"context"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/barelb/barelb/internal/controlplane"
)

// fieldManager is this test's server-side apply identity, as kubectl's would be.
const fieldManager = "barelb-manifests-test"

// warnings collects the apiserver's warning headers (e.g. PodSecurity's).
type warnings struct {
	mu   sync.Mutex
	list []string
}

// HandleWarningHeader implements rest.WarningHandler.
func (w *warnings) HandleWarningHeader(code int, _ string, text string) {
	if code != 299 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

// take returns and forgets the warnings so far.
func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	return out
}

// applier applies unstructured objects with server-side apply.
type applier struct {
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
	warn   *warnings
}

func newApplier(t *testing.T, cp *controlplane.ControlPlane) *applier {
	t.Helper()
	cfg := rest.CopyConfig(cp.RESTConfig())
	w := &warnings{}
	cfg.WarningHandler = w
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &applier{dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc)), warn: w}
}

// resource returns the client of o's resource in o's namespace.
func (a *applier) resource(t *testing.T, o *unstructured.Unstructured) dynamic.ResourceInterface {
	t.Helper()
	gvk := o.GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		t.Fatalf("%s: %v", key(o), err)
	}
	if o.GetNamespace() == "" {
		return a.dyn.Resource(m.Resource)
	}
	return a.dyn.Resource(m.Resource).Namespace(o.GetNamespace())
}

// apply applies o for real or, with dryRun, as `kubectl apply --server-side
// --dry-run=server` does.
func (a *applier) apply(ctx context.Context, t *testing.T, o *unstructured.Unstructured, dryRun bool) (*unstructured.Unstructured, error) {
	t.Helper()
	opts := metav1.ApplyOptions{FieldManager: fieldManager}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	return a.resource(t, o).Apply(ctx, o.GetName(), o, opts)
}

// TestCluster runs the tests that need a real kube-apiserver against one
// control plane, in order: apply installs what the others use.
func TestCluster(t *testing.T) {
	objs := kustomizeBuild(t)
	cp := controlplane.ForTest(t)
	admin, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	a := newApplier(t, cp)
	if !t.Run("apply", func(t *testing.T) { testApply(t, a, append(objs, readFile(t, "minimal-config.yaml")...)) }) {
		t.FailNow()
	}
	t.Run("pod security", func(t *testing.T) { testPodSecurity(t, admin, a, objs) })
	t.Run("access", func(t *testing.T) { testAccess(t, cp, admin) })
}

// testApply applies objs to a real kube-apiserver, each first with a
// server-side dry run (which must succeed and persist nothing) and then for
// real; applying everything again must change nothing.
func testApply(t *testing.T, a *applier, objs []*unstructured.Unstructured) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	versions := map[string]string{}
	for _, o := range objs {
		if _, err := a.apply(ctx, t, o, true); err != nil {
			t.Fatalf("dry run of %s: %v", key(o), err)
		}
		if _, err := a.resource(t, o).Get(ctx, o.GetName(), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("after the dry run of %s: Get = %v, want NotFound", key(o), err)
		}
		got, err := a.apply(ctx, t, o, false)
		if err != nil {
			t.Fatalf("apply of %s: %v", key(o), err)
		}
		versions[key(o)] = got.GetResourceVersion()
	}
	if w := a.warn.take(); len(w) > 0 {
		t.Errorf("applying the manifests warned: %q", w)
	}
	for _, o := range objs {
		got, err := a.apply(ctx, t, o, false)
		if err != nil {
			t.Fatalf("second apply of %s: %v", key(o), err)
		}
		if got.GetResourceVersion() != versions[key(o)] {
			t.Errorf("second apply of %s changed it: resourceVersion %s -> %s", key(o), versions[key(o)], got.GetResourceVersion())
		}
	}
}

// testPodSecurity shows which Pod Security Standard each workload meets, by
// PodSecurity admission's warnings on a server-side dry run into namespaces
// that warn at a level: the CCM meets "restricted"; the node helper meets
// "baseline" but for the host network and NET_RAW, both needed to answer ARP
// and NDP, which is why barelb-system is labelled privileged.
func testPodSecurity(t *testing.T, admin kubernetes.Interface, a *applier, objs []*unstructured.Unstructured) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	workloads := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		workloads[o.GetKind()] = o
	}

	tests := []struct {
		name  string
		kind  string
		level string
		want  []string // the PodSecurity checks violated
	}{
		{name: "ccm restricted", kind: "Deployment", level: "restricted"},
		{name: "nodehelper baseline", kind: "DaemonSet", level: "baseline", want: []string{"host namespaces", "non-default capabilities"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
				Name:   "psa-" + tt.level,
				Labels: map[string]string{"pod-security.kubernetes.io/warn": tt.level},
			}}
			if _, err := admin.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			o := workloads[tt.kind].DeepCopy()
			o.SetNamespace(ns.Name)
			if _, err := a.apply(ctx, t, o, true); err != nil {
				t.Fatalf("dry run of %s: %v", key(o), err)
			}
			var got []string
			for _, w := range a.warn.take() {
				t.Logf("%s at %s: %s", tt.kind, tt.level, w)
				got = append(got, violatedChecks(w)...)
			}
			sort.Strings(got)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("PodSecurity checks violated at %s (-want +got):\n%s", tt.level, diff)
			}
		})
	}
}

// violatedChecks returns the check names of a PodSecurity warning, which reads
// `would violate PodSecurity "LEVEL:VERSION": check (details), check (details)`.
// Names, not details, so a test states which rules a workload breaks
// without repeating the server's wording of each.
func violatedChecks(warning string) []string {
	_, list, ok := strings.Cut(warning, `": `)
	if !ok {
		return []string{warning}
	}
	var out []string
	depth, start := 0, 0
	for i, r := range list {
		switch {
		case r == '(':
			if depth == 0 {
				out = append(out, strings.TrimSpace(list[start:i]))
			}
			depth++
		case r == ')':
			depth--
		case r == ',' && depth == 0:
			start = i + 1
		}
	}
	return out
}
