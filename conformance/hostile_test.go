package conformance

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vishvananda/netlink"

	"github.com/barelb/barelb/internal/lab"
	"github.com/barelb/barelb/internal/labcluster"
	"github.com/barelb/barelb/internal/poll"
)

// outsidePools is in the lab subnet, so on-link for the client, but in no
// pool of the lab configuration (labcluster.LabPools end at .199; the lab's
// own hosts are .1-.99, .253 and .254).
var outsidePools = netip.MustParseAddr("192.0.2.250")

// Issue 10: an address written into a Service's status that no layer2 pool
// contains is never announced: whoever holds a helper's or the CCM's token
// must not make a node answer for the gateway.
func TestAddressOutsidePoolsNotAnnounced(t *testing.T) {
	c := startCluster(t, labcluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("orphan", func(t *testing.T) {
		// An address whose pool is removed while in use stays with its
		// Service, and is no longer announced.
		s := annotate(labcluster.NewService("default", "orphan"), "metallb.universe.tf/address-pool", "lab-manual")
		orphan := exposed(t, c, s)[0]
		if _, err := c.WaitReachable(ctx, orphan); err != nil {
			t.Fatal(err)
		}
		manual := strings.Index(labcluster.LabPools, "- name: lab-manual\n")
		without := strings.Replace(labConfig(t), labcluster.LabPools[manual:], "", 1)
		if err := c.ApplyConfig(ctx, without); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := c.ApplyConfig(context.Background(), labConfig(t)); err != nil {
				t.Errorf("restoring the lab config: %v", err)
			}
		})
		waitUnanswered(t, c, orphan)
		waitEvent(t, c, "default", "orphan", "AddressOrphaned", "no longer announce")
		waitEvent(t, c, "default", "orphan", "AddressNotInPool", orphan.String())
	})

	addr := exposed(t, c, labcluster.NewService("default", "hijack"))[0]
	if _, err := c.WaitReachable(ctx, addr); err != nil {
		t.Fatal(err)
	}
	// The stolen-token scenario: no CCM is there to put the status back.
	ccm := c.Proc("ccm-0")
	if err := ccm.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	_ = ccm.Wait(wctx)
	if !ccm.Exited() {
		t.Fatal("the CCM did not exit after SIGKILL")
	}
	if err := c.AddVIP(ctx, outsidePools); err != nil {
		t.Fatal(err)
	}
	s, err := c.Admin.CoreV1().Services("default").Get(ctx, "hijack", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: outsidePools.String()}}
	if _, err := c.Admin.CoreV1().Services("default").UpdateStatus(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	holdFor(t, 5*time.Second, 250*time.Millisecond, "an address outside every pool", func() error {
		macs, err := arpProbe(c.Lab.Client, outsidePools, 1, 200*time.Millisecond)
		if err != nil {
			return err
		}
		if len(macs) > 0 {
			return fmt.Errorf("%v, in no pool, is answered by %v", outsidePools, macs)
		}
		return nil
	})
	waitEvent(t, c, "default", "hijack", "AddressNotInPool", outsidePools.String())
	waitCondition(t, c, "default", "hijack", metav1.ConditionFalse, outsidePools.String())
	// The address it had is not announced any more either: it left the status.
	waitUnanswered(t, c, addr)
}

// Issue 10: an owner's interface that changes MAC (a bond failing over) or is
// deleted and re-created under its name (a new index) is announced again,
// with its current MAC, within 2 s.
func TestLinkChangesReannounced(t *testing.T) {
	c := startCluster(t, labcluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addr := exposed(t, c, labcluster.NewService("default", "relink"))[0]
	owner, err := c.WaitReachable(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	h := c.Lab.Node(owner)

	t.Run("MAC change", func(t *testing.T) {
		old := h.MAC
		mac := net.HardwareAddr{0x02, 0x62, 0x6c, 0xee, 0x00, old[5]}
		changed := time.Now()
		if err := setMAC(h, mac); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := setMAC(h, old); err != nil {
				t.Errorf("restoring %s's MAC: %v", owner, err)
			}
		})
		took := waitNeighbour(t, c, addr, mac, changed)
		record("owner's MAC changed → client's entry has the new MAC", []time.Duration{took})
		if took > 2*time.Second {
			t.Logf("the client's neighbour entry for %v took %v to show the new MAC %s, goal 2 s", addr, took, mac)
		}
		if macs := answeringMACs(t, c, addr); !slices.Equal(macs, []string{mac.String()}) {
			t.Errorf("ARP for %v answered by %v, want only the new %s", addr, macs, mac)
		}
		if _, err := c.Ask(ctx, addr); err != nil {
			t.Errorf("%v not answered after the MAC change: %v", addr, err)
		}
	})

	t.Run("link re-created", func(t *testing.T) {
		n, err := c.WaitReachable(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		if n != owner {
			t.Skipf("%v moved to %s meanwhile", addr, n)
		}
		replugged := time.Now()
		if err := c.Lab.Replug(ctx, h); err != nil {
			t.Fatal(err)
		}
		// The client still has a fresh entry for the owner's MAC, so only
		// answered ARP shows whether the new link is announced on.
		var took time.Duration
		poll.For(t, 10*time.Second, "ARP answered on the re-created link", func() error {
			macs, err := arpProbe(c.Lab.Client, addr, 1, 100*time.Millisecond)
			if err != nil {
				return err
			}
			if len(macs) == 0 {
				return fmt.Errorf("%v is not answered", addr)
			}
			took = time.Since(replugged)
			return nil
		})
		record("owner's link re-created → answered again", []time.Duration{took})
		if took > 2*time.Second {
			t.Logf("%v took %v to be answered on the re-created link, goal 2 s", addr, took)
		}
		if _, err := c.WaitReachable(ctx, addr); err != nil {
			t.Error(err)
		}
	})
}

// setMAC changes h's Link's MAC, taking the link down for it if the driver
// refuses a live change, the way `ip link set dev eth0 address` is used.
func setMAC(h *lab.Host, mac net.HardwareAddr) error {
	nl := h.Handle()
	link, err := nl.LinkByName(h.Link)
	if err != nil {
		return err
	}
	if err := nl.LinkSetHardwareAddr(link, mac); err != nil {
		if err := nl.LinkSetDown(link); err != nil {
			return err
		}
		err := nl.LinkSetHardwareAddr(link, mac)
		if uerr := nl.LinkSetUp(link); err == nil {
			err = uerr
		}
		if err != nil {
			return err
		}
	}
	h.MAC = mac
	return nil
}

// waitNeighbour waits until the client's neighbour entry for addr holds mac,
// failing well past the 2 s goal, and returns the time since start.
func waitNeighbour(t *testing.T, c *labcluster.Cluster, addr netip.Addr, mac net.HardwareAddr, start time.Time) time.Duration {
	t.Helper()
	cl := c.Lab.Client
	link, err := cl.Handle().LinkByName(cl.Link)
	if err != nil {
		t.Fatal(err)
	}
	var took time.Duration
	poll.For(t, 5*time.Second, fmt.Sprintf("the client's neighbour entry for %v to hold %s", addr, mac), func() error {
		neighs, err := cl.Handle().NeighList(link.Attrs().Index, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, n := range neighs {
			if a, ok := netip.AddrFromSlice(n.IP); ok && a.Unmap() == addr {
				if n.HardwareAddr.String() != mac.String() {
					return fmt.Errorf("entry %v → %v (state %#x)", addr, n.HardwareAddr, n.State)
				}
				took = time.Since(start)
				return nil
			}
		}
		return fmt.Errorf("no entry for %v", addr)
	})
	return took
}
