package announce

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/barelb/barelb/internal/poll"
)

// readUntil reads frames from c until one satisfies match, and fails after
// timeout.
func readUntil(t *testing.T, c *net.UDPConn, timeout time.Duration, what string, match func([]byte) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if f := read(t, c, time.Until(deadline)); f != nil && match(f) {
			return
		}
	}
	t.Fatalf("no %s within %v", what, timeout)
}

// conflictAnnouncer serves an announcer owning vip4 and vip6 over a fake
// link and returns it with its conflict reports.
func conflictAnnouncer(t *testing.T) (*Announcer, *fakeLink, chan Conflict) {
	t.Helper()
	l := newFakeLink(t)
	reports := make(chan Conflict, 10)
	a := New(&net.Interface{Name: "fake0", HardwareAddr: ourMAC}, Options{
		Schedule: []time.Duration{0},
		Conflict: func(c Conflict) { reports <- c },
	})
	serveFake(t, a, l)
	a.SetOwned([]netip.Addr{vip4, vip6})
	// The first announcements.
	readUntil(t, l.arpPeer, 5*time.Second, "gratuitous ARP", func(f []byte) bool { return bytes.Equal(f, GratuitousARP(ourMAC, vip4)[1]) })
	readUntil(t, l.ndpPeer, 5*time.Second, "unsolicited NA", func(f []byte) bool { return bytes.Equal(f, UnsolicitedNA(ourMAC, vip6)) })
	return a, l, reports
}

func wantReport(t *testing.T, reports chan Conflict, want Conflict) {
	t.Helper()
	select {
	case got := <-reports:
		if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
			t.Fatalf("conflict report (-want +got):\n%s", diff)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no conflict report, want %v %v", want.Addr, want.Outcome)
	}
}

func TestConflictHigherMACIsOutvoted(t *testing.T) {
	t.Parallel()
	a, l, reports := conflictAnnouncer(t)
	// A stranger with a higher MAC announces vip4: we keep it and announce
	// it again at once.
	send(t, l.arpPeer, l.arpAddr, GratuitousARP(higherMAC, vip4)[0])
	wantReport(t, reports, Conflict{Interface: "fake0", Addr: vip4, MAC: higherMAC, Outcome: Kept})
	readUntil(t, l.arpPeer, 5*time.Second, "a new gratuitous ARP", func(f []byte) bool { return bytes.Equal(f, GratuitousARP(ourMAC, vip4)[0]) })
	if !a.owns(vip4) {
		t.Error("vip4 no longer answered after winning the conflict")
	}
}

func TestConflictLowerMACWins(t *testing.T) {
	t.Parallel()
	a, l, reports := conflictAnnouncer(t)
	for _, f := range []struct {
		addr  netip.Addr
		claim []byte
		peer  *net.UDPConn
		to    net.Addr
		probe []byte
		yield func() []byte
	}{
		{vip4, GratuitousARP(lowerMAC, vip4)[1], l.arpPeer, l.arpAddr, ARPProbe(ourMAC, vip4),
			func() []byte {
				out, _ := ReplyARP(ARPProbe(ourMAC, vip4), lowerMAC, ownsOnly(vip4))
				return out
			}},
		{vip6, UnsolicitedNA(lowerMAC, vip6), l.ndpPeer, l.ndpAddr, DADProbe(ourMAC, vip6),
			func() []byte { return UnsolicitedNA(lowerMAC, vip6) }},
	} {
		send(t, f.peer, f.to, f.claim)
		wantReport(t, reports, Conflict{Interface: "fake0", Addr: f.addr, MAC: lowerMAC, Outcome: Withdrawn})
		if a.owns(f.addr) {
			t.Fatalf("%v still answered after losing the conflict", f.addr)
		}
		// The lower MAC answers the first probe: still withdrawn.
		readUntil(t, f.peer, 5*time.Second, "a probe", func(b []byte) bool { return bytes.Equal(b, f.probe) })
		send(t, f.peer, f.to, f.yield())
		readUntil(t, f.peer, 5*time.Second, "a second probe", func(b []byte) bool { return bytes.Equal(b, f.probe) })
		if a.owns(f.addr) {
			t.Fatalf("%v resumed although its probe was answered", f.addr)
		}
		// Nobody answers the second: resumed, with an announcement.
		wantReport(t, reports, Conflict{Interface: "fake0", Addr: f.addr, MAC: lowerMAC, Outcome: Resumed})
		if !a.owns(f.addr) {
			t.Fatalf("%v not answered after resuming", f.addr)
		}
	}
	readUntil(t, l.ndpPeer, 5*time.Second, "the announcement on resuming", func(b []byte) bool { return bytes.Equal(b, UnsolicitedNA(ourMAC, vip6)) })
}

func TestConflictWithMemberIsTolerated(t *testing.T) {
	t.Parallel()
	a, l, reports := conflictAnnouncer(t)
	a.SetMembers([]net.HardwareAddr{lowerMAC})
	send(t, l.arpPeer, l.arpAddr, GratuitousARP(lowerMAC, vip4)[0])
	send(t, l.ndpPeer, l.ndpAddr, UnsolicitedNA(lowerMAC, vip6))
	// A stranger's claim after them is reported: the member's were handled.
	send(t, l.arpPeer, l.arpAddr, GratuitousARP(higherMAC, vip4)[0])
	wantReport(t, reports, Conflict{Interface: "fake0", Addr: vip4, MAC: higherMAC, Outcome: Kept})
	if !a.owns(vip4) || !a.owns(vip6) {
		t.Error("an address was withdrawn for a member's claim")
	}
}

