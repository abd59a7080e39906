package conformance

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/barelb/barelb/internal/lab"
	"github.com/barelb/barelb/internal/labcluster"
	"github.com/barelb/barelb/internal/poll"
)

// The service LAN of TestOwnerWithoutServiceLinkYields and its pool.
var (
	serviceLAN4 = netip.MustParsePrefix("203.0.113.0/24")
	serviceLAN6 = netip.MustParsePrefix("2001:db8:5::/64")
)

const serviceLANPool = `- name: service-lan
  protocol: layer2
  auto-assign: false
  addresses:
  - 203.0.113.100-203.0.113.149
  - 2001:db8:5::100-2001:db8:5::1ff
`

// TestOwnerWithoutServiceLinkYields: the nodes gossip on one LAN and serve a
// dual-stack address from a second, the service LAN. When the owner's
// service cable is cut, its gossip stays up, so no peer sees it die; yet it
// can no longer announce the address, and a peer that can takes it within
// 1 s, both families. When the cable comes back, the address is announced
// again by exactly one node.
func TestOwnerWithoutServiceLinkYields(t *testing.T) {
	c := startCluster(t, labcluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	lan, err := c.Lab.AddServiceLAN(ctx, serviceLAN4, serviceLAN6)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(labConfig(t), "address-pools:\n", "address-pools:\n"+serviceLANPool, 1)
	if err := c.ApplyConfig(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	s := annotate(labcluster.NewService("default", "second-nic"), "metallb.universe.tf/address-pool", "service-lan")
	s.Spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicyRequireDualStack)
	s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	addrs := exposed(t, c, s)
	if len(addrs) != 2 || !serviceLAN4.Contains(addrs[0]) || !serviceLAN6.Contains(addrs[1]) {
		t.Fatalf("the Service got %v, want one address of %s and one of %s", addrs, serviceLAN4, serviceLAN6)
	}
	client := lan.On(c.Lab.Client)
	owner := waitServiceLANOwner(t, c, lan, addrs)

	const trials = 10
	var moves []time.Duration
	for trial := range trials {
		cable := lan.On(c.Lab.Node(owner))
		cut := time.Now()
		if err := cable.SetLinkUp(ctx, false); err != nil {
			t.Fatal(err)
		}
		// The first ARP and NDP answers from another node's service link.
		moved, took := awaitMove(ctx, t, client, addrs, cable.MAC.String(), cut)
		moves = append(moves, took)
		t.Logf("trial %d: %s's service cable cut; %v answered by %s after %v", trial, owner, addrs, moved, took)
		if took > time.Second {
			t.Errorf("trial %d: the address moved %v after the owner's service cable was cut, want ≤ 1 s", trial, took)
		}
		if n, err := c.Ask(ctx, addrs[0]); err != nil || n == owner {
			t.Errorf("trial %d: %v answered by %q (%v) with %s's service cable cut", trial, addrs[0], n, err, owner)
		}
		if err := cable.SetLinkUp(ctx, true); err != nil {
			t.Fatal(err)
		}
		owner = waitServiceLANOwner(t, c, lan, addrs)
	}
	p50, p99, max := record("owner's service link down → address moved", moves)
	t.Logf("moved after a service cable cut: p50 %v, p99 %v, max %v over %d trials", p50, p99, max, trials)

	// Two nodes without a service link, the owner and another: the third,
	// the only one with an interface for the subnet, announces the address.
	cut := []string{owner}
	for _, n := range c.Lab.Nodes {
		if len(cut) < 2 && n.Name != owner {
			cut = append(cut, n.Name)
		}
	}
	for _, n := range cut {
		if err := lan.On(c.Lab.Node(n)).SetLinkUp(ctx, false); err != nil {
			t.Fatal(err)
		}
	}
	if last := waitServiceLANOwner(t, c, lan, addrs); slices.Contains(cut, last) {
		t.Errorf("%v answered by %s, whose service cable is cut", addrs, last)
	}
}

// waitServiceLANOwner waits until each of addrs is answered on the service
// LAN by exactly one node, the same for both, and returns it.
func waitServiceLANOwner(t *testing.T, c *labcluster.Cluster, lan *lab.ServiceLAN, addrs []netip.Addr) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client := lan.On(c.Lab.Client)
	var last string
	var owner string
	err := poll.Until(ctx, 50*time.Millisecond, func() (bool, error) {
		mac, ok := oneAnswer(client, addrs, 100*time.Millisecond, &last)
		if !ok {
			return false, nil
		}
		for _, n := range c.Lab.Nodes {
			if lan.On(n).MAC.String() == mac {
				owner = n.Name
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("%v not answered by one node's service link (last answers %s): %v", addrs, last, err)
	}
	return owner
}

// awaitMove probes addrs from the client's service link until both are
// answered by exactly one MAC that is not old, and returns the MAC and the
// time since start.
func awaitMove(ctx context.Context, t *testing.T, client *lab.Host, addrs []netip.Addr, old string, start time.Time) (string, time.Duration) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var mac, last string
	err := poll.Until(wctx, 10*time.Millisecond, func() (bool, error) {
		m, ok := oneAnswer(client, addrs, 40*time.Millisecond, &last)
		if !ok || m == old {
			return false, nil
		}
		mac = m
		return true, nil
	})
	if err != nil {
		t.Fatalf("%v not taken over from %s within 20 s (last answers %s): %v", addrs, old, last, err)
	}
	return mac, time.Since(start)
}

// oneAnswer probes addrs (an IPv4 and an IPv6 address) once from client, ARP
// and NS waiting wait each, and returns the MAC when both are answered by
// that one MAC alone. last receives what was seen, for failure messages.
func oneAnswer(client *lab.Host, addrs []netip.Addr, wait time.Duration, last *string) (string, bool) {
	macs4, err4 := arpProbe(client, addrs[0], 1, wait)
	macs6, err6 := nsProbe(client, addrs[1], 1, wait)
	*last = fmt.Sprint(macs4, macs6, err4, err6)
	if err4 != nil || err6 != nil || len(macs4) != 1 || !slices.Equal(macs4, macs6) {
		return "", false
	}
	return macs4[0], true
}
