package conformance

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/barelb/barelb/internal/labcluster"
	"github.com/barelb/barelb/internal/poll"
	"github.com/barelb/barelb/nodehelper/election"
)

// Issue 10: the last good configuration survives restarts. With Services
// served (one of a layer2 pool, one of the BGP pool my-ip-space), an invalid
// configuration is applied, and the CCM and the helper announcing the layer2
// Service are killed with SIGKILL and restarted. They must come back on the
// last applied configuration: a new Service of a layer2 pool is served, the
// existing ones keep their addresses, no AddressOrphaned Event appears, and
// the BGP pool's address is never answered on the wire.
func TestRestartOnInvalidConfig(t *testing.T) {
	c := startCluster(t, labcluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	kept := exposed(t, c, labcluster.NewService("default", "kept"))[0]
	owner, err := c.WaitReachable(ctx, kept)
	if err != nil {
		t.Fatal(err)
	}
	// The BGP Service's address is one that the restarted helper would own
	// if it took the address for a layer2 one: it ranks first for it.
	bgpAddr := rankedFirst(t, c, owner, netip.MustParsePrefix("198.51.100.0/24"))
	routed := annotate(labcluster.NewService("default", "routed"),
		"metallb.universe.tf/address-pool", "my-ip-space",
		"metallb.universe.tf/loadBalancerIPs", bgpAddr.String())
	var nodes []string
	for _, n := range c.Lab.Nodes {
		nodes = append(nodes, n.Name)
	}
	if err := c.SetEndpoints(ctx, "default", "routed", nodes...); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateService(ctx, routed); err != nil {
		t.Fatal(err)
	}
	if addrs, err := c.WaitIngress(ctx, "default", "routed"); err != nil || len(addrs) != 1 || addrs[0] != bgpAddr {
		t.Fatalf("routed got %v (%v), want %v", addrs, err, bgpAddr)
	}
	waitEvent(t, c, "default", "routed", "BGPNotSupported", "not announced")
	waitUnanswered(t, c, bgpAddr)

	bad := strings.Replace(labConfig(t), "192.0.2.100-192.0.2.149", "192.0.2.100/33", 1)
	if err := c.ApplyConfig(ctx, bad); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, c, labcluster.Namespace, "config", "InvalidConfig", "192.0.2.100/33")

	for _, name := range []string{"ccm-0", "helper-" + owner} {
		p := c.Proc(name)
		if err := p.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = p.Wait(ctx)
	}
	ccm, err := c.StartCCM(0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.StartHelper(owner); err != nil {
		t.Fatal(err)
	}
	waitReady(t, c, owner)
	waitLog(t, ccm, "barelb is ready")
	waitEvent(t, c, labcluster.Namespace, "config", "ConfigFromLastApplied", "running on the last applied configuration of ")
	metricsURL := "http://" + netip.AddrPortFrom(c.Lab.Node(owner).IPv4.Addr(), 7473).String() + "/metrics"
	poll.For(t, 20*time.Second, "barelb_nodehelper_config_stale 1 on "+owner, func() error {
		body, err := httpBodyIn(ctx, c.Lab.Client, metricsURL)
		if err != nil {
			return err
		}
		if !strings.Contains(body, "barelb_nodehelper_config_stale 1") {
			return fmt.Errorf("not stale")
		}
		return nil
	})

	// (d) The BGP pool's address is never answered, while the restarted
	// helper settles.
	var answered []string
	holdFor(t, 8*time.Second, 100*time.Millisecond, "probing "+bgpAddr.String(), func() error {
		macs, err := arpProbe(c.Lab.Client, bgpAddr, 1, 200*time.Millisecond)
		if err == nil && len(macs) > 0 && answered == nil {
			answered = macs
		}
		return nil
	})
	if answered != nil {
		t.Errorf("the BGP pool's address %v is answered by %v after the restart, want never", bgpAddr, answered)
	}
	// (c) No Service is told its address is orphaned.
	evs, err := c.Admin.CoreV1().Events("").List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("reason", "AddressOrphaned").String(),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs.Items {
		t.Errorf("AddressOrphaned on %s/%s after the restart: %s", e.InvolvedObject.Namespace, e.InvolvedObject.Name, e.Message)
	}
	// (b) The existing Services keep their addresses.
	for name, want := range map[string]netip.Addr{"kept": kept, "routed": bgpAddr} {
		s, err := c.Admin.CoreV1().Services("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := labcluster.IngressAddrs(s); len(got) != 1 || got[0] != want {
			t.Errorf("%s has %v after the restart, had %v", name, got, want)
		}
	}
	if _, err := c.WaitReachable(ctx, kept); err != nil {
		t.Errorf("kept (%v) unreachable after the restart: %v", kept, err)
	}
	// (a) A new Service of an existing layer2 pool gets an address and is
	// reachable.
	fresh := labcluster.NewService("default", "fresh")
	fresh.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	addr := exposed(t, c, fresh)[0]
	if _, err := c.WaitReachable(ctx, addr); err != nil {
		t.Fatalf("fresh (%v) unreachable: %v", addr, err)
	}
}

// rankedFirst returns the first address of p (avoiding .0 and .255) for
// which node has the highest rendezvous weight among the lab's nodes.
func rankedFirst(t *testing.T, c *labcluster.Cluster, node string, p netip.Prefix) netip.Addr {
	t.Helper()
	for a := p.Addr().Next(); p.Contains(a); a = a.Next() {
		if a.As4()[3] == 255 {
			continue
		}
		k := election.GroupKey(a)
		best, bestW := "", uint64(0)
		for _, n := range c.Lab.Nodes {
			if w := election.Weight(n.Name, k); best == "" || w > bestW || (w == bestW && n.Name < best) {
				best, bestW = n.Name, w
			}
		}
		if best == node {
			return a
		}
	}
	t.Fatalf("%s ranks first for no address of %v", node, p)
	return netip.Addr{}
}

// waitLog waits until the process's log holds substr.
func waitLog(t *testing.T, p *labcluster.Process, substr string) {
	t.Helper()
	poll.For(t, 60*time.Second, fmt.Sprintf("%q in %s", substr, p.Log), func() error {
		b, err := os.ReadFile(p.Log)
		if err != nil {
			return err
		}
		// The log is appended to across restarts: look at this run's part.
		if i := strings.LastIndex(string(b), "Starting barelb-ccm"); i >= 0 {
			b = b[i:]
		}
		if !strings.Contains(string(b), substr) {
			return fmt.Errorf("not yet")
		}
		return nil
	})
}
