package conformance

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"

	"github.com/barelb/barelb/internal/lab"
	"github.com/barelb/barelb/internal/labcluster"
	"github.com/barelb/barelb/internal/poll"
)

// Case 2: IPv6 through NDP, the client's unicast NUD probes answered: with
// a one-second reachable time the client revalidates the address every few
// seconds under traffic, and its entry must never fail; then the client's
// kernel is made to send unicast probes, each of which must be answered.
func TestIPv6NUDStaysAnswered(t *testing.T) {
	c := startCluster(t, labcluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := labcluster.NewService("default", "nud")
	s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
	s.Spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicySingleStack)
	addr := exposed(t, c, s)[0]
	if _, err := c.WaitReachable(ctx, addr); err != nil {
		t.Fatal(err)
	}
	cl := c.Lab.Client
	err := cl.Do(func() error {
		for name, val := range map[string]string{"base_reachable_time_ms": "1000", "delay_first_probe_time": "1"} {
			p := filepath.Join("/proc/sys/net/ipv6/neigh", cl.Link, name)
			if err := os.WriteFile(p, []byte(val), 0o644); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := startStream(ctx, c, addr, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]int{}
	holdFor(t, 12*time.Second, 20*time.Millisecond, "neighbour entry", func() error {
		neighs, err := cl.Handle().NeighList(0, netlink.FAMILY_V6)
		if err != nil {
			return err
		}
		for _, n := range neighs {
			if n.IP.Equal(addr.AsSlice()) {
				states[nudName(n.State)]++
				if n.State&(netlink.NUD_FAILED|netlink.NUD_INCOMPLETE) != 0 {
					t.Errorf("client's entry for %v is %s", addr, nudName(n.State))
				}
			}
		}
		return nil
	})
	sent, lost := st.stopAndCount()
	t.Logf("NUD: states seen %v; %d requests, %d lost", states, sent, lost)
	if lost != 0 {
		t.Errorf("%d of %d requests lost while the client re-probed", lost, sent)
	}

	// Under traffic the kernel may find the entry confirmed before it ever
	// probes, so drive the probe itself: an entry put in PROBE makes the
	// client's kernel send unicast Neighbor Solicitations to the MAC it
	// knows, and only a solicited Neighbor Advertisement brings the entry
	// back to REACHABLE (with no traffic running, nothing else confirms it).
	// The advertisements are also counted on the client's wire.
	mac, err := neighMAC(cl, addr)
	if err != nil {
		t.Fatal(err)
	}
	counted, stopNA, err := countSolicitedNAs(cl, addr, mac)
	if err != nil {
		t.Fatal(err)
	}
	link, err := cl.Handle().LinkByName(cl.Link)
	if err != nil {
		t.Fatal(err)
	}
	const rounds = 5
	for i := 0; i < rounds; i++ {
		n := &netlink.Neigh{LinkIndex: link.Attrs().Index, Family: netlink.FAMILY_V6, State: netlink.NUD_PROBE, IP: addr.AsSlice(), HardwareAddr: mac}
		if err := cl.Handle().NeighSet(n); err != nil {
			t.Fatalf("failed to put the client's entry for %v in PROBE: %v", addr, err)
		}
		// Three unicast probes a second apart, by default, before FAILED.
		poll.For(t, 5*time.Second, "client's entry to be REACHABLE again after a unicast probe", func() error {
			neighs, err := cl.Handle().NeighList(link.Attrs().Index, netlink.FAMILY_V6)
			if err != nil {
				return err
			}
			for _, n := range neighs {
				if !n.IP.Equal(addr.AsSlice()) {
					continue
				}
				if n.State&netlink.NUD_FAILED != 0 {
					t.Fatalf("round %d: the client's unicast probes for %v went unanswered: entry FAILED", i, addr)
				}
				if n.State&netlink.NUD_REACHABLE != 0 {
					return nil
				}
				return fmt.Errorf("entry is %s", nudName(n.State))
			}
			return fmt.Errorf("no entry")
		})
	}
	// The last advertisement may still wait in the counter's socket when
	// the entry is already REACHABLE: give the reader a moment before
	// closing it (the count is judged below either way).
	countCtx, countCancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = poll.Until(countCtx, 10*time.Millisecond, func() (bool, error) { return counted.Load() >= rounds, nil })
	countCancel()
	if got := stopNA(); got < rounds {
		t.Errorf("saw %d solicited Neighbor Advertisements for %v from %v on the client's link, want ≥ %d", got, addr, mac, rounds)
	} else {
		t.Logf("NUD: %d forced unicast probe rounds answered, %d solicited advertisements from %v", rounds, got, mac)
	}
}

// neighMAC returns the link-layer address of h's neighbour entry for addr.
func neighMAC(h *lab.Host, addr netip.Addr) (net.HardwareAddr, error) {
	neighs, err := h.Handle().NeighList(0, netlink.FAMILY_V6)
	if err != nil {
		return nil, err
	}
	for _, n := range neighs {
		if n.IP.Equal(addr.AsSlice()) && len(n.HardwareAddr) > 0 {
			return n.HardwareAddr, nil
		}
	}
	return nil, fmt.Errorf("%s has no neighbour entry for %v", h.Name, addr)
}

// countSolicitedNAs counts, on h's lab link, Neighbor Advertisements for
// target with the Solicited flag, sent from mac, until stop is called.
func countSolicitedNAs(h *lab.Host, target netip.Addr, mac net.HardwareAddr) (count *atomic.Int64, stop func() int, err error) {
	conn, _, err := listenLink(h, ethernet.EtherTypeIPv6)
	if err != nil {
		return nil, nil, err
	}
	count = new(atomic.Int64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			var f ethernet.Frame
			if f.UnmarshalBinary(buf[:n]) != nil || !bytes.Equal(f.Source, mac) || len(f.Payload) < 40 || f.Payload[6] != 58 {
				continue
			}
			m, err := ndp.ParseMessage(f.Payload[40:])
			if err != nil {
				continue
			}
			if na, ok := m.(*ndp.NeighborAdvertisement); ok && na.Solicited && na.TargetAddress == target {
				count.Add(1)
			}
		}
	}()
	return count, func() int {
		_ = conn.Close()
		<-done
		return int(count.Load())
	}, nil
}

// nudName names a neighbour state as ip-neighbour(8) does.
func nudName(state int) string {
	for _, s := range []struct {
		bit  int
		name string
	}{
		{netlink.NUD_INCOMPLETE, "INCOMPLETE"}, {netlink.NUD_REACHABLE, "REACHABLE"}, {netlink.NUD_STALE, "STALE"},
		{netlink.NUD_DELAY, "DELAY"}, {netlink.NUD_PROBE, "PROBE"}, {netlink.NUD_FAILED, "FAILED"},
		{netlink.NUD_NOARP, "NOARP"}, {netlink.NUD_PERMANENT, "PERMANENT"},
	} {
		if state&s.bit != 0 {
			return s.name
		}
	}
	return "NONE"
}
