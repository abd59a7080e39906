package announce

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
)

// Service addresses of the lab.
var (
	labVIP4      = netip.MustParseAddr("192.0.2.100")
	labVIP6      = netip.MustParseAddr("2001:db8::100")
	labUnowned4  = netip.MustParseAddr("192.0.2.101")
	labUnowned6  = netip.MustParseAddr("2001:db8::101")
	noGratuitous = Options{Schedule: []time.Duration{}}
)

// TestLabResolution proves that B reaches a service address of A only
// through the Announcer's replies: A's kernel does not answer for it
// (arp_ignore, lo) and A's eth0 has no IPv4 address. Unowned addresses stay
// unresolved.
func TestLabResolution(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		vip     netip.Addr
		unowned netip.Addr
	}{
		{name: "IPv4 over ARP", vip: labVIP4, unowned: labUnowned4},
		{name: "IPv6 over NDP", vip: labVIP6, unowned: labUnowned6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newPair(t)
			p.addService(t, tt.vip)
			p.addService(t, tt.unowned)
			p.startEcho(t)
			a := p.startAnnouncer(t, noGratuitous)
			a.SetOwned([]netip.Addr{tt.vip})
			c := p.client(t)

			if !echoWithin(t, c, tt.vip, 5*time.Second) {
				t.Fatalf("no echo from %s; stats %+v", tt.vip, a.Stats())
			}
			if got := p.neigh(t, tt.vip).LLAddr; got != p.macA.String() {
				t.Errorf("B resolved %s to %q, want %s", tt.vip, got, p.macA)
			}

			if echoWithin(t, c, tt.unowned, 2*time.Second) {
				t.Errorf("echo from unowned %s", tt.unowned)
			}
			if n := p.neigh(t, tt.unowned); n.LLAddr != "" {
				t.Errorf("B resolved unowned %s: %+v", tt.unowned, n)
			}
			s := a.Stats()
			fs := s.IPv4
			if tt.vip.Is6() {
				fs = s.IPv6
			}
			if fs.Replies == 0 || fs.Dropped[NotOwned] == 0 {
				t.Errorf("stats %+v: want replies and NotOwned drops", fs)
			}
		})
	}
}

// TestLabNUD keeps B talking to the IPv6 service address long enough for
// its neighbour entry to go stale and be probed by unicast solicitations to
// the address itself at A's MAC several times; the entry must never fail.
func TestLabNUD(t *testing.T) {
	t.Parallel()

	p := newPair(t)
	p.addService(t, labVIP6)
	p.startEcho(t)
	a := p.startAnnouncer(t, noGratuitous)
	a.SetOwned([]netip.Addr{labVIP6})
	c := p.client(t)
	if !echoWithin(t, c, labVIP6, 5*time.Second) {
		t.Fatalf("no echo from %s", labVIP6)
	}

	var states []string
	lost := 0
	end := time.Now().Add(12 * time.Second)
	for time.Now().Before(end) {
		if !echo(t, c, labVIP6, time.Second) {
			lost++
		}
		n := p.neigh(t, labVIP6)
		state := strings.Join(n.State, ",")
		if len(states) == 0 || states[len(states)-1] != state {
			states = append(states, state)
		}
		if state == "FAILED" || state == "INCOMPLETE" || n.LLAddr != p.macA.String() {
			t.Fatalf("neighbour entry %+v; states so far %v", n, states)
		}
		time.Sleep(100 * time.Millisecond) // the client's sending rate, not synchronisation
	}
	stats := a.Stats().IPv6
	t.Logf("neighbour states: %v; lost %d; stats %+v", states, lost, stats)
	// Past INCOMPLETE, Linux only sends unicast probes (ucast_solicit), to
	// the cached MAC and the address itself; the PROBE state lasts until our
	// answer arrives, typically too short to be polled, so a revalidation
	// shows as DELAY (or PROBE) followed by REACHABLE. UDP gives no upper-layer
	// confirmation, so each one took an answered unicast solicitation.
	revalidations := 0
	for i := 1; i < len(states); i++ {
		if (states[i-1] == "DELAY" || states[i-1] == "PROBE") && states[i] == "REACHABLE" {
			revalidations++
		}
	}
	if revalidations < 2 || stats.Replies < uint64(1+revalidations) {
		t.Errorf("saw %d revalidations and %d replies, want ≥ 2 answered unicast probes: %v", revalidations, stats.Replies, states)
	}
	if lost > 0 {
		t.Errorf("lost %d echoes", lost)
	}
}

