package manifests

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/barelb/barelb/internal/checkout"
	"github.com/barelb/barelb/internal/controlplane"
)

// Identities of barelb's components: ServiceAccounts in barelb-system.
const (
	namespace  = "barelb-system"
	ccm        = "barelb-ccm"
	nodehelper = "barelb-nodehelper"
)

// kustomizeBuild runs `kustomize build` on this directory and decodes every
// object it prints, in order. It skips t when bin/kustomize is missing,
// unless controlplane.RequireEnv is 1.
func kustomizeBuild(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	bin, err := checkout.Binary("kustomize")
	if errors.Is(err, checkout.ErrBinaryMissing) && os.Getenv(controlplane.RequireEnv) != "1" {
		t.Skipf("kustomize: %v (run hack/build-kustomize.sh)", err)
	}
	if err != nil {
		t.Fatalf("kustomize: %v (run hack/build-kustomize.sh)", err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "build", ".")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kustomize build: %v\n%s", err, stderr.String())
	}
	objs, err := decodeAll(&stdout)
	if err != nil {
		t.Fatalf("kustomize build printed: %v", err)
	}
	return objs
}

// readFile decodes every object of a manifest file.
func readFile(t *testing.T, name string) []*unstructured.Unstructured {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	objs, err := decodeAll(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return objs
}

func decodeAll(r io.Reader) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(r, 4096)
	var out []*unstructured.Unstructured
	for {
		var o unstructured.Unstructured
		if err := dec.Decode(&o.Object); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("failed to decode object %d: %w", len(out), err)
		}
		if len(o.Object) > 0 {
			out = append(out, &o)
		}
	}
}

// key names an object as "Kind namespace/name".
func key(o *unstructured.Unstructured) string {
	return o.GetKind() + " " + o.GetNamespace() + "/" + o.GetName()
}

func TestKustomizeBuild(t *testing.T) {
	t.Parallel()
	var got []string
	for _, o := range kustomizeBuild(t) {
		got = append(got, key(o))
	}
	sort.Strings(got)
	want := []string{
		"ClusterRole /barelb:ccm",
		"ClusterRole /barelb:nodehelper",
		"ClusterRoleBinding /barelb:ccm",
		"ClusterRoleBinding /barelb:nodehelper",
		"DaemonSet barelb-system/barelb-nodehelper",
		"Deployment barelb-system/barelb-ccm",
		"Namespace /barelb-system",
		"Role barelb-system/barelb:ccm",
		"Role barelb-system/barelb:nodehelper",
		"RoleBinding barelb-system/barelb:ccm",
		"RoleBinding barelb-system/barelb:nodehelper",
		"RoleBinding kube-system/barelb:ccm:extension-apiserver-authentication-reader",
		"ServiceAccount barelb-system/barelb-ccm",
		"ServiceAccount barelb-system/barelb-nodehelper",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kustomize build objects (-want +got):\n%s", diff)
	}
}

// grant is one right, as RBAC expands it: a verb on a resource (or
// subresource) of a group, in a namespace ("" means every namespace and the
// cluster scope), on one named object or ("" name) on all of them.
type grant struct {
	Namespace, Group, Resource, Verb, Name string
}

func (g grant) String() string {
	s := fmt.Sprintf("%s %s/%s", g.Verb, g.Group, g.Resource)
	if g.Name != "" {
		s += " " + g.Name
	}
	if g.Namespace != "" {
		s += " in " + g.Namespace
	}
	return s
}

