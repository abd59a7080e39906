package membership

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// Limits of what the gossip port accepts. memberlist reads a whole encrypted
// stream into memory before it can authenticate it (net.go,
// decryptRemoteState: up to maxPushStateBytes, 20 MiB, per stream, into a
// bytes.Buffer that doubles as it grows), so without these four streams from
// anyone who can reach the port take more than a 256 MiB container.
const (
	// maxStreamBytes caps the bytes read from one inbound stream. The largest
	// legitimate stream is a push/pull: per member a msgpack pushNodeState of
	// name (≤ 253 bytes, a DNS subdomain; node names are rarely over 63),
	// address (16), port, metadata (≤ memberlist.MetaMaxSize, 512),
	// incarnation, state, 6 version bytes and ≈ 60 bytes of field names: at
	// most ≈ 870 bytes, typically ≈ 150. A 1,000-node cluster therefore
	// pushes ≤ 0.9 MB (≈ 150 kB typically) plus 5 bytes of header and 29 of
	// AES-GCM framing; 4 MiB is 4.8 times the worst case and 28 times the
	// typical one. Past it the read fails and memberlist drops the stream.
	maxStreamBytes = 4 << 20
	// maxInboundStreams caps the concurrent inbound streams; excess ones are
	// closed at once. Peers open a stream to join and for the anti-entropy
	// push/pull (each member every 30 s, to one random peer), each lasting
	// milliseconds on a LAN, so even a thousand helpers restarting at once
	// rarely hold more than one at a time on one node; a refused join is
	// retried within a second. With maxStreamBytes this bounds the memory
	// hostile streams from an allowed address can hold: 4 × (4 MiB of
	// content in a buffer of ≤ 8 MiB, ≤ 12 MiB while it grows) ≈ 48 MiB.
	maxInboundStreams = 4
	// inboundStreamDeadline is the latest any inbound stream may still be
	// read or written, counted from its accept. memberlist sets TCPTimeout
	// (streamTimeout) itself; this is the backstop no later SetDeadline can
	// extend.
	inboundStreamDeadline = 2 * streamTimeout
	// inboundStreamRate caps the bytes per second read from all inbound
	// streams together, with a burst of maxStreamBytes: a push/pull of the
	// largest cluster above passes at once, while junk from an allowed
	// address at line rate (hundreds of MB/s on a veth) cannot take the CPU
	// the failure detector needs. A paced stream keeps its slot and hits
	// its deadline. 8 MiB/s still carries dozens of joins of a 1,000-node
	// cluster per second.
	inboundStreamRate = 8 << 20
)

// DropReason says why the gossip port dropped a packet or a stream.
type DropReason string

// Drop reasons, the label values of barelb_gossip_dropped_total.
const (
	// DropNotANode: the source is not the InternalIP of a Node (or no Node
	// list arrived yet).
	DropNotANode DropReason = "not-a-node"
	// DropTooManyStreams: maxInboundStreams streams were already open.
	DropTooManyStreams DropReason = "too-many-streams"
	// DropTooLarge: the stream went past maxStreamBytes.
	DropTooLarge DropReason = "too-large"
)

// errStreamTooLarge is the read error of a stream past its byte cap.
var errStreamTooLarge = errors.New("gossip stream exceeds its size limit")

// allowList is the set of addresses gossip is accepted from; the zero value
// accepts nothing. Safe for concurrent use.
type allowList struct {
	set atomic.Pointer[map[netip.Addr]struct{}]
}

// replace makes addrs the allowed set.
func (l *allowList) replace(addrs []netip.Addr) {
	m := make(map[netip.Addr]struct{}, len(addrs))
	for _, a := range addrs {
		m[a.Unmap()] = struct{}{}
	}
	l.set.Store(&m)
}

// allows reports whether a is allowed.
func (l *allowList) allows(a netip.Addr) bool {
	m := l.set.Load()
	if m == nil {
		return false
	}
	_, ok := (*m)[a.Unmap()]
	return ok
}