// TestLabGratuitous points B's entries for the service addresses at another
// MAC, just updated so that Linux's locktime applies, and expects the
// announcements of a gained address to move them to A at once.
func TestLabGratuitous(t *testing.T) {
	t.Parallel()

	p := newPair(t)
	a := p.startAnnouncer(t, Options{})
	for _, vip := range []netip.Addr{labVIP4, labVIP6} {
		ip(t, "-n", p.b, "neigh", "replace", vip.String(), "lladdr", "02:00:00:00:00:99", "dev", "eth0", "nud", "reachable")
	}
	start := time.Now()
	a.SetOwned([]netip.Addr{labVIP4, labVIP6})
	moved := map[netip.Addr]time.Duration{}
	deadline := start.Add(3 * time.Second)
	for len(moved) < 2 && time.Now().Before(deadline) {
		for _, vip := range []netip.Addr{labVIP4, labVIP6} {
			if _, ok := moved[vip]; !ok && p.neigh(t, vip).LLAddr == p.macA.String() {
				moved[vip] = time.Since(start)
			}
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
	t.Logf("entries moved after %v; stats %+v", moved, a.Stats())
	for _, vip := range []netip.Addr{labVIP4, labVIP6} {
		d, ok := moved[vip]
		if !ok {
			t.Errorf("B's entry for %s never moved to %s: %+v", vip, p.macA, p.neigh(t, vip))
			continue
		}
		// The first announcement is sent at once; the next one only after 0.5 s.
		if d > 400*time.Millisecond {
			t.Errorf("B's entry for %s moved after %v, want the first announcement to do it", vip, d)
		}
	}
}

// TestLabManyAddresses owns 10,000 IPv6 addresses, more than one socket's
// memberships allow, and expects every solicited-node group joined and the
// last address resolved.
func TestLabManyAddresses(t *testing.T) {
	t.Parallel()

	p := newPair(t)
	addrs := make([]netip.Addr, 10_000)
	base := netip.MustParseAddr("2001:db8::1:0").As16()
	for i := range addrs {
		b := base
		b[13], b[14], b[15] = byte(i>>16)|b[13], byte(i>>8)|b[14], byte(i)
		addrs[i] = netip.AddrFrom16(b)
	}
	last := addrs[len(addrs)-1]
	p.addService(t, last)
	p.startEcho(t)
	a := p.startAnnouncer(t, Options{Schedule: []time.Duration{0}})
	start := time.Now()
	a.SetOwned(addrs)
	deadline := start.Add(30 * time.Second)
	for a.Stats().IPv6.Gratuitous < uint64(len(addrs)) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // polling interval
	}
	t.Logf("%d addresses announced in %v", a.Stats().IPv6.Gratuitous, time.Since(start))
	for a.Stats().Groups < len(addrs) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	t.Logf("%d groups joined in %v", a.Stats().Groups, time.Since(start))
	out := ip(t, "-n", p.a, "-6", "maddr", "show", "dev", "eth0")
	joined := 0
	for _, a := range addrs {
		if strings.Contains(out, solicitedNode(a).String()+"\n") || strings.Contains(out, solicitedNode(a).String()+" ") {
			joined++
		}
	}
	if joined != len(addrs) {
		t.Errorf("%d of %d solicited-node groups on eth0", joined, len(addrs))
	}
	c := p.client(t)
	if !echoWithin(t, c, last, 5*time.Second) {
		t.Fatalf("no echo from %s", last)
	}
	if got := p.neigh(t, last).LLAddr; got != p.macA.String() {
		t.Errorf("B resolved %s to %q, want %s", last, got, p.macA)
	}
	t.Logf("stats %+v", a.Stats().IPv6)

	// Losing them all leaves every group.
	a.SetOwned(nil)
	for a.Stats().Groups > 0 && time.Now().Before(deadline.Add(30*time.Second)) {
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	out = ip(t, "-n", p.a, "-6", "maddr", "show", "dev", "eth0")
	if n := strings.Count(out, "ff02::1:ff"); n > 2 || slices.Contains(strings.Fields(out), solicitedNode(last).String()) {
		t.Errorf("groups left after losing every address: %d\n%s", n, fmt.Sprint(out))
	}
}

// TestLabNoIPv6OnInterface takes IPv6 away from A's eth0 (an MTU below
// 1280 removes its inet6 device), so memberships are refused, and expects
// the announcer to fall back to all-multicast and still answer B's
// solicitations.
func TestLabNoIPv6OnInterface(t *testing.T) {
	t.Parallel()

	p := newPair(t)
	ip(t, "-n", p.a, "link", "set", "eth0", "mtu", "1200")
	a := p.startAnnouncer(t, noGratuitous)
	a.SetOwned([]netip.Addr{labVIP6})
	deadline := time.Now().Add(5 * time.Second)
	// A packet socket's all-multicast shows as the count in `ip -d`, not as
	// the ALLMULTI flag.
	for !strings.Contains(ip(t, "-d", "-n", p.a, "link", "show", "eth0"), "allmulti 1") {
		if time.Now().After(deadline) {
			t.Fatalf("eth0 never became all-multicast: %s", ip(t, "-d", "-n", p.a, "link", "show", "eth0"))
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	// B resolves the address (the datagram itself is dropped by A's
	// kernel, which has no IPv6 on eth0).
	c := p.client(t)
	for time.Now().Before(deadline) && p.neigh(t, labVIP6).LLAddr != p.macA.String() {
		echo(t, c, labVIP6, 100*time.Millisecond)
	}
	if got := p.neigh(t, labVIP6).LLAddr; got != p.macA.String() {
		t.Errorf("B resolved %s to %q, want %s; stats %+v", labVIP6, got, p.macA, a.Stats().IPv6)
	}
}

// TestLabAnnouncementForms sends each announcement form alone to a client
// whose entry was just updated, so Linux's 1 s ARP locktime applies, and
// checks which forms move it: the two ARP forms and the NA with Override=1
// must; the broadcast-target ARP reply and an NA with Override=0, the
// forms this package avoids, must not.
func TestLabAnnouncementForms(t *testing.T) {
	t.Parallel()

	p := newPair(t)
	var c *packet.Conn
	inNS(t, p.a, func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		c, err = packet.Listen(ifi, packet.Raw, 0x0806, nil)
		return err
	})
	t.Cleanup(func() { _ = c.Close() })

	garp := GratuitousARP(p.macA, labVIP4)
	broadcastTarget := slices.Clone(garp[1])
	copy(broadcastTarget[32:38], ethernet.Broadcast)
	noOverride := marshalNA(allNodesMAC, p.macA, labVIP6, allNodes, &ndp.NeighborAdvertisement{
		TargetAddress: labVIP6,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: p.macA}},
	})
	tests := []struct {
		name  string
		frame []byte
		vip   netip.Addr
		moves bool
	}{
		{name: "ARP request announcement", frame: garp[0], vip: labVIP4, moves: true},
		{name: "ARP reply with target MAC = sender MAC", frame: garp[1], vip: labVIP4, moves: true},
		{name: "ARP reply with broadcast target MAC", frame: broadcastTarget, vip: labVIP4},
		{name: "unsolicited NA with Override=1", frame: UnsolicitedNA(p.macA, labVIP6), vip: labVIP6, moves: true},
		{name: "unsolicited NA with Override=0", frame: noOverride, vip: labVIP6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ip(t, "-n", p.b, "neigh", "replace", tt.vip.String(), "lladdr", "02:00:00:00:00:99", "dev", "eth0", "nud", "reachable")
			if _, err := c.WriteTo(tt.frame, &packet.Addr{HardwareAddr: ethernet.Broadcast}); err != nil {
				t.Fatal(err)
			}
			// Wait well within the locktime for the entry to move.
			deadline := time.Now().Add(300 * time.Millisecond)
			moved := false
			for !moved && time.Now().Before(deadline) {
				moved = p.neigh(t, tt.vip).LLAddr == p.macA.String()
				time.Sleep(5 * time.Millisecond) // polling interval
			}
			if moved != tt.moves {
				t.Errorf("entry moved = %v, want %v: %+v", moved, tt.moves, p.neigh(t, tt.vip))
			}
		})
	}
}