// grants expands the rules bound to each ServiceAccount of barelb-system.
// Bindings to roles not in objs (e.g. the apiserver's built-in
// extension-apiserver-authentication-reader) expand to a grant named after
// the role, since its rules are not in the manifests.
func grants(t *testing.T, objs []*unstructured.Unstructured) map[string][]string {
	t.Helper()
	roles := map[string][]rbacv1.PolicyRule{} // "Kind namespace/name"
	for _, o := range objs {
		switch o.GetKind() {
		case "Role", "ClusterRole":
			var r rbacv1.ClusterRole // a Role's fields are a subset
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &r); err != nil {
				t.Fatalf("%s: %v", key(o), err)
			}
			roles[key(o)] = r.Rules
		}
	}
	out := map[string][]string{}
	for _, o := range objs {
		if o.GetKind() != "RoleBinding" && o.GetKind() != "ClusterRoleBinding" {
			continue
		}
		var b rbacv1.RoleBinding
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &b); err != nil {
			t.Fatalf("%s: %v", key(o), err)
		}
		roleKey := b.RoleRef.Kind + " /" + b.RoleRef.Name
		if b.RoleRef.Kind == "Role" {
			roleKey = "Role " + b.Namespace + "/" + b.RoleRef.Name
		}
		for _, s := range b.Subjects {
			if s.Kind != rbacv1.ServiceAccountKind || s.Namespace != namespace {
				t.Errorf("%s binds %s %s/%s: only barelb's ServiceAccounts are expected", key(o), s.Kind, s.Namespace, s.Name)
				continue
			}
			rules, ok := roles[roleKey]
			if !ok {
				out[s.Name] = append(out[s.Name], fmt.Sprintf("role %s in %s", b.RoleRef.Name, b.Namespace))
				continue
			}
			for _, g := range expand(rules, b.Namespace) {
				out[s.Name] = append(out[s.Name], g.String())
			}
		}
	}
	for _, gs := range out {
		sort.Strings(gs)
	}
	return out
}

// expand lists every grant of rules in namespace.
func expand(rules []rbacv1.PolicyRule, namespace string) []grant {
	var out []grant
	for _, r := range rules {
		names := r.ResourceNames
		if len(names) == 0 {
			names = []string{""}
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					for _, n := range names {
						out = append(out, grant{Namespace: namespace, Group: g, Resource: res, Verb: v, Name: n})
					}
				}
			}
		}
	}
	return out
}

// TestLeastPrivilege pins every right each identity is granted: no rule uses
// "*" or a non-resource URL, and anything beyond this list is a failure, so a
// broader grant needs a reason and a change here.
func TestLeastPrivilege(t *testing.T) {
	t.Parallel()
	objs := kustomizeBuild(t)
	for _, o := range objs {
		if o.GetKind() != "Role" && o.GetKind() != "ClusterRole" {
			continue
		}
		var r rbacv1.ClusterRole
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &r); err != nil {
			t.Fatal(err)
		}
		if r.AggregationRule != nil {
			t.Errorf("%s aggregates other roles", key(o))
		}
		for i, rule := range r.Rules {
			all := append(append(append(append([]string{}, rule.APIGroups...), rule.Resources...), rule.Verbs...), rule.ResourceNames...)
			for _, s := range all {
				if strings.Contains(s, "*") {
					t.Errorf("%s rules[%d] uses %q", key(o), i, s)
				}
			}
			if len(rule.NonResourceURLs) > 0 {
				t.Errorf("%s rules[%d] grants non-resource URLs %v", key(o), i, rule.NonResourceURLs)
			}
		}
	}

	want := map[string][]string{
		ccm: {
			"create authentication.k8s.io/tokenreviews",
			"create authorization.k8s.io/subjectaccessreviews",
			"create coordination.k8s.io/leases in barelb-system",
			"create /configmaps in barelb-system",
			"create /events",
			"get /configmaps barelb-last-applied-config in barelb-system",
			"get /configmaps config in barelb-system",
			"get /nodes",
			"get /services",
			"get coordination.k8s.io/leases cloud-controller-manager in barelb-system",
			"list /configmaps config in barelb-system",
			"list /nodes",
			"list /services",
			"patch /events",
			"patch /services",
			"patch /services/status",
			"role extension-apiserver-authentication-reader in kube-system",
			"update /configmaps barelb-last-applied-config in barelb-system",
			"update /services",
			"update /services/status",
			"update coordination.k8s.io/leases cloud-controller-manager in barelb-system",
			"watch /configmaps config in barelb-system",
			"watch /nodes",
			"watch /services",
		},
		nodehelper: {
			"create /events",
			"get /configmaps barelb-last-applied-config in barelb-system",
			"get /configmaps config in barelb-system",
			"get /nodes",
			"get /secrets memberlist in barelb-system",
			"get /services",
			"get discovery.k8s.io/endpointslices",
			"list /configmaps barelb-last-applied-config in barelb-system",
			"list /configmaps config in barelb-system",
			"list /nodes",
			"list /secrets memberlist in barelb-system",
			"list /services",
			"list discovery.k8s.io/endpointslices",
			"patch /events",
			"patch /services/status",
			"watch /configmaps barelb-last-applied-config in barelb-system",
			"watch /configmaps config in barelb-system",
			"watch /nodes",
			"watch /secrets memberlist in barelb-system",
			"watch /services",
			"watch discovery.k8s.io/endpointslices",
		},
	}
	for _, w := range want {
		sort.Strings(w)
	}
	if diff := cmp.Diff(want, grants(t, objs)); diff != "" {
		t.Errorf("granted rights (-want +got):\n%s", diff)
	}
}

