package conformance

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/barelb/barelb/internal/labcluster"
	"github.com/barelb/barelb/internal/poll"
)

// Cases 5, 6 and 7: traffic policy Local, excluded nodes, shared addresses.
func TestAnnouncementPolicies(t *testing.T) {
	c := startCluster(t, labcluster.Options{})

	t.Run("local policy follows the ready endpoint", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s := labcluster.NewService("default", "local")
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		addr := exposed(t, c, s, "node2")[0]
		waitAnsweredBy(t, c, addr, "node2")
		if err := c.SetEndpoints(ctx, "default", "local", "node3"); err != nil {
			t.Fatal(err)
		}
		waitAnsweredBy(t, c, addr, "node3")
		if err := c.SetEndpoints(ctx, "default", "local"); err != nil {
			t.Fatal(err)
		}
		waitUnanswered(t, c, addr)
		waitCondition(t, c, "default", "local", metav1.ConditionFalse, "no ready local endpoint")
		waitEvent(t, c, "default", "local", "NotAnnounced", "no ready local endpoint")
	})

	t.Run("excluded node never announces", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		n, err := c.Admin.CoreV1().Nodes().Get(ctx, "node1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.Labels[corev1.LabelNodeExcludeBalancers] = "true"
		if _, err := c.Admin.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		defer func() {
			n, _ := c.Admin.CoreV1().Nodes().Get(context.Background(), "node1", metav1.GetOptions{})
			delete(n.Labels, corev1.LabelNodeExcludeBalancers)
			_, _ = c.Admin.CoreV1().Nodes().Update(context.Background(), n, metav1.UpdateOptions{})
		}()
		// Several Services, so that node1 would win some of them.
		for i := 0; i < 6; i++ {
			name := fmt.Sprintf("excl-%d", i)
			addr := exposed(t, c, labcluster.NewService("default", name))[0]
			owner, err := c.WaitReachable(ctx, addr)
			if err != nil {
				t.Fatal(err)
			}
			if owner == "node1" {
				t.Errorf("%v is announced by the excluded node1", addr)
			}
		}
		// Only node1 may serve this one: nobody announces it, and says why.
		s := labcluster.NewService("default", "excl-only")
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		exposed(t, c, s, "node1")
		waitCondition(t, c, "default", "excl-only", metav1.ConditionFalse, "excluded by label: node1")
	})

	t.Run("shared address has one owner", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		a := annotate(labcluster.NewService("default", "share-a"), "metallb.universe.tf/allow-shared-ip", "k1")
		a.Spec.Ports = a.Spec.Ports[:1] // UDP
		addrA := exposed(t, c, a)[0]
		b := annotate(labcluster.NewService("default", "share-b"), "metallb.universe.tf/allow-shared-ip", "k1",
			"metallb.universe.tf/loadBalancerIPs", addrA.String())
		b.Spec.Ports = b.Spec.Ports[1:] // TCP
		addrB := exposed(t, c, b)[0]
		if addrA != addrB {
			t.Fatalf("share-a has %v, share-b %v: want one shared address", addrA, addrB)
		}
		owner, err := c.WaitReachable(ctx, addrA)
		if err != nil {
			t.Fatal(err)
		}
		ca := waitCondition(t, c, "default", "share-a", metav1.ConditionTrue, owner)
		cb := waitCondition(t, c, "default", "share-b", metav1.ConditionTrue, owner)
		if !strings.Contains(ca.Message, owner) || !strings.Contains(cb.Message, owner) {
			t.Errorf("conditions %q and %q, want both from %s", ca.Message, cb.Message, owner)
		}
		if macs := answeringMACs(t, c, addrA); len(macs) != 1 {
			t.Errorf("%d MACs answer for the shared %v, want 1", len(macs), addrA)
		}
	})
}

// waitAnsweredBy waits until requests to addr are answered by node.
func waitAnsweredBy(t *testing.T, c *labcluster.Cluster, a netip.Addr, node string) {
	t.Helper()
	waitAnswer(t, c, a, "answered by "+node, func(n string) bool { return n == node })
}

// waitAnswer waits until a request to addr is answered by a node for which
// ok holds; want describes that for the failure message.
func waitAnswer(t *testing.T, c *labcluster.Cluster, addr netip.Addr, want string, ok func(node string) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var last string
	err := poll.Until(ctx, 50*time.Millisecond, func() (bool, error) {
		actx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		n, err := c.Ask(actx, addr)
		last = n
		return err == nil && ok(n), nil
	})
	if err != nil {
		t.Fatalf("%v not %s (last answer from %q): %v", addr, want, last, err)
	}
}

// waitUnanswered waits until no node answers ARP for addr.
func waitUnanswered(t *testing.T, c *labcluster.Cluster, a netip.Addr) {
	t.Helper()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := poll.Until(ctx, 100*time.Millisecond, func() (bool, error) {
		macs, err := arpProbe(c.Lab.Client, a, 2, 200*time.Millisecond)
		return err == nil && len(macs) == 0, nil
	})
	if err != nil {
		t.Fatalf("%v is still announced: %v", a, err)
	}
}