// TestLabMembershipsOverflow lifts the per-socket cap so that the kernel's
// own limit (option memory, ENOMEM after about 2,300 memberships) is hit,
// and expects the pool to carry on with new sockets.
func TestLabMembershipsOverflow(t *testing.T) {
	t.Parallel()

	p := newPair(t)
	var m *memberships
	inNS(t, p.a, func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		m = &memberships{
			ifindex:   ifi.Index,
			perSocket: 1 << 30,
			where:     make(map[netip.Addr]int),
			allMulti:  func() error { return errors.New("unexpected fallback") },
		}
		for i := range 6000 {
			group := netip.AddrFrom16([16]byte{0xff, 0x02, 11: 0x01, 12: 0xff, 13: 0x01, 14: byte(i >> 8), 15: byte(i)})
			if err := m.join(group); err != nil {
				return fmt.Errorf("join %d: %w", i, err)
			}
		}
		return nil
	})
	t.Cleanup(func() { _ = m.close() })
	t.Logf("6000 memberships on %d sockets: %v", len(m.fds), m.counts)
	if len(m.fds) < 3 {
		t.Errorf("6000 memberships on %d sockets, want the kernel limit to spread them over ≥ 3", len(m.fds))
	}
	if n := strings.Count(ip(t, "-n", p.a, "-6", "maddr", "show", "dev", "eth0"), "ff02::1:ff01:"); n != 6000 {
		t.Errorf("%d groups on eth0, want 6000", n)
	}
}

