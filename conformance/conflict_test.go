package conformance

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"

	"github.com/barelb/barelb/internal/lab"
	"github.com/barelb/barelb/internal/labcluster"
	"github.com/barelb/barelb/internal/poll"
)

// Issue 10, "the LAN is the tie-breaker": a gossip-only partition (the
// gossip port blocked while layer 2 works) makes both sides own the
// Service's addresses. Exactly one MAC must answer for each of them within
// 2 s of the partition becoming effective (reported; fails only past 8 s),
// stay the only one, and still be the only one after the partition heals.
func TestGossipPartitionOneMAC(t *testing.T) {
	c := startCluster(t, labcluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := labcluster.NewService("default", "conflict")
	s.Spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicyPreferDualStack)
	s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	addrs := exposed(t, c, s)
	if len(addrs) != 2 {
		t.Fatalf("dual-stack Service got %v, want two addresses", addrs)
	}
	owner, err := c.WaitReachable(ctx, addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if macs, err := probeMACs(c.Lab.Client, a); err != nil || len(macs) != 1 {
			t.Fatalf("before the partition %v is answered by %v (%v), want one MAC", a, macs, err)
		}
	}

	// Cut the owner's gossip: it drops everything it routes to the other
	// nodes' addresses; ARP, NDP and the apiserver on the bridge address
	// stay reachable.
	cut := c.Lab.Node(owner)
	var others []*lab.Host
	for _, n := range c.Lab.Nodes {
		if n.Name != owner {
			others = append(others, n)
		}
	}
	setCut := func(on bool) {
		t.Helper()
		for _, n := range others {
			for _, p := range []netip.Prefix{n.IPv4, n.IPv6} {
				if err := cut.SetBlackhole(ctx, netip.PrefixFrom(p.Addr(), p.Addr().BitLen()), on); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	setCut(true)
	t.Cleanup(func() { setCut(false) })
	// The partition is effective once the other side declared the owner
	// dead: from then on both sides own the addresses.
	var effective time.Time
	poll.For(t, 30*time.Second, "the other nodes to see "+owner+" gone", func() error {
		for _, n := range others {
			if v, err := scrapeGauge(ctx, c, n, "barelb_nodehelper_members"); err == nil && v < 3 {
				effective = time.Now()
				return nil
			}
		}
		return errors.New("still 3 members")
	})

	// Sample both families until 18 s after the partition took effect; the
	// last sample with other than one MAC says when it converged.
	var wg sync.WaitGroup
	results := make([]oneMACResult, len(addrs))
	for i, a := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = sampleOneMAC(c.Lab.Client, a, effective, effective.Add(18*time.Second))
		}()
	}
	wg.Wait()
	for i, a := range addrs {
		r := results[i]
		if r.err != nil {
			t.Fatalf("probing %v: %v", a, r.err)
		}
		record(fmt.Sprintf("gossip partition → one MAC (%s)", family(a)), []time.Duration{r.converged})
		t.Logf("%v: one MAC %v after the partition took effect; last bad sample %v", a, r.converged, r.lastBad)
		// Goal 2 s; the bound is generous for a shared, loaded machine.
		if r.converged > 8*time.Second {
			t.Errorf("%v answered by %v at %v after the partition took effect, want exactly one MAC within 8 s (goal 2 s)", a, r.lastBad, r.converged)
		}
	}

	// The conflict is on record: a Warning Event naming the other MAC.
	msg := waitEvent(t, c, "default", "conflict", "AddressConflict", "claimed")
	if !strings.Contains(msg, "02:62:6c") {
		t.Errorf("AddressConflict Event %q names no lab MAC", msg)
	}
	t.Logf("Event: %s", msg)

	setCut(false)
	poll.For(t, 30*time.Second, "the gossip to heal", func() error {
		for _, n := range c.Lab.Nodes {
			if v, err := scrapeGauge(ctx, c, n, "barelb_nodehelper_members"); err != nil || v != 3 {
				return fmt.Errorf("%s sees %v members (%v)", n.Name, v, err)
			}
		}
		return nil
	})
	healed := time.Now()
	for i, a := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = sampleOneMAC(c.Lab.Client, a, healed, healed.Add(10*time.Second))
		}()
	}
	wg.Wait()
	for i, a := range addrs {
		if r := results[i]; r.err != nil || r.converged > 8*time.Second {
			t.Errorf("after healing, %v answered by %v at %v (%v), want exactly one MAC", a, r.lastBad, r.converged, r.err)
		}
	}
}

// oneMACResult is what sampleOneMAC saw.
type oneMACResult struct {
	// converged is the time from start to the end of the last sample that
	// saw other than exactly one MAC; zero when every sample saw one.
	converged time.Duration
	// lastBad are the MACs of that sample.
	lastBad []string
	err     error
}

// sampleOneMAC probes addr from h until end.
func sampleOneMAC(h *lab.Host, addr netip.Addr, start, end time.Time) oneMACResult {
	var r oneMACResult
	for time.Now().Before(end) {
		macs, err := probeMACs(h, addr)
		if err != nil {
			r.err = err
			return r
		}
		if len(macs) != 1 {
			r.converged, r.lastBad = time.Since(start), macs
		}
	}
	return r
}

