package conformance

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/barelb/barelb/internal/labcluster"
)

// Case 9: config edits and BGP pools.
func TestConfigEdits(t *testing.T) {
	c := startCluster(t, labcluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := labConfig(t)

	t.Run("BGP pool assigns but does not announce", func(t *testing.T) {
		s := annotate(labcluster.NewService("default", "routed"), "metallb.universe.tf/address-pool", "my-ip-space")
		if _, err := c.CreateService(ctx, s); err != nil {
			t.Fatal(err)
		}
		addrs, err := c.WaitIngress(ctx, "default", "routed")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(addrs[0].String(), "198.51.100.") {
			t.Errorf("routed got %v, want an address of my-ip-space (198.51.100.0/24)", addrs)
		}
		waitEvent(t, c, "default", "routed", "BGPNotSupported", "not announced")
	})

	t.Run("new pool serves a pending Service within 2 s", func(t *testing.T) {
		s := annotate(labcluster.NewService("default", "pending"), "metallb.universe.tf/address-pool", "extra")
		if _, err := c.CreateService(ctx, s); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, c, "default", "pending", "AllocationFailed", "extra")
		extra := strings.Replace(base, "address-pools:\n", "address-pools:\n- name: extra\n  protocol: layer2\n  addresses: [192.0.2.200-192.0.2.209]\n", 1)
		applied := time.Now()
		if err := c.ApplyConfig(ctx, extra); err != nil {
			t.Fatal(err)
		}
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		defer wcancel()
		addrs, err := c.WaitIngress(wctx, "default", "pending")
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(applied)
		record("new pool → pending Service served", []time.Duration{took})
		if took > 2*time.Second {
			t.Errorf("pending Service got %v %v after the pool was added, want ≤ 2 s", addrs, took)
		}
	})

	t.Run("invalid config is not applied and is reported", func(t *testing.T) {
		bad := strings.Replace(base, "192.0.2.100-192.0.2.149", "192.0.2.100/33", 1)
		if err := c.ApplyConfig(ctx, bad); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, c, labcluster.Namespace, "config", "InvalidConfig", "192.0.2.100/33")
		// The old pools keep serving.
		s := labcluster.NewService("default", "after-bad")
		addr := exposed(t, c, s)[0]
		if _, err := c.WaitReachable(ctx, addr); err != nil {
			t.Fatal(err)
		}
		got, err := c.Admin.CoreV1().Services("default").Get(ctx, "after-bad", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Status.LoadBalancer.Ingress) == 0 {
			t.Fatal("no address under the last good config")
		}
	})
}