// TestLabSnoopingBridge puts a Linux bridge with MLD snooping and a querier
// between A and B. Once the querier is in charge, the bridge forwards a
// solicitation to a solicited-node group only to ports that reported the
// group (checked first, by watching A receive nothing for unknown groups);
// B then resolves the service address, which it can only because the
// Announcer's memberships send MLD reports.
func TestLabSnoopingBridge(t *testing.T) {
	t.Parallel()

	p := newBridgedPair(t)
	p.addService(t, labVIP6)
	p.startEcho(t)
	a := p.startAnnouncer(t, noGratuitous)
	c := p.client(t)
	// Own a sentinel until the announcer serves (its group is joined), so
	// that a solicitation A does not count is one it did not receive.
	sentinel := netip.MustParseAddr("2001:db8::dead")
	a.SetOwned([]netip.Addr{sentinel})
	deadline := time.Now().Add(30 * time.Second)
	for a.Stats().Groups == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the announcer never started serving")
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}

	// Until the querier is in charge (about 10 s after the bridge came up:
	// Linux lets hosts report first) the bridge floods unknown groups, and A
	// sees B's solicitations for fresh unowned addresses.
	for i := 0; ; i++ {
		if time.Now().After(deadline) {
			t.Fatal("the bridge never stopped flooding solicitations to unknown groups")
		}
		before := a.Stats().IPv6.Dropped[NotOwned]
		fresh := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 13: 0xee, 14: byte(i >> 8), 15: byte(i)})
		if _, err := c.WriteToUDPAddrPort([]byte("probe"), netip.AddrPortFrom(fresh, echoPort)); err != nil {
			t.Fatal(err)
		}
		flooded := false
		for end := time.Now().Add(300 * time.Millisecond); !flooded && time.Now().Before(end); {
			flooded = a.Stats().IPv6.Dropped[NotOwned] > before
			time.Sleep(5 * time.Millisecond) // polling interval
		}
		if !flooded {
			t.Logf("the bridge stopped flooding after %d probes", i+1)
			break
		}
	}

	a.SetOwned([]netip.Addr{sentinel, labVIP6})
	group := solicitedNode(labVIP6).String()
	for !strings.Contains(bridgeMDB(t, p.br), "port pa grp "+group) {
		if time.Now().After(deadline) {
			t.Fatalf("the bridge never learnt %s on A's port:\n%s", group, bridgeMDB(t, p.br))
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	if !echoWithin(t, c, labVIP6, 5*time.Second) {
		t.Fatalf("no echo from %s through the snooping bridge; stats %+v\n%s", labVIP6, a.Stats().IPv6, bridgeMDB(t, p.br))
	}
	if got := p.neigh(t, labVIP6).LLAddr; got != p.macA.String() {
		t.Errorf("B resolved %s to %q, want %s", labVIP6, got, p.macA)
	}
}

// bridgeMDB returns the multicast database of the bridge in ns.
func bridgeMDB(t testing.TB, ns string) string {
	t.Helper()
	out, err := exec.Command("bridge", "-n", ns, "mdb", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("bridge mdb show: %v: %s", err, out)
	}
	return string(out)
}
