package announce

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"k8s.io/klog/v2"
)

// Options tunes an Announcer. The zero value is ready to use.
type Options struct {
	// Schedule lists when gratuitous announcements of a gained address are
	// sent, as offsets from the moment it is gained (in any order). Nil means
	// DefaultSchedule(); an empty, non-nil slice sends none.
	Schedule []time.Duration
	// Refresh, when positive, re-announces every owned address at this
	// interval, for switches and clients that forget.
	Refresh time.Duration
	// Announced, if set, is called right after the first announcement of
	// addresses gained together was sent, with those of them still owned
	// (for example to observe failover time). It is called from Run's
	// goroutine, never concurrently with itself, and must not block.
	Announced func(addrs []netip.Addr)
	// Conflict, if set, is called when another MAC claimed an owned address
	// and this announcer kept it, withdrew it, or resumed it (see Decide).
	// It is called from Run's goroutine, never concurrently with itself,
	// and must not block.
	Conflict func(Conflict)
}

// DefaultSchedule returns the default offsets of gratuitous announcements:
// at once, then 0.1 s, 0.5 s, 1 s and 2 s later. Repeats cover a lost frame,
// a client whose entry was refreshed just before (Linux locktime is 1 s), and
// a client that started resolving the address just before it was gained:
// its first solicitation went unanswered and the announcement at 0 came
// before its entry existed; the one at 0.1 s fills the entry (measured in
// the conformance lab: create → reachable p99 535 ms without it, 97 ms with
// it). RFC 5227 §2.3 likewise announces twice. RFC 4861 §7.2.6 lets a node
// send up to MAX_NEIGHBOR_ADVERTISEMENT (3) unsolicited advertisements; five
// is more, on purpose: each repeat covers one of the cases above, all within
// 2 s of a takeover, one frame per address each.
func DefaultSchedule() []time.Duration {
	return []time.Duration{0, 100 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second}
}

// An Announcer answers ARP and NDP for the owned addresses on one interface
// and announces addresses as they are gained. SetOwned and Stats are safe
// for concurrent use, also before and after Run.
type Announcer struct {
	ifi  *net.Interface
	opts Options

	mu    sync.Mutex // serialises SetOwned
	gen   uint64
	owned atomic.Pointer[ownedSet]
	// changed wakes the control loop after SetOwned; it holds at most one
	// pending signal, as the loop reconciles against the latest set.
	changed chan struct{}
	running atomic.Bool

	v4, v6 counters
	groups atomic.Int64

	// members are the live gossip members' MACs (SetMembers); withdrawn
	// are the owned addresses given up to a lower MAC (conflict.go).
	members   atomic.Pointer[macSet]
	withdrawn atomic.Pointer[addrSet]
	// claims carries other hosts' claims from the responders to the
	// control loop; recheck wakes it after SetMembers.
	claims  chan Claim
	recheck chan struct{}
	// probeFirst are the addresses to probe before their first
	// announcement (ProbeFirst), guarded by mu.
	probeFirst map[netip.Addr]bool
}

// New returns an Announcer for ifi, which must have an Ethernet hardware
// address. It opens nothing: Run does.
func New(ifi *net.Interface, opts Options) *Announcer {
	if opts.Schedule == nil {
		opts.Schedule = DefaultSchedule()
	}
	opts.Schedule = slices.Clone(opts.Schedule)
	slices.Sort(opts.Schedule)
	a := &Announcer{ifi: ifi, opts: opts, changed: make(chan struct{}, 1),
		claims: make(chan Claim, claimQueue), recheck: make(chan struct{}, 1)}
	a.owned.Store(&ownedSet{})
	return a
}

// SetOwned replaces the owned set with addrs (IPv4 and IPv6 mixed; IPv4-mapped
// IPv6 addresses count as IPv4, zones are ignored). Addresses no longer owned
// are not answered from the moment SetOwned returns, and their pending
// announcements are cancelled. Gained addresses are announced following the
// schedule once Run is serving.
func (a *Announcer) SetOwned(addrs []netip.Addr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gen++
	next, _ := a.owned.Load().next(addrs, a.gen)
	a.owned.Store(&next)
	for addr := range a.probeFirst {
		if !next.owns(addr) {
			delete(a.probeFirst, addr) // asked for, but not given
		}
	}
	select {
	case a.changed <- struct{}{}:
	default:
	}
}