// dockerfileUser returns the last USER of a Dockerfile in the repository root.
func dockerfileUser(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", name))
	if err != nil {
		t.Fatal(err)
	}
	var user string
	for _, l := range strings.Split(string(b), "\n") {
		if u, ok := strings.CutPrefix(strings.TrimSpace(l), "USER "); ok {
			user = strings.TrimSpace(u)
		}
	}
	return user
}

// TestWorkloadSecurity pins each container's image, the user it runs as (the
// same as its Dockerfile's USER) and its capabilities: nothing escalates,
// the root file system is read-only, every capability is dropped and only
// the listed ones are added back.
func TestWorkloadSecurity(t *testing.T) {
	t.Parallel()
	type container struct {
		Image          string
		RunAsUser      int64
		RunAsNonRoot   bool
		Escalation     bool
		ReadOnlyRoot   bool
		Drop, Add      []corev1.Capability
		HostNetwork    bool
		DockerfileUser string
	}
	b := func(p *bool) bool { return p != nil && *p }
	got := map[string]container{}
	for _, o := range kustomizeBuild(t) {
		var dockerfile string
		switch o.GetKind() {
		case "Deployment":
			dockerfile = "Dockerfile.ccm"
		case "DaemonSet":
			dockerfile = "Dockerfile.nodehelper"
		default:
			continue
		}
		var w struct {
			Spec struct {
				Template corev1.PodTemplateSpec `json:"template"`
			} `json:"spec"`
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &w); err != nil {
			t.Fatal(err)
		}
		pod := w.Spec.Template.Spec
		for _, c := range pod.Containers {
			sc := c.SecurityContext
			if sc == nil || sc.Capabilities == nil {
				t.Fatalf("%s container %s: no securityContext.capabilities", key(o), c.Name)
			}
			cc := container{
				Image:          c.Image,
				Escalation:     sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation,
				ReadOnlyRoot:   b(sc.ReadOnlyRootFilesystem),
				Drop:           sc.Capabilities.Drop,
				Add:            sc.Capabilities.Add,
				HostNetwork:    pod.HostNetwork,
				DockerfileUser: dockerfileUser(t, dockerfile),
			}
			for _, psc := range []*corev1.SecurityContext{{RunAsUser: podUser(pod.SecurityContext), RunAsNonRoot: podNonRoot(pod.SecurityContext)}, sc} {
				if psc.RunAsUser != nil {
					cc.RunAsUser = *psc.RunAsUser
				}
				if psc.RunAsNonRoot != nil {
					cc.RunAsNonRoot = *psc.RunAsNonRoot
				}
			}
			got[o.GetName()+"/"+c.Name] = cc
		}
	}
	want := map[string]container{
		"barelb-ccm/ccm": {
			Image: "barelb/barelb-ccm:latest", RunAsUser: 65532, RunAsNonRoot: true, ReadOnlyRoot: true,
			Drop: []corev1.Capability{"ALL"}, DockerfileUser: "65532:65532",
		},
		// Root with only the capabilities it needs: NET_RAW for ARP and NDP
		// sockets, SYS_NICE to raise its scheduling priority.
		"barelb-nodehelper/nodehelper": {
			Image: "barelb/barelb-nodehelper:latest", RunAsUser: 0, ReadOnlyRoot: true, HostNetwork: true,
			Drop: []corev1.Capability{"ALL"}, Add: []corev1.Capability{"NET_RAW", "SYS_NICE"}, DockerfileUser: "0:0",
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("containers (-want +got):\n%s", diff)
	}
}

func podUser(p *corev1.PodSecurityContext) *int64 {
	if p == nil {
		return nil
	}
	return p.RunAsUser
}

func podNonRoot(p *corev1.PodSecurityContext) *bool {
	if p == nil {
		return nil
	}
	return p.RunAsNonRoot
}
