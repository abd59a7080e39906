package announce

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/barelb/barelb/internal/poll"
)

// fakeJoiner records memberships.
type fakeJoiner struct {
	mu     sync.Mutex
	joined map[netip.Addr]bool
	log    []string
}

func (f *fakeJoiner) join(g netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.joined[g] = true
	f.log = append(f.log, "join "+g.String())
	return nil
}

func (f *fakeJoiner) leave(g netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.joined, g)
	f.log = append(f.log, "leave "+g.String())
	return nil
}

func (f *fakeJoiner) history() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

// udpPair returns a UDP socket on loopback standing in for a packet socket,
// the port serving it, and the peer that plays the link.
func udpPair(t *testing.T) (port, *net.UDPConn) {
	t.Helper()
	listen := func() *net.UDPConn {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatalf("failed to listen: %v", err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	ours, peer := listen(), listen()
	return port{conn: ours, to: peer.LocalAddr()}, peer
}

// fakeLink is an Announcer's link over UDP, with the peers.
type fakeLink struct {
	link             *link
	arpPeer, ndpPeer *net.UDPConn
	arpAddr, ndpAddr net.Addr
	joiner           *fakeJoiner
}

func newFakeLink(t *testing.T) *fakeLink {
	t.Helper()
	arp, arpPeer := udpPair(t)
	ndp, ndpPeer := udpPair(t)
	j := &fakeJoiner{joined: make(map[netip.Addr]bool)}
	return &fakeLink{
		link:    &link{arp: arp, ndp: ndp, groups: j, close: func() error { return nil }},
		arpPeer: arpPeer, ndpPeer: ndpPeer,
		arpAddr: arp.conn.(*net.UDPConn).LocalAddr(), ndpAddr: ndp.conn.(*net.UDPConn).LocalAddr(),
		joiner: j,
	}
}

// serveFake runs a over l until the test ends.
func serveFake(t *testing.T, a *Announcer, l *fakeLink) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.serve(ctx, l.link) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
}

// read returns the next frame the peer receives, or nil after timeout.
func read(t *testing.T, c *net.UDPConn, timeout time.Duration) []byte {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 2048)
	n, err := c.Read(b)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	if err != nil {
		t.Fatalf("failed to read: %v", err)
	}
	return b[:n]
}

func send(t *testing.T, c *net.UDPConn, to net.Addr, frame []byte) {
	t.Helper()
	if _, err := c.WriteTo(frame, to); err != nil {
		t.Fatalf("failed to send: %v", err)
	}
}

// historyLen is a poll.For condition: nil once the joiner has seen n membership changes.
func historyLen(j *fakeJoiner, n int) error {
	if h := j.history(); len(h) != n {
		return fmt.Errorf("memberships %v, want %d", h, n)
	}
	return nil
}

