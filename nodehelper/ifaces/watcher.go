package ifaces

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
)

// Watcher keeps a view of a namespace's links and addresses, fed by netlink notifications: it lists
// them once, then applies link and address updates as the kernel sends them (no polling). If the
// notification socket fails (for example it overflowed: ENOBUFS), it subscribes and lists again.
type Watcher struct {
	ns      netns.NsHandle // netns.None(): the namespace of the thread calling Run
	changes chan struct{}

	mu    sync.Mutex
	links map[int]Link                      // without Prefixes
	addrs map[int]map[netip.Prefix]struct{} // by link index
	snap  []Link                            // cached Snapshot, nil when stale
	ready bool
}

// NewWatcher returns a Watcher of the namespace Run is called in (the process's namespace, for a
// helper running inside a node's namespace). It starts nothing.
func NewWatcher() *Watcher { return NewWatcherAt(netns.None()) }

// NewWatcherAt returns a Watcher of the namespace ns, which the caller keeps open while Run runs.
func NewWatcherAt(ns netns.NsHandle) *Watcher {
	return &Watcher{ns: ns, changes: make(chan struct{}, 1)}
}

// Changes returns a channel that receives a value after the first full listing and after every
// batch of changes; signals coalesce, so a receiver reads Snapshot after each one.
func (w *Watcher) Changes() <-chan struct{} { return w.changes }

// Snapshot returns the links, sorted by index, each with its prefixes sorted; nil before the first
// listing completed. The returned slice is shared: do not modify it.
func (w *Watcher) Snapshot() []Link {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.ready {
		return nil
	}
	if w.snap == nil {
		w.snap = make([]Link, 0, len(w.links))
		for idx, l := range w.links {
			for p := range w.addrs[idx] {
				l.Prefixes = append(l.Prefixes, p)
			}
			slices.SortFunc(l.Prefixes, comparePrefix)
			w.snap = append(w.snap, l)
		}
		slices.SortFunc(w.snap, func(a, b Link) int { return a.Index - b.Index })
	}
	return w.snap
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}