// guardLimits are a guardedTransport's caps; tests shrink them.
type guardLimits struct {
	streamBytes int64
	streams     int
	deadline    time.Duration
	rate        float64 // bytes per second over all streams; 0: unlimited
}

var defaultGuardLimits = guardLimits{streamBytes: maxStreamBytes, streams: maxInboundStreams, deadline: inboundStreamDeadline, rate: inboundStreamRate}

// pacer is a byte-rate limit shared by streams (virtual scheduling: next is
// when the bytes reserved so far will have been paid for). Safe for
// concurrent use.
type pacer struct {
	rate  float64       // bytes per second
	burst time.Duration // how far next may lag behind now
	mu    sync.Mutex
	next  time.Time
}

// reserve accounts n bytes read at now and returns how long the reader
// should wait before reading on.
func (p *pacer) reserve(n int, now time.Time) time.Duration {
	if p == nil || n <= 0 {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	base := p.next
	if early := now.Add(-p.burst); base.Before(early) {
		base = early
	}
	p.next = base.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
	return max(p.next.Sub(now), 0)
}

// guardedTransport wraps memberlist's transport: it passes on packets and
// streams only from allowed addresses, caps the bytes read from a stream
// and the number of concurrent inbound streams, and gives each stream a
// deadline. Outbound traffic passes unchanged. Its forwarding goroutines
// start with start and end with Shutdown.
type guardedTransport struct {
	memberlist.NodeAwareTransport
	allow   *allowList
	limits  guardLimits
	metrics *Metrics
	now     func() time.Time

	packets  chan *memberlist.Packet
	streams  chan net.Conn
	slots    chan struct{} // one token per open inbound stream
	pace     *pacer        // nil: unlimited
	done     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	shutdownErr error
}

var _ memberlist.NodeAwareTransport = (*guardedTransport)(nil)

func newGuardedTransport(inner memberlist.NodeAwareTransport, allow *allowList, limits guardLimits, mt *Metrics) *guardedTransport {
	var pace *pacer
	if limits.rate > 0 {
		pace = &pacer{rate: limits.rate, burst: time.Duration(float64(limits.streamBytes) / limits.rate * float64(time.Second))}
	}
	return &guardedTransport{
		pace:               pace,
		NodeAwareTransport: inner,
		allow:              allow,
		limits:             limits,
		metrics:            mt,
		now:                time.Now,
		packets:            make(chan *memberlist.Packet),
		streams:            make(chan net.Conn),
		slots:              make(chan struct{}, limits.streams),
		done:               make(chan struct{}),
	}
}

// start runs the goroutines that filter the inner transport's packets and
// streams until Shutdown.
func (t *guardedTransport) start() {
	t.wg.Add(2)
	go t.forwardPackets()
	go t.forwardStreams()
}

// PacketCh is memberlist.Transport's: the allowed packets.
func (t *guardedTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }

// StreamCh is memberlist.Transport's: the allowed streams, capped.
func (t *guardedTransport) StreamCh() <-chan net.Conn { return t.streams }

// Shutdown stops forwarding and shuts the inner transport down; later calls
// return the first's result.
func (t *guardedTransport) Shutdown() error {
	t.stopOnce.Do(func() {
		close(t.done)
		t.shutdownErr = t.NodeAwareTransport.Shutdown()
		t.wg.Wait()
	})
	return t.shutdownErr
}

// newGuardedNetTransport opens memberlist's UDP/TCP transport on the
// configured address, as memberlist.Create would, guarded by allow, and
// starts forwarding.
func newGuardedNetTransport(mc *memberlist.Config, allow *allowList, mt *Metrics) (*guardedTransport, error) {
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs: []string{mc.BindAddr},
		BindPort:  mc.BindPort,
		Logger:    mc.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("failed to open the gossip port %s:%d: %w", mc.BindAddr, mc.BindPort, err)
	}
	t := newGuardedTransport(nt, allow, defaultGuardLimits, mt)
	t.start()
	return t, nil
}

