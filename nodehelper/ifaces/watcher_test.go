package ifaces

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/barelb/barelb/internal/lab"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("privileged test skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2 (ip)")
	}
}

func newLab(t *testing.T) *lab.Lab {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	l, err := lab.New(ctx, lab.Options{Name: "ifaces", Nodes: 1})
	if err != nil {
		t.Fatalf("lab.New() error: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("lab Close() error: %v", err)
		}
	})
	return l
}

// readChangesUntil reads Changes until cond holds for the watcher's snapshot, with a deadline. It
// does not poll: a snapshot that changes without a signal on Changes fails the test.
func readChangesUntil(t *testing.T, w *Watcher, what string, cond func([]Link) bool) {
	t.Helper()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for !cond(w.Snapshot()) {
		select {
		case <-w.Changes():
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s; snapshot: %+v", what, w.Snapshot())
		}
	}
}

func find(links []Link, name string) (Link, bool) {
	i := slices.IndexFunc(links, func(l Link) bool { return l.Name == name })
	if i < 0 {
		return Link{}, false
	}
	return links[i], true
}

func TestWatcher(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name       string
		newWatcher func(h *lab.Host) *Watcher
		inside     bool
	}{
		{name: "namespace handle", newWatcher: func(h *lab.Host) *Watcher { return NewWatcherAt(h.NetNS()) }},
		{name: "namespace of the running thread", newWatcher: func(*lab.Host) *Watcher { return NewWatcher() }, inside: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := newLab(t)
			h := l.Nodes[0]
			w := tt.newWatcher(h)
			ctx, cancel := context.WithCancel(t.Context())
			errc := make(chan error, 1)
			go func() {
				if tt.inside {
					errc <- h.Do(func() error { return w.Run(ctx) })
					return
				}
				errc <- w.Run(ctx)
			}()
			t.Cleanup(func() {
				cancel()
				if err := <-errc; err != nil {
					t.Errorf("Run() error: %v", err)
				}
			})
			testWatcher(t, h, w)
		})
	}
}

func testWatcher(t *testing.T, h *lab.Host, w *Watcher) {
	readChangesUntil(t, w, "eth0 up and running", func(links []Link) bool {
		l, ok := find(links, "eth0")
		return ok && l.Flags&FlagRunning != 0
	})
	eth0, _ := find(w.Snapshot(), "eth0")
	if diff := cmp.Diff([]netip.Prefix{h.IPv4, h.IPv6}, eth0.Prefixes[:2], cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("eth0 prefixes (-want +got):\n%s", diff)
	}
	if eth0.Flags != FlagUp|FlagRunning || eth0.Kind != "veth" || eth0.HardwareAddr.String() != h.MAC.String() {
		t.Errorf("eth0 = %+v, want up and running veth with MAC %s", eth0, h.MAC)
	}

	nl := h.Handle()
	// A veth pair, not a dummy link: some kernels (this machine's among them) are built without the dummy driver.
	lan1 := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "lan1"}, PeerName: "lan1p"}
	if err := nl.LinkAdd(lan1); err != nil {
		t.Fatalf("LinkAdd: %v", err)
	}
	peer, err := nl.LinkByName("lan1p")
	if err != nil {
		t.Fatalf("LinkByName: %v", err)
	}
	if err := nl.LinkSetUp(peer); err != nil {
		t.Fatalf("LinkSetUp: %v", err)
	}
	readChangesUntil(t, w, "lan1 added, down", func(links []Link) bool {
		l, ok := find(links, "lan1")
		return ok && l.Flags&FlagUp == 0
	})
	p := netip.MustParsePrefix("198.51.100.1/24")
	if err := nl.AddrAdd(lan1, &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(24, 32)}}); err != nil {
		t.Fatalf("AddrAdd: %v", err)
	}
	if err := nl.LinkSetUp(lan1); err != nil {
		t.Fatalf("LinkSetUp: %v", err)
	}
	vip, nodeAddr := netip.MustParseAddr("198.51.100.10"), h.IPv4.Addr()
	readChangesUntil(t, w, "service address answered on lan1", func(links []Link) bool {
		got, _ := Choose(links, vip, nodeAddr, Filter{})
		return slices.Equal(got, []string{"lan1"})
	})
	if err := nl.LinkSetDown(lan1); err != nil {
		t.Fatalf("LinkSetDown: %v", err)
	}
	readChangesUntil(t, w, "fallback to eth0 with lan1 down", func(links []Link) bool {
		got, r := Choose(links, vip, nodeAddr, Filter{})
		return r == ReasonNodeLink && slices.Equal(got, []string{"eth0"})
	})
	if err := nl.LinkSetUp(lan1); err != nil {
		t.Fatalf("LinkSetUp: %v", err)
	}
	if err := nl.AddrDel(lan1, &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(24, 32)}}); err != nil {
		t.Fatalf("AddrDel: %v", err)
	}
	readChangesUntil(t, w, "address removed from lan1", func(links []Link) bool {
		l, ok := find(links, "lan1")
		return ok && l.Flags&FlagUp != 0 && !slices.Contains(l.Prefixes, p)
	})
	// Cutting the cable at the switch: eth0 stays up but loses its carrier.
	if err := h.SetLinkUp(t.Context(), false); err != nil {
		t.Fatalf("SetLinkUp(false): %v", err)
	}
	readChangesUntil(t, w, "eth0 without carrier", func(links []Link) bool {
		_, r := Choose(links, vip, nodeAddr, Filter{})
		return r == ReasonNodeLinkExcluded
	})
	if err := nl.LinkDel(lan1); err != nil {
		t.Fatalf("LinkDel: %v", err)
	}
	readChangesUntil(t, w, "lan1 deleted", func(links []Link) bool {
		_, ok := find(links, "lan1")
		return !ok
	})
}

