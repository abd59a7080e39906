package conformance

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"

	"github.com/barelb/barelb/internal/labcluster"
)

// The annotation keys, spelled out: the suite checks what users write.
const (
	ioLoadBalancerIPs     = "metallb.io/loadBalancerIPs"
	ioAddressPool         = "metallb.io/address-pool"
	legacyLoadBalancerIPs = "metallb.universe.tf/loadBalancerIPs"
)

// TestAnnotationPrefixes: the metallb.io/ annotations work like the
// metallb.universe.tf/ ones; the two disagreeing is a Warning Event, with no
// address allocated and none taken away.
func TestAnnotationPrefixes(t *testing.T) {
	c := startCluster(t, labcluster.Options{})

	t.Run("metallb.io annotations are honoured", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		want := netip.MustParseAddr("192.0.2.140") // in pool lab, not its lowest
		addrs := exposed(t, c, annotate(labcluster.NewService("default", "io-ip"), ioLoadBalancerIPs, want.String()))
		if !slices.Equal(addrs, []netip.Addr{want}) {
			t.Fatalf("Service with %s=%s got %v", ioLoadBalancerIPs, want, addrs)
		}
		if _, err := c.WaitReachable(ctx, want); err != nil {
			t.Fatal(err)
		}
		manual := netip.MustParsePrefix("192.0.2.128/26") // lab-manual is 192.0.2.150-199
		addrs = exposed(t, c, annotate(labcluster.NewService("default", "io-pool"), ioAddressPool, "lab-manual"))
		if len(addrs) != 1 || !manual.Contains(addrs[0]) || addrs[0].Less(netip.MustParseAddr("192.0.2.150")) {
			t.Fatalf("Service with %s=lab-manual got %v, want one of 192.0.2.150-192.0.2.199", ioAddressPool, addrs)
		}
	})

	t.Run("conflicting prefixes allocate nothing", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s := annotate(labcluster.NewService("default", "conflicting"),
			ioLoadBalancerIPs, "192.0.2.141", legacyLoadBalancerIPs, "192.0.2.142")
		if err := c.SetEndpoints(ctx, "default", "conflicting", "node1"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CreateService(ctx, s); err != nil {
			t.Fatal(err)
		}
		waitWarning(t, c, "default", "conflicting", "AllocationFailed",
			`annotations metallb.io/loadBalancerIPs "192.0.2.141" and metallb.universe.tf/loadBalancerIPs "192.0.2.142": conflicting values`)
		holdFor(t, 3*time.Second, 100*time.Millisecond, "Service with conflicting annotations", func() error {
			got, err := c.Admin.CoreV1().Services("default").Get(ctx, "conflicting", metav1.GetOptions{})
			if err != nil {
				return nil
			}
			if in := labcluster.IngressAddrs(got); len(in) > 0 {
				return fmt.Errorf("got addresses %v", in)
			}
			return nil
		})
	})

	t.Run("a conflicting edit keeps the address", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		held := netip.MustParseAddr("192.0.2.143")
		addrs := exposed(t, c, annotate(labcluster.NewService("default", "kept"), legacyLoadBalancerIPs, held.String()))
		if !slices.Equal(addrs, []netip.Addr{held}) {
			t.Fatalf("got %v, want %v", addrs, held)
		}
		if _, err := c.WaitReachable(ctx, held); err != nil {
			t.Fatal(err)
		}
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"192.0.2.144"}}}`, ioLoadBalancerIPs)
		if _, err := c.Admin.CoreV1().Services("default").Patch(ctx, "kept", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		waitWarning(t, c, "default", "kept", "AllocationFailed",
			`annotations metallb.io/loadBalancerIPs "192.0.2.144" and metallb.universe.tf/loadBalancerIPs "192.0.2.143": conflicting values`)
		// Another Service asking for the held address does not get it.
		thief := annotate(labcluster.NewService("default", "thief"), ioLoadBalancerIPs, held.String())
		if _, err := c.CreateService(ctx, thief); err != nil {
			t.Fatal(err)
		}
		waitWarning(t, c, "default", "thief", "AllocationFailed", held.String()+" is held by default/kept")
		holdFor(t, 3*time.Second, 200*time.Millisecond, "Service kept after a conflicting edit", func() error {
			got, err := c.Admin.CoreV1().Services("default").Get(ctx, "kept", metav1.GetOptions{})
			if err != nil {
				return nil
			}
			if in := labcluster.IngressAddrs(got); !slices.Equal(in, []netip.Addr{held}) {
				return fmt.Errorf("status shows %v, want %v", in, held)
			}
			actx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			if _, err := c.Ask(actx, held); err != nil {
				return fmt.Errorf("%v not answered: %w", held, err)
			}
			return nil
		})
	})
}

// TestIgnoreExcludeLB: on a single-node cluster whose node carries
// node.kubernetes.io/exclude-from-external-load-balancers (as kubeadm and
// Talos label control-plane nodes), the CCM still allocates (the service
// controller hands it an empty node list, which barelb does not use), the node
// helper announces nothing and says why, and with --ignore-exclude-lb it
// answers ARP.
func TestIgnoreExcludeLB(t *testing.T) {
	c := startCluster(t, labcluster.Options{Nodes: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n, err := c.Admin.CoreV1().Nodes().Get(ctx, "node1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Labels[corev1.LabelNodeExcludeBalancers] = "" // kubeadm's value
	if _, err := c.Admin.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	addr := exposed(t, c, labcluster.NewService("default", "solo"))[0]
	waitWarning(t, c, "default", "solo", "UnAvailableLoadBalancer", "no available nodes")
	waitCondition(t, c, "default", "solo", metav1.ConditionFalse, "excluded by label: node1")
	waitWarning(t, c, "default", "solo", "NotAnnounced", "excluded by label: node1")
	waitUnanswered(t, c, addr)

	p := c.Proc("helper-node1")
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(ctx); err != nil && ctx.Err() != nil {
		t.Fatal(err)
	}
	if _, err := c.StartHelper("node1", "--ignore-exclude-lb"); err != nil {
		t.Fatal(err)
	}
	waitAnsweredBy(t, c, addr, "node1")
	waitCondition(t, c, "default", "solo", metav1.ConditionTrue, "node1")
}

// waitWarning waits for a Warning Event with reason on the named object whose
// message contains substr.
func waitWarning(t *testing.T, c *labcluster.Cluster, namespace, object, reason, substr string) {
	t.Helper()
	msg := waitEvent(t, c, namespace, object, reason, substr)
	sel := fields.Set{"involvedObject.name": object, "reason": reason}.AsSelector().String()
	evs, err := c.Admin.CoreV1().Events(namespace).List(context.Background(), metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs.Items {
		if e.Message == msg && e.Type != corev1.EventTypeWarning {
			t.Errorf("%s Event on %s/%s %q is of type %s, want Warning", reason, namespace, object, msg, e.Type)
		}
	}
}
