package cloudprovider_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestShippedRBAC runs the binary as the barelb-ccm ServiceAccount with only the
// rights of manifests/ccm-rbac.yaml and the flags of manifests/ccm.yaml.
func TestShippedRBAC(t *testing.T) {
	c := newCluster(t)
	if err := c.cp.Apply(context.Background(), "../manifests/ccm-rbac.yaml"); err != nil {
		t.Fatal(err)
	}
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