// TestWatcherBurst adds many addresses at once, as kube-proxy in IPVS mode does on kube-ipvs0,
// and checks the view converges on all of them.
func TestWatcherBurst(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	// The kernel itself slows down adding IPv6 addresses as they grow (10,000 take ~14 s here), so 3,000.
	const n = 3000
	l := newLab(t)
	h := l.Nodes[0]
	w := NewWatcherAt(h.NetNS())
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run() error: %v", err)
		}
	})
	readChangesUntil(t, w, "initial listing", func(links []Link) bool { return links != nil })
	lo, err := h.Handle().LinkByName("lo")
	if err != nil {
		t.Fatalf("LinkByName: %v", err)
	}
	start := time.Now()
	base := netip.MustParseAddr("2001:db8:1::")
	a := base
	for range n {
		a = a.Next()
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(128, 128)}, Flags: unix.IFA_F_NODAD}
		if err := h.Handle().AddrAdd(lo, addr); err != nil {
			t.Fatalf("AddrAdd(%s): %v", a, err)
		}
	}
	added := time.Since(start)
	readChangesUntil(t, w, "all addresses seen", func(links []Link) bool {
		l, ok := find(links, "lo")
		return ok && len(l.Prefixes) >= n
	})
	t.Logf("%d addresses added in %v, all seen by the watcher after %v", n, added, time.Since(start))
}

// TestWatcherLinkReplaced changes eth0's MAC and then re-creates eth0 under its name: the snapshot
// carries the new MAC, then the new index, and eth0 keeps or gets back its prefixes, so the
// controller can tell that its announcer must be replaced.
func TestWatcherLinkReplaced(t *testing.T) {
	requireRoot(t)
	l := newLab(t)
	h := l.Nodes[0]
	w := NewWatcherAt(h.NetNS())
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run() error: %v", err)
		}
	})
	vip, nodeAddr := h.IPv4.Addr().Next(), h.IPv4.Addr()
	chosen := func(links []Link) bool {
		got, r := Choose(links, vip, nodeAddr, Filter{})
		return r == ReasonConnected && slices.Equal(got, []string{"eth0"})
	}
	readChangesUntil(t, w, "eth0 chosen", chosen)
	before, _ := find(w.Snapshot(), "eth0")

	mac := net.HardwareAddr{0x02, 0x62, 0x6c, 0xee, 0, 1}
	link, err := h.Handle().LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Handle().LinkSetHardwareAddr(link, mac); err != nil {
		t.Fatalf("LinkSetHardwareAddr: %v", err)
	}
	readChangesUntil(t, w, "eth0 with the new MAC, chosen", func(links []Link) bool {
		l, ok := find(links, "eth0")
		return ok && l.HardwareAddr.String() == mac.String() && l.Index == before.Index && chosen(links)
	})

	if err := l.Replug(t.Context(), h); err != nil {
		t.Fatalf("Replug: %v", err)
	}
	readChangesUntil(t, w, "eth0 re-created under a new index, chosen", func(links []Link) bool {
		l, ok := find(links, "eth0")
		return ok && l.Index != before.Index && chosen(links)
	})
}