// probeMACs returns the distinct MACs answering for addr: ARP replies to
// three requests (IPv4) or Neighbor Advertisements to three solicitations
// (IPv6), 150 ms apart.
func probeMACs(h *lab.Host, addr netip.Addr) ([]string, error) {
	if addr.Is4() {
		return arpProbe(h, addr, 3, 150*time.Millisecond)
	}
	return nsProbe(h, addr, 3, 150*time.Millisecond)
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// nsProbe sends count multicast Neighbor Solicitations for addr from h's
// lab link, one every wait, and returns the distinct target link-layer
// addresses of the advertisements for addr, sorted.
func nsProbe(h *lab.Host, addr netip.Addr, count int, wait time.Duration) ([]string, error) {
	conn, ifi, err := listenLink(h, ethernet.EtherTypeIPv6)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	frame, err := solicitation(ifi.HardwareAddr, h.IPv6.Addr(), addr)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	buf := make([]byte, 1500)
	for i := 0; i < count; i++ {
		if _, err := conn.WriteTo(frame, &packet.Addr{HardwareAddr: frame[:6]}); err != nil {
			return nil, err
		}
		_ = conn.SetReadDeadline(time.Now().Add(wait))
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				return nil, err
			}
			var f ethernet.Frame
			if f.UnmarshalBinary(buf[:n]) != nil || len(f.Payload) < 40 || f.Payload[6] != 58 {
				continue
			}
			m, err := ndp.ParseMessage(f.Payload[40:])
			if err != nil {
				continue
			}
			na, ok := m.(*ndp.NeighborAdvertisement)
			if !ok || na.TargetAddress != addr {
				continue
			}
			mac := f.Source
			for _, o := range na.Options {
				if l, ok := o.(*ndp.LinkLayerAddress); ok && l.Direction == ndp.Target {
					mac = l.Addr
				}
			}
			seen[mac.String()] = true
		}
	}
	out := make([]string, 0, len(seen))
	for m := range seen {
		out = append(out, m)
	}
	sort.Strings(out)
	return out, nil
}

// solicitation builds the Ethernet frame of a Neighbor Solicitation for
// target from src at mac, to target's solicited-node group.
func solicitation(mac net.HardwareAddr, src, target netip.Addr) ([]byte, error) {
	t16 := target.As16()
	group := netip.AddrFrom16([16]byte{0xff, 0x02, 11: 0x01, 12: 0xff, 13: t16[13], 14: t16[14], 15: t16[15]})
	body, err := ndp.MarshalMessage(&ndp.NeighborSolicitation{
		TargetAddress: target,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: mac}},
	})
	if err != nil {
		return nil, err
	}
	s, d := src.As16(), group.As16()
	sum := uint32(58) + uint32(len(body))
	for i := 0; i < 16; i += 2 {
		sum += uint32(s[i])<<8 | uint32(s[i+1]) + uint32(d[i])<<8 | uint32(d[i+1])
	}
	for i := 0; i+1 < len(body); i += 2 {
		sum += uint32(body[i])<<8 | uint32(body[i+1])
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(body[2:], ^uint16(sum))
	ip := make([]byte, 40, 40+len(body))
	ip[0] = 6 << 4
	binary.BigEndian.PutUint16(ip[4:], uint16(len(body)))
	ip[6], ip[7] = 58, 255
	copy(ip[8:], s[:])
	copy(ip[24:], d[:])
	f := &ethernet.Frame{
		Destination: net.HardwareAddr{0x33, 0x33, 0xff, t16[13], t16[14], t16[15]},
		Source:      mac,
		EtherType:   ethernet.EtherTypeIPv6,
		Payload:     append(ip, body...),
	}
	return f.MarshalBinary()
}

// scrapeGauge reads an unlabelled gauge from node h's helper metrics, from
// the client.
func scrapeGauge(ctx context.Context, c *labcluster.Cluster, h *lab.Host, name string) (float64, error) {
	body, err := httpBodyIn(ctx, c.Lab.Client, "http://"+netip.AddrPortFrom(h.IPv4.Addr(), 7473).String()+"/metrics")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			_, err := fmt.Sscan(v, &f)
			return f, err
		}
	}
	return 0, fmt.Errorf("%s has no %s", h.Name, name)
}

// Issue 10, probe before first announcing: a host outside the cluster
// already uses a pool address when a Service is pinned to it. barelb must
// never answer for it, and must say who holds it.
func TestAddressInUseNotAnnounced(t *testing.T) {
	c := startCluster(t, labcluster.Options{})
	addr := mustAddr("192.0.2.160") // the lab-manual pool
	cl := c.Lab.Client
	link, err := cl.Handle().LinkByName(cl.Link)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Handle().AddrAdd(link, &netlink.Addr{IPNet: &net.IPNet{IP: addr.AsSlice(), Mask: net.CIDRMask(32, 32)}}); err != nil {
		t.Fatal(err)
	}
	s := annotate(labcluster.NewService("default", "squatted"), "metallb.universe.tf/loadBalancerIPs", addr.String())
	if got := exposed(t, c, s); len(got) != 1 || got[0] != addr {
		t.Fatalf("Service got %v, want %v", got, addr)
	}
	nodeMACs := map[string]string{}
	for _, n := range c.Lab.Nodes {
		nodeMACs[n.MAC.String()] = n.Name
	}
	// Ask from the switch for ~5 s: only the client may answer.
	macs, err := arpProbe(c.Lab.Switch, addr, 10, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range macs {
		if n, ok := nodeMACs[m]; ok {
			t.Errorf("%s (%s) answers ARP for %v, which the client %s holds", n, m, addr, cl.MAC)
		}
	}
	if !slices.Contains(macs, cl.MAC.String()) {
		t.Errorf("the client's own answer for %v was not seen (saw %v)", addr, macs)
	}
	msg := waitEvent(t, c, "default", "squatted", "AddressConflict", cl.MAC.String())
	t.Logf("Event: %s", msg)
}