func TestAnnouncerOverFakeConn(t *testing.T) {
	t.Parallel()

	l := newFakeLink(t)
	announced := make(chan []netip.Addr, 10)
	a := New(&net.Interface{Name: "fake0", HardwareAddr: ourMAC}, Options{
		Schedule:  []time.Duration{20 * time.Millisecond, 0},
		Announced: func(addrs []netip.Addr) { announced <- addrs },
	})
	serveFake(t, a, l)

	a.SetOwned([]netip.Addr{vip4, vip6})

	// Gratuitous: both ARP forms and the NA, twice.
	garp := GratuitousARP(ourMAC, vip4)
	for i := 0; i < 2; i++ {
		for _, want := range garp {
			if diff := cmp.Diff(want, read(t, l.arpPeer, 5*time.Second)); diff != "" {
				t.Fatalf("gratuitous ARP %d (-want +got):\n%s", i, diff)
			}
		}
		if diff := cmp.Diff(wire(t, naAllNodes), read(t, l.ndpPeer, 5*time.Second)); diff != "" {
			t.Fatalf("unsolicited NA %d (-want +got):\n%s", i, diff)
		}
	}

	got := <-announced
	slices.SortFunc(got, netip.Addr.Compare)
	if diff := cmp.Diff([]netip.Addr{vip4, vip6}, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("Announced (-want +got):\n%s", diff)
	}
	if len(announced) != 0 {
		t.Errorf("Announced called again: %v", <-announced)
	}

	// Requests for owned addresses are answered.
	send(t, l.arpPeer, l.arpAddr, wire(t, ethBroadcastFromClient+"0806 0001 0800 06 04 0001 02000000000b c0000214 000000000000 c000020a"))
	wantARP := wire(t, ethClientFromUs+"0806 0001 0800 06 04 0002 02000000000a c000020a 02000000000b c0000214"+arpPad)
	if diff := cmp.Diff(wantARP, read(t, l.arpPeer, 5*time.Second)); diff != "" {
		t.Fatalf("ARP reply (-want +got):\n%s", diff)
	}
	for _, ns := range []string{nsMulticast, nsUnicast} {
		send(t, l.ndpPeer, l.ndpAddr, wire(t, ns))
		if diff := cmp.Diff(wire(t, naSolicited), read(t, l.ndpPeer, 5*time.Second)); diff != "" {
			t.Fatalf("NA (-want +got):\n%s", diff)
		}
	}
	poll.For(t, 5*time.Second, "the group to be joined", func() error { return historyLen(l.joiner, 1) })
	if diff := cmp.Diff([]string{"join ff02::1:ff00:10"}, l.joiner.history()); diff != "" {
		t.Errorf("memberships (-want +got):\n%s", diff)
	}

	// Lost addresses are not answered from the moment SetOwned returns.
	a.SetOwned(nil)
	send(t, l.arpPeer, l.arpAddr, wire(t, ethBroadcastFromClient+"0806 0001 0800 06 04 0001 02000000000b c0000214 000000000000 c000020a"))
	send(t, l.ndpPeer, l.ndpAddr, wire(t, nsUnicast))
	poll.For(t, 5*time.Second, "requests to be dropped", func() error {
		if s := a.Stats(); s.IPv4.Dropped[NotOwned] != 1 || s.IPv6.Dropped[NotOwned] != 1 {
			return fmt.Errorf("dropped as not owned: %d IPv4, %d IPv6", s.IPv4.Dropped[NotOwned], s.IPv6.Dropped[NotOwned])
		}
		return nil
	})
	poll.For(t, 5*time.Second, "the group to be left", func() error { return historyLen(l.joiner, 2) })
	if diff := cmp.Diff([]string{"join ff02::1:ff00:10", "leave ff02::1:ff00:10"}, l.joiner.history()); diff != "" {
		t.Errorf("memberships (-want +got):\n%s", diff)
	}

	want := Stats{
		IPv4: FamilyStats{Received: 2, Replies: 1, Gratuitous: 4, Dropped: map[Reason]uint64{NotOwned: 1}},
		IPv6: FamilyStats{Received: 3, Replies: 2, Gratuitous: 2, Dropped: map[Reason]uint64{NotOwned: 1}},
	}
	if diff := cmp.Diff(want, a.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
	if b := read(t, l.arpPeer, 50*time.Millisecond); b != nil {
		t.Errorf("unexpected frame after losing the address: %x", b)
	}
}

func TestAnnouncerCancelsAnnouncementsOfLostAddresses(t *testing.T) {
	t.Parallel()

	l := newFakeLink(t)
	a := New(&net.Interface{Name: "fake0", HardwareAddr: ourMAC}, Options{Schedule: []time.Duration{0, 300 * time.Millisecond}})
	serveFake(t, a, l)

	a.SetOwned([]netip.Addr{vip4})
	for range 2 {
		if read(t, l.arpPeer, 5*time.Second) == nil {
			t.Fatal("no first announcement")
		}
	}
	a.SetOwned(nil)
	if b := read(t, l.arpPeer, 600*time.Millisecond); b != nil {
		t.Errorf("announcement of a lost address: %x", b)
	}
	if got := a.Stats().IPv4.Gratuitous; got != 2 {
		t.Errorf("Gratuitous = %d, want 2", got)
	}
}

func TestAnnouncerRefresh(t *testing.T) {
	t.Parallel()

	l := newFakeLink(t)
	a := New(&net.Interface{Name: "fake0", HardwareAddr: ourMAC}, Options{Schedule: []time.Duration{}, Refresh: 20 * time.Millisecond})
	a.SetOwned([]netip.Addr{vip6})
	serveFake(t, a, l)

	for range 3 {
		if diff := cmp.Diff(wire(t, naAllNodes), read(t, l.ndpPeer, 5*time.Second)); diff != "" {
			t.Fatalf("refresh (-want +got):\n%s", diff)
		}
	}
}

func TestGroupRefs(t *testing.T) {
	t.Parallel()

	// 2001:db8::10 and 2001:db8:1::10 share ff02::1:ff00:10.
	a, b, c := netip.MustParseAddr("2001:db8::10"), netip.MustParseAddr("2001:db8:1::10"), netip.MustParseAddr("2001:db8::11")
	type op struct {
		add  bool
		addr netip.Addr
	}
	tests := []struct {
		name string
		ops  []op
		want []string
	}{
		{
			name: "shared group joined once, left with the last",
			ops:  []op{{true, a}, {true, b}, {false, a}, {false, b}},
			want: []string{"join ff02::1:ff00:10", "leave ff02::1:ff00:10"},
		},
		{
			name: "distinct groups",
			ops:  []op{{true, a}, {true, c}, {false, c}},
			want: []string{"join ff02::1:ff00:10", "join ff02::1:ff00:11", "leave ff02::1:ff00:11"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			j := &fakeJoiner{joined: make(map[netip.Addr]bool)}
			g := groupRefs{j: j, refs: make(map[netip.Addr]int)}
			for _, o := range tt.ops {
				var err error
				if o.add {
					err = g.add(o.addr)
				} else {
					err = g.remove(o.addr)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(tt.want, j.history()); diff != "" {
				t.Errorf("memberships (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOwnedSetNext(t *testing.T) {
	t.Parallel()

	mapped := netip.AddrFrom16(vip4.As16()) // ::ffff:192.0.2.10
	zoned := vip6.WithZone("eth0")
	tests := []struct {
		name       string
		prev       ownedSet
		addrs      []netip.Addr
		want       ownedSet
		wantGained []netip.Addr
	}{
		{
			name:       "from empty",
			addrs:      []netip.Addr{vip4, vip6},
			want:       ownedSet{vip4: 2, vip6: 2},
			wantGained: []netip.Addr{vip4, vip6},
		},
		{
			name:       "kept addresses keep their generation",
			prev:       ownedSet{vip4: 1},
			addrs:      []netip.Addr{vip4, vip6},
			want:       ownedSet{vip4: 1, vip6: 2},
			wantGained: []netip.Addr{vip6},
		},
		{
			name:       "normalised and deduplicated",
			addrs:      []netip.Addr{mapped, vip4, zoned, {}, netip.IPv6Unspecified(), netip.MustParseAddr("ff02::1")},
			want:       ownedSet{vip4: 2, vip6: 2},
			wantGained: []netip.Addr{vip4, vip6},
		},
		{
			name: "all lost",
			prev: ownedSet{vip4: 1},
			want: ownedSet{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, gained := tt.prev.next(tt.addrs, 2)
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("set (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantGained, gained, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("gained (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAnnouncerStopsWhenASocketFails(t *testing.T) {
	t.Parallel()

	l := newFakeLink(t)
	a := New(&net.Interface{Name: "fake0", HardwareAddr: ourMAC}, Options{})
	done := make(chan error, 1)
	go func() { done <- a.serve(context.Background(), l.link) }()
	if err := l.link.ndp.conn.(*net.UDPConn).Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("serve returned %v, want an error wrapping net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not stop after its NDP socket failed")
	}
}