// Run watches until ctx ends, then returns nil. It returns an error only if the first subscription
// or listing fails (for example without CAP_NET_ADMIN or in a closed namespace); later failures are
// logged and followed by a fresh subscription and listing.
func (w *Watcher) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	backoff := 100 * time.Millisecond
	for first := true; ; first = false {
		synced, err := w.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if first && !synced {
			return err
		}
		logger.Error(err, "Netlink watch interrupted, listing links again", "backoff", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// session subscribes, lists, and applies updates until ctx ends or the subscription breaks. synced
// reports whether the listing completed.
func (w *Watcher) session(ctx context.Context) (synced bool, err error) {
	done := make(chan struct{})
	linkc := make(chan netlink.LinkUpdate, 512)
	addrc := make(chan netlink.AddrUpdate, 512)
	errc := make(chan error, 1)
	onErr := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	var subscribed []func() // drains of started subscriptions
	defer func() {
		close(done)
		// A subscription's goroutine ends when its socket closes; drain so it never blocks on a send.
		for _, drain := range subscribed {
			drain()
		}
	}()

	ns := w.ns
	if err := subscribeLinks(linkc, done, netlink.LinkSubscribeOptions{Namespace: &ns, ErrorCallback: onErr}); err != nil {
		return false, fmt.Errorf("failed to subscribe to link updates: %w", err)
	}
	subscribed = append(subscribed, func() {
		for range linkc {
		}
	})
	if err := subscribeAddrs(addrc, done, netlink.AddrSubscribeOptions{Namespace: &ns, ErrorCallback: onErr}); err != nil {
		return false, fmt.Errorf("failed to subscribe to address updates: %w", err)
	}
	subscribed = append(subscribed, func() {
		for range addrc {
		}
	})
	// Listing after subscribing, then replaying every update in order, converges on the kernel's
	// state: link updates carry the full link, address updates are idempotent set operations.
	if err := w.list(); err != nil {
		return false, err
	}
	w.signal()

	for {
		select {
		case <-ctx.Done():
			return true, nil
		case u, ok := <-linkc:
			if !ok {
				return true, subscriptionError(errc, "link")
			}
			w.apply(func() { w.applyLink(u) })
		case u, ok := <-addrc:
			if !ok {
				return true, subscriptionError(errc, "address")
			}
			w.apply(func() { w.applyAddr(u) })
		}
	}
}

func subscriptionError(errc <-chan error, what string) error {
	select {
	case err := <-errc:
		return fmt.Errorf("failed to receive %s updates: %w", what, err)
	default:
		return fmt.Errorf("failed to receive %s updates: subscription closed", what)
	}
}

// Subscription sockets get a large buffer (forced, with CAP_NET_ADMIN) so that bursts (thousands
// of addresses added at once by kube-proxy) rarely overflow; an overflow costs a fresh listing.
const rcvbuf = 4 << 20

func subscribeLinks(ch chan netlink.LinkUpdate, done chan struct{}, o netlink.LinkSubscribeOptions) error {
	o.ReceiveBufferSize, o.ReceiveBufferForceSize = rcvbuf, true
	if err := netlink.LinkSubscribeWithOptions(ch, done, o); err == nil {
		return nil
	}
	o.ReceiveBufferForceSize = false
	return netlink.LinkSubscribeWithOptions(ch, done, o)
}

func subscribeAddrs(ch chan netlink.AddrUpdate, done chan struct{}, o netlink.AddrSubscribeOptions) error {
	o.ReceiveBufferSize, o.ReceiveBufferForceSize = rcvbuf, true
	if err := netlink.AddrSubscribeWithOptions(ch, done, o); err == nil {
		return nil
	}
	o.ReceiveBufferForceSize = false
	return netlink.AddrSubscribeWithOptions(ch, done, o)
}

// list replaces the view with a fresh listing.
func (w *Watcher) list() error {
	h, err := netlink.NewHandleAt(w.ns)
	if err != nil {
		return fmt.Errorf("failed to open netlink: %w", err)
	}
	defer h.Close()
	var (
		links []netlink.Link
		addrs []netlink.Addr
	)
	// A dump interrupted by a concurrent change is retried; the updates will also follow.
	for range 5 {
		if links, err = h.LinkList(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("failed to list links: %w", err)
	}
	for range 5 {
		if addrs, err = h.AddrList(nil, netlink.FAMILY_ALL); !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("failed to list addresses: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.links = make(map[int]Link, len(links))
	w.addrs = make(map[int]map[netip.Prefix]struct{}, len(links))
	for _, l := range links {
		w.links[l.Attrs().Index] = fromNetlink(l)
	}
	for _, a := range addrs {
		if p, ok := toPrefix(a.IPNet); ok {
			w.addPrefix(a.LinkIndex, p)
		}
	}
	w.snap, w.ready = nil, true
	return nil
}

// apply runs f under the lock, marks the snapshot stale and signals.
func (w *Watcher) apply(f func()) {
	w.mu.Lock()
	f()
	w.snap = nil
	w.mu.Unlock()
	w.signal()
}

func (w *Watcher) signal() {
	select {
	case w.changes <- struct{}{}:
	default:
	}
}

// applyLink applies one link update; w.mu is held.
func (w *Watcher) applyLink(u netlink.LinkUpdate) {
	if u.Family == unix.AF_BRIDGE {
		// Bridge port notifications (also RTM_DELLINK when a port leaves a bridge), not link changes.
		return
	}
	idx := u.Link.Attrs().Index
	if u.Header.Type == unix.RTM_DELLINK {
		delete(w.links, idx)
		delete(w.addrs, idx)
		return
	}
	w.links[idx] = fromNetlink(u.Link)
}

// applyAddr applies one address update; w.mu is held.
func (w *Watcher) applyAddr(u netlink.AddrUpdate) {
	p, ok := toPrefix(&u.LinkAddress)
	if !ok {
		return
	}
	if u.NewAddr {
		w.addPrefix(u.LinkIndex, p)
		return
	}
	delete(w.addrs[u.LinkIndex], p)
}

func (w *Watcher) addPrefix(idx int, p netip.Prefix) {
	if w.addrs[idx] == nil {
		w.addrs[idx] = map[netip.Prefix]struct{}{}
	}
	w.addrs[idx][p] = struct{}{}
}

func fromNetlink(l netlink.Link) Link {
	a := l.Attrs()
	var f Flags
	for _, m := range []struct {
		raw  uint32
		flag Flags
	}{{unix.IFF_UP, FlagUp}, {unix.IFF_RUNNING, FlagRunning}, {unix.IFF_LOOPBACK, FlagLoopback}, {unix.IFF_NOARP, FlagNoARP}} {
		if a.RawFlags&m.raw != 0 {
			f |= m.flag
		}
	}
	return Link{Name: a.Name, Index: a.Index, Flags: f, Kind: l.Type(), MasterIndex: a.MasterIndex,
		HardwareAddr: slices.Clone(a.HardwareAddr)}
}

func toPrefix(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, bits := n.Mask.Size()
	if a.Is4In6() && bits == 128 {
		ones -= 96
	}
	p := netip.PrefixFrom(a.Unmap(), ones)
	return p, p.IsValid()
}
