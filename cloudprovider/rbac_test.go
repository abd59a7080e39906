package cloudprovider_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
)

// TestShippedRBAC runs the binary as the barelb-ccm ServiceAccount with only the
// rights of manifests/ccm-rbac.yaml and the flags of manifests/ccm.yaml.
func TestShippedRBAC(t *testing.T) {
	c := newCluster(t)
	c.applyRBAC(t, "../manifests/ccm-rbac.yaml")
	c.setConfig(t, testConfig)
	ctx := context.Background()
	token, err := c.cp.ServiceAccountToken(ctx, "barelb-system", "barelb-ccm")
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := c.cp.WriteKubeconfig(kubeconfig, token); err != nil {
		t.Fatal(err)
	}
	p := c.startCCM(t, ccmOptions{kubeconfig: kubeconfig, leaderElect: true, securePort: true, extraArgs: []string{
		"--controllers=service", "--use-service-account-credentials=false", "--configure-cloud-routes=false",
	}})
	c.create(t, lbService("rbac", nil))
	if diff := cmp.Diff([]string{"198.51.100.0"}, c.waitAddresses(t, "rbac", 30*time.Second)); diff != "" {
		t.Errorf("addresses (-want +got):\n%s", diff)
	}
	c.waitEvent(t, "test", "rbac", "IPAllocated", "198.51.100.0", 10*time.Second)
	c.remove(t, "rbac")
	if !strings.Contains(scrape(t, p.metrics), "barelb_pool_addresses") {
		t.Error("metrics lack barelb_pool_addresses")
	}
	log, err := os.ReadFile(p.Log)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(log), "\n") {
		if strings.Contains(line, "forbidden") {
			t.Errorf("CCM was refused something: %s", line)
		}
	}
}

// applyRBAC creates the objects of an RBAC manifest.
func (c *cluster) applyRBAC(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, doc := range strings.Split(string(data), "\n---") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatalf("failed to decode %s: %v", path, err)
		}
		switch o := obj.(type) {
		case *v1.ServiceAccount:
			_, err = c.client.CoreV1().ServiceAccounts(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.ClusterRole:
			_, err = c.client.RbacV1().ClusterRoles().Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.ClusterRoleBinding:
			_, err = c.client.RbacV1().ClusterRoleBindings().Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.Role:
			_, err = c.client.RbacV1().Roles(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.RoleBinding:
			_, err = c.client.RbacV1().RoleBindings(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		default:
			t.Fatalf("unexpected %T in %s", obj, path)
		}
		if err != nil {
			t.Fatalf("failed to create %T from %s: %v", obj, path, err)
		}
	}
}