func (t *guardedTransport) forwardPackets() {
	defer t.wg.Done()
	in := t.NodeAwareTransport.PacketCh()
	for {
		select {
		case <-t.done:
			return
		case p := <-in:
			if !t.allow.allows(addrOf(p.From)) {
				t.dropped("packet", DropNotANode)
				continue
			}
			select {
			case t.packets <- p:
			case <-t.done:
				return
			}
		}
	}
}

func (t *guardedTransport) forwardStreams() {
	defer t.wg.Done()
	in := t.NodeAwareTransport.StreamCh()
	for {
		select {
		case <-t.done:
			return
		case c := <-in:
			g, reason := t.admit(c)
			if g == nil {
				t.dropped("stream", reason)
				_ = c.Close()
				continue
			}
			select {
			case t.streams <- g:
			case <-t.done:
				_ = g.Close()
				return
			}
		}
	}
}

// admit wraps an inbound stream, or says why it is refused.
func (t *guardedTransport) admit(c net.Conn) (net.Conn, DropReason) {
	if !t.allow.allows(addrOf(c.RemoteAddr())) {
		return nil, DropNotANode
	}
	select {
	case t.slots <- struct{}{}:
	default:
		return nil, DropTooManyStreams
	}
	g := &guardedConn{Conn: c, left: t.limits.streamBytes, deadline: t.now().Add(t.limits.deadline), t: t}
	// A failure means the socket is gone: memberlist's first read fails.
	_ = c.SetDeadline(g.deadline)
	return g, ""
}

func (t *guardedTransport) dropped(kind string, r DropReason) {
	if t.metrics != nil {
		t.metrics.dropped.WithLabelValues(kind, string(r)).Inc()
	}
}

// guardedConn is an inbound stream with a byte budget and a deadline no
// caller can extend; Close frees its stream slot.
type guardedConn struct {
	net.Conn
	t        *guardedTransport
	deadline time.Time

	mu       sync.Mutex
	left     int64
	overrun  bool
	closeErr error
	closed   bool
}

// Read reads at most the stream's remaining budget, paced to the
// transport's byte rate; past the budget, it fails with errStreamTooLarge.
func (c *guardedConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	left := c.left
	c.mu.Unlock()
	if left <= 0 {
		c.mu.Lock()
		first := !c.overrun
		c.overrun = true
		c.mu.Unlock()
		if first {
			c.t.dropped("stream", DropTooLarge)
		}
		return 0, errStreamTooLarge
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.left -= int64(n)
	c.mu.Unlock()
	if wait := c.t.pace.reserve(n, c.t.now()); wait > 0 {
		// Never past the stream's deadline: the next read fails there.
		time.Sleep(min(wait, time.Until(c.deadline)))
	}
	return n, err
}

// SetDeadline sets both deadlines, never later than the stream's own.
func (c *guardedConn) SetDeadline(d time.Time) error { return c.Conn.SetDeadline(c.clamp(d)) }

// SetReadDeadline sets the read deadline, never later than the stream's own.
func (c *guardedConn) SetReadDeadline(d time.Time) error { return c.Conn.SetReadDeadline(c.clamp(d)) }

// SetWriteDeadline sets the write deadline, never later than the stream's
// own.
func (c *guardedConn) SetWriteDeadline(d time.Time) error {
	return c.Conn.SetWriteDeadline(c.clamp(d))
}

func (c *guardedConn) clamp(d time.Time) time.Time {
	if d.IsZero() || d.After(c.deadline) {
		return c.deadline
	}
	return d
}

// Close closes the stream and frees its slot; it may be called repeatedly.
func (c *guardedConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return c.closeErr
	}
	c.closed = true
	c.closeErr = c.Conn.Close()
	<-c.t.slots
	return c.closeErr
}

// addrOf returns the IP of a UDP or TCP address, or the zero Addr.
func addrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.AddrPort().Addr().Unmap()
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap()
	}
	if a == nil {
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