// owns reports whether addr is owned right now and not withdrawn after a
// conflict: whether it is answered.
func (a *Announcer) owns(addr netip.Addr) bool {
	return a.owned.Load().owns(addr) && !a.isWithdrawn(addr)
}

// Run opens the interface's sockets, answers requests and sends
// announcements until ctx ends, then closes everything and returns nil. It
// returns an error if a socket cannot be opened or fails; it may be called
// again after it returned, and each Run announces every owned address anew
// (so restarting Run when a link comes back up re-announces). Run opens
// every socket from its calling goroutine,
// so a caller that locked its OS thread into a network namespace gets
// sockets of that namespace.
func (a *Announcer) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("announce: Run is already running")
	}
	defer a.running.Store(false)

	l, err := openLink(a.ifi)
	if err != nil {
		return fmt.Errorf("failed to open sockets on %s: %w", a.ifi.Name, err)
	}
	defer func() { _ = l.close() }()
	return a.serve(ctx, l)
}

// link is what an Announcer serves on: the ARP and NDP ports and the
// solicited-node group memberships.
type link struct {
	arp, ndp port
	groups   joiner
	close    func() error
}

// port is a packet connection and the address its writes go to. A packet
// socket sends each frame to the destination it carries and ignores to; a
// test's fake connection sends to its peer.
type port struct {
	conn conn
	to   net.Addr
}

// conn is the part of net.PacketConn a responder uses. Each read returns one
// whole Ethernet frame and each write sends one.
type conn interface {
	ReadFrom(b []byte) (int, net.Addr, error)
	WriteTo(b []byte, addr net.Addr) (int, error)
	SetReadDeadline(t time.Time) error
}

// serve runs the two responders and, on the calling goroutine, the control
// loop, until ctx ends or a responder fails.
func (a *Announcer) serve(ctx context.Context, l *link) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	log := klog.FromContext(ctx).WithValues("interface", a.ifi.Name)
	ctx = klog.NewContext(ctx, log)

	errs := make(chan error, 2)
	respond := func(proto string, p port, c *counters, reply replyFunc, claim claimFunc) {
		err := a.respond(ctx, proto, p, c, reply, claim)
		if err != nil {
			cancel() // ends the control loop and the other responder
		}
		errs <- err
	}
	go respond("ARP", l.arp, &a.v4, ReplyARP, ARPClaim)
	go respond("NDP", l.ndp, &a.v6, ReplyNDP, NDPClaim)

	err := a.control(ctx, l)
	cancel()
	return errors.Join(err, <-errs, <-errs)
}

// replyFunc is ReplyARP or ReplyNDP.
type replyFunc func(frame []byte, mac net.HardwareAddr, owns func(netip.Addr) bool) ([]byte, Reason)

// claimFunc is ARPClaim or NDPClaim.
type claimFunc func(frame []byte, mac net.HardwareAddr) (Claim, bool)

// respond answers the frames read from p, and hands other hosts' claims on
// owned addresses to the control loop, until ctx ends. Blocking reads are
// cancelled by a past read deadline.
func (a *Announcer) respond(ctx context.Context, proto string, p port, c *counters, reply replyFunc, claim claimFunc) error {
	stop := context.AfterFunc(ctx, func() { _ = p.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	log := klog.FromContext(ctx).WithValues("protocol", proto)

	buf := make([]byte, 9216) // a jumbo frame
	for {
		n, _, err := p.conn.ReadFrom(buf)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, syscall.ENETDOWN) {
			// The link went down; the socket stays bound and serves again
			// when it comes back.
			continue
		}
		if err != nil {
			return fmt.Errorf("failed to read %s frames: %w", proto, err)
		}
		c.received.Add(1)
		if cl, ok := claim(buf[:n], a.ifi.HardwareAddr); ok {
			a.noticeClaim(cl)
		}
		out, why := reply(buf[:n], a.ifi.HardwareAddr, a.owns)
		if why != Answered {
			c.dropped[why].Add(1)
			continue
		}
		if _, err := p.conn.WriteTo(out, p.to); err != nil {
			c.sendErrors.Add(1)
			log.V(2).Info("Failed to send reply", "err", err)
			continue
		}
		c.replies.Add(1)
	}
}