func TestConflictRecheckOnMembershipChange(t *testing.T) {
	t.Parallel()
	a, l, reports := conflictAnnouncer(t)
	send(t, l.arpPeer, l.arpAddr, GratuitousARP(lowerMAC, vip4)[1])
	wantReport(t, reports, Conflict{Interface: "fake0", Addr: vip4, MAC: lowerMAC, Outcome: Withdrawn})
	// The partition heals: the other owner is a member again. The address
	// is probed at once, not a second later, and the member's answer does
	// not hold it back.
	start := time.Now()
	a.SetMembers([]net.HardwareAddr{lowerMAC})
	readUntil(t, l.arpPeer, 5*time.Second, "a probe", func(b []byte) bool { return bytes.Equal(b, ARPProbe(ourMAC, vip4)) })
	if d := time.Since(start); d > probeInterval/2 {
		t.Errorf("probed %v after the membership change, want at once", d)
	}
	out, _ := ReplyARP(ARPProbe(ourMAC, vip4), lowerMAC, ownsOnly(vip4))
	send(t, l.arpPeer, l.arpAddr, out)
	wantReport(t, reports, Conflict{Interface: "fake0", Addr: vip4, MAC: lowerMAC, Outcome: Resumed})
}

func TestConflictForgottenWhenLost(t *testing.T) {
	t.Parallel()
	a, l, reports := conflictAnnouncer(t)
	send(t, l.arpPeer, l.arpAddr, GratuitousARP(lowerMAC, vip4)[1])
	wantReport(t, reports, Conflict{Interface: "fake0", Addr: vip4, MAC: lowerMAC, Outcome: Withdrawn})
	a.SetOwned([]netip.Addr{vip6})
	a.SetOwned([]netip.Addr{vip4, vip6})
	// Regained: a new ownership, answered, not withdrawn.
	poll.For(t, 5*time.Second, "vip4 to be answered again", func() error {
		if !a.owns(vip4) {
			return errors.New("not owned yet")
		}
		return nil
	})
	readUntil(t, l.arpPeer, 5*time.Second, "the announcement of the regained address", func(b []byte) bool { return bytes.Equal(b, GratuitousARP(ourMAC, vip4)[0]) })
}

func TestProbeFirst(t *testing.T) {
	t.Parallel()
	l := newFakeLink(t)
	reports := make(chan Conflict, 10)
	a := New(&net.Interface{Name: "fake0", HardwareAddr: ourMAC}, Options{
		Schedule: []time.Duration{0},
		Conflict: func(c Conflict) { reports <- c },
	})
	serveFake(t, a, l)
	a.ProbeFirst([]netip.Addr{vip4})
	a.SetOwned([]netip.Addr{vip4})
	// Two probes, and nothing answered or announced meanwhile.
	for i := 0; i < 2; i++ {
		if diff := cmp.Diff(ARPProbe(ourMAC, vip4), read(t, l.arpPeer, 5*time.Second)); diff != "" {
			t.Fatalf("probe %d (-want +got):\n%s", i, diff)
		}
	}
	if a.owns(vip4) {
		t.Fatal("answered while probing")
	}
	// A host outside the gossip holds the address: blocked.
	out, _ := ReplyARP(ARPProbe(ourMAC, vip4), higherMAC, ownsOnly(vip4))
	send(t, l.arpPeer, l.arpAddr, out)
	wantReport(t, reports, Conflict{Interface: "fake0", Addr: vip4, MAC: higherMAC, Outcome: Blocked})
	// Retried after the backoff; nobody answers now: announced.
	start := time.Now()
	readUntil(t, l.arpPeer, 5*time.Second, "the announcement", func(b []byte) bool { return bytes.Equal(b, GratuitousARP(ourMAC, vip4)[0]) })
	if d := time.Since(start); d < firstBackoff/2 {
		t.Errorf("retried after %v, want about %v", d, firstBackoff)
	}
	wantReport(t, reports, Conflict{Interface: "fake0", Addr: vip4, MAC: higherMAC, Outcome: Resumed})
	if !a.owns(vip4) {
		t.Error("not answered after the probes went unanswered")
	}
}

func TestProbeFirstMemberDoesNotBlock(t *testing.T) {
	t.Parallel()
	l := newFakeLink(t)
	reports := make(chan Conflict, 10)
	a := New(&net.Interface{Name: "fake0", HardwareAddr: ourMAC}, Options{
		Schedule: []time.Duration{0},
		Conflict: func(c Conflict) { reports <- c },
	})
	serveFake(t, a, l)
	a.SetMembers([]net.HardwareAddr{higherMAC})
	a.ProbeFirst([]netip.Addr{vip6})
	a.SetOwned([]netip.Addr{vip6})
	readUntil(t, l.ndpPeer, 5*time.Second, "a DAD probe", func(b []byte) bool { return bytes.Equal(b, DADProbe(ourMAC, vip6)) })
	// The previous owner, a member, still answers: not a conflict.
	send(t, l.ndpPeer, l.ndpAddr, UnsolicitedNA(higherMAC, vip6))
	readUntil(t, l.ndpPeer, 5*time.Second, "the announcement", func(b []byte) bool { return bytes.Equal(b, UnsolicitedNA(ourMAC, vip6)) })
	select {
	case r := <-reports:
		t.Errorf("unexpected report %v %v", r.Addr, r.Outcome)
	default:
	}
}
