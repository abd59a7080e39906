package cloudprovider_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/barelb/barelb/internal/poll"
)

// TestAdoptBeforeAllocate writes statuses while no CCM runs, as a previous CCM
// would have, then starts one: existing addresses are adopted before anything is
// allocated, and of two Services claiming one address the older keeps it.
func TestAdoptBeforeAllocate(t *testing.T) {
	c := newCluster(t)
	c.setConfig(t, testConfig)
	ctx := context.Background()
	setStatus := func(name, ip string) {
		t.Helper()
		svc, err := c.client.CoreV1().Services("test").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		svc.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: ip}}
		if _, err := c.client.CoreV1().Services("test").UpdateStatus(ctx, svc, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	c.create(t, lbService("holder", nil))
	setStatus("holder", "198.51.100.0")
	c.create(t, lbService("old", nil))
	setStatus("old", "198.51.100.5")
	// Creation timestamps have a resolution of one second.
	poll.For(t, 5*time.Second, "a later creation timestamp", func() error {
		old, err := c.client.CoreV1().Services("test").Get(ctx, "old", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if age := time.Since(old.CreationTimestamp.Time); age <= 1100*time.Millisecond {
			return fmt.Errorf("old created %v ago", age)
		}
		return nil
	})
	c.create(t, lbService("young", nil))
	setStatus("young", "198.51.100.5")
	c.create(t, lbService("fresh", nil))

	c.startCCM(t, ccmOptions{})
	// fresh and young (after losing the conflict) get .1 and .2, in either order.
	if got := c.waitAddresses(t, "fresh", 30*time.Second); len(got) != 1 || (got[0] != "198.51.100.1" && got[0] != "198.51.100.2") {
		t.Errorf("fresh got %v, want 198.51.100.1 or .2 (.0 and .5 are adopted)", got)
	}
	c.waitEvent(t, "test", "young", "AddressConflict", "198.51.100.5", 10*time.Second)
	poll.For(t, 10*time.Second, "young moved off 198.51.100.5", func() error {
		if ips := c.addresses(t, "young"); len(ips) != 1 || ips[0] == "198.51.100.5" {
			return fmt.Errorf("young has %v", ips)
		}
		return nil
	})
	checkNoDuplicates(t, c.snapshot(t))
	for name, want := range map[string][]string{"holder": {"198.51.100.0"}, "old": {"198.51.100.5"}} {
		if diff := cmp.Diff(want, c.addresses(t, name)); diff != "" {
			t.Errorf("%s: addresses (-want +got):\n%s", name, diff)
		}
	}
}
