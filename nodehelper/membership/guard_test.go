package membership

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/testutil"

	"github.com/barelb/barelb/internal/poll"
)

var (
	loopA = netip.MustParseAddr("127.0.0.1")
	loopB = netip.MustParseAddr("127.0.0.2")
)

// guardOnLoopback runs a guardedTransport around a real NetTransport on
// 127.0.0.1 with limits, allowing allowed; it returns the transport, its
// port and its metrics.
func guardOnLoopback(t *testing.T, limits guardLimits, allowed ...netip.Addr) (*guardedTransport, int, *Metrics) {
	t.Helper()
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs: []string{"127.0.0.1"},
		Logger:    log.New(io.Discard, "", 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	mt := NewMetrics()
	metrics.NewKubeRegistry().MustRegister(mt.Registerables()...)
	var allow allowList
	if allowed != nil {
		allow.replace(allowed)
	}
	g := newGuardedTransport(nt, &allow, limits, mt)
	g.start()
	t.Cleanup(func() { _ = g.Shutdown() })
	return g, nt.GetAutoBindPort(), mt
}

func dialFrom(t *testing.T, from netip.Addr, port int) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: from.AsSlice()}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", netip.AddrPortFrom(loopA, uint16(port)).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// accepted returns the next stream the guard passes on, or nil within d.
func accepted(g *guardedTransport, d time.Duration) net.Conn {
	select {
	case c := <-g.StreamCh():
		return c
	case <-time.After(d):
		return nil
	}
}

// closedByPeer reports whether the server side closed c (a read sees EOF or
// a reset) within d.
func closedByPeer(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

func dropCount(t *testing.T, mt *Metrics, kind string, r DropReason) float64 {
	t.Helper()
	v, err := testutil.GetCounterMetricValue(mt.dropped.WithLabelValues(kind, string(r)))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestGuardAllowList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		allowed []netip.Addr // nil: nothing fed yet
		from    netip.Addr
		pass    bool
	}{
		{name: "before the first feed nothing passes", allowed: nil, from: loopA},
		{name: "a node's address passes", allowed: []netip.Addr{loopB}, from: loopB, pass: true},
		{name: "another address does not", allowed: []netip.Addr{loopB}, from: loopA},
		{name: "an empty list lets nothing pass", allowed: []netip.Addr{}, from: loopB},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g, port, mt := guardOnLoopback(t, defaultGuardLimits, tt.allowed...)
			c := dialFrom(t, tt.from, port)
			s := accepted(g, 500*time.Millisecond)
			if got := s != nil; got != tt.pass {
				t.Fatalf("stream from %v passed = %v, want %v", tt.from, got, tt.pass)
			}
			if s != nil {
				s.Close()
			} else if !closedByPeer(c, 2*time.Second) {
				t.Error("a refused stream was not closed at once")
			}

			u, err := net.DialUDP("udp", &net.UDPAddr{IP: tt.from.AsSlice()}, &net.UDPAddr{IP: loopA.AsSlice(), Port: port})
			if err != nil {
				t.Fatal(err)
			}
			defer u.Close()
			if _, err := u.Write([]byte("junk")); err != nil {
				t.Fatal(err)
			}
			var got bool
			select {
			case p := <-g.PacketCh():
				got = true
				if string(p.Buf) != "junk" {
					t.Errorf("packet %q, want %q", p.Buf, "junk")
				}
			case <-time.After(500 * time.Millisecond):
			}
			if got != tt.pass {
				t.Errorf("packet from %v passed = %v, want %v", tt.from, got, tt.pass)
			}
			if !tt.pass {
				poll.For(t, 2*time.Second, "the drops counted", func() error {
					stream, packet := dropCount(t, mt, "stream", DropNotANode), dropCount(t, mt, "packet", DropNotANode)
					if stream != 1 || packet != 1 {
						return fmt.Errorf("%v stream and %v packet drops", stream, packet)
					}
					return nil
				})
			}
		})
	}
}

func TestGuardStreamCap(t *testing.T) {
	t.Parallel()
	g, port, mt := guardOnLoopback(t, guardLimits{streamBytes: 1 << 20, streams: 2, deadline: time.Minute}, loopA)
	var open []net.Conn
	for range 2 {
		dialFrom(t, loopA, port)
		s := accepted(g, 2*time.Second)
		if s == nil {
			t.Fatal("a stream under the cap did not pass")
		}
		open = append(open, s)
	}
	c := dialFrom(t, loopA, port)
	if s := accepted(g, 300*time.Millisecond); s != nil {
		t.Fatal("a stream over the cap passed")
	}
	if !closedByPeer(c, 2*time.Second) {
		t.Error("the stream over the cap was not closed at once")
	}
	if got := dropCount(t, mt, "stream", DropTooManyStreams); got != 1 {
		t.Errorf("too-many-streams drops = %v, want 1", got)
	}
	// Closing one (twice: memberlist may) frees exactly one slot.
	open[0].Close()
	open[0].Close()
	dialFrom(t, loopA, port)
	if s := accepted(g, 2*time.Second); s == nil {
		t.Fatal("no stream passed after one closed")
	} else {
		defer s.Close()
	}
	dialFrom(t, loopA, port)
	if s := accepted(g, 300*time.Millisecond); s != nil {
		t.Error("a closed stream freed more than one slot")
	}
	open[1].Close()
}

func TestGuardStreamSizeAndDeadline(t *testing.T) {
	t.Parallel()
	const limit = 1000
	g, port, mt := guardOnLoopback(t, guardLimits{streamBytes: limit, streams: 4, deadline: 300 * time.Millisecond}, loopA)

	c := dialFrom(t, loopA, port)
	s := accepted(g, 2*time.Second)
	if s == nil {
		t.Fatal("stream did not pass")
	}
	defer s.Close()
	go func() { _, _ = c.Write(make([]byte, 3*limit)) }()
	n, err := io.Copy(io.Discard, s)
	if n != limit || !errors.Is(err, errStreamTooLarge) {
		t.Errorf("read %d bytes, err %v; want %d, %v", n, err, limit, errStreamTooLarge)
	}
	if got := dropCount(t, mt, "stream", DropTooLarge); got != 1 {
		t.Errorf("too-large drops = %v, want 1", got)
	}

	// A silent stream times out at the guard's deadline, although the
	// reader asked for a later one.
	dialFrom(t, loopA, port)
	s2 := accepted(g, 2*time.Second)
	if s2 == nil {
		t.Fatal("second stream did not pass")
	}
	defer s2.Close()
	if err := s2.SetDeadline(time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s2.Read(make([]byte, 10))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("silent stream read: %v, want a timeout", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("silent stream timed out after %v, want about 300 ms", took)
	}
}

func TestAllowList(t *testing.T) {
	t.Parallel()
	var l allowList
	if l.allows(loopA) {
		t.Error("the zero allowList allows an address")
	}
	l.replace([]netip.Addr{netip.MustParseAddr("::ffff:192.0.2.1"), netip.MustParseAddr("2001:db8::1")})
	for a, want := range map[string]bool{"192.0.2.1": true, "::ffff:192.0.2.1": true, "2001:db8::1": true, "192.0.2.2": false} {
		if got := l.allows(netip.MustParseAddr(a)); got != want {
			t.Errorf("allows(%s) = %v, want %v", a, got, want)
		}
	}
	if got := addrOf(&net.UDPAddr{IP: net.ParseIP("::ffff:192.0.2.1"), Port: 1}); got != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("addrOf(mapped) = %v, want 192.0.2.1", got)
	}
}

func TestPacer(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &pacer{rate: 1000, burst: time.Second} // 1000 B/s, burst 1000 B
	tests := []struct {
		name    string
		advance time.Duration
		n       int
		want    time.Duration
	}{
		{name: "the burst passes at once", n: 1000, want: 0},
		{name: "past the burst, wait", n: 500, want: 500 * time.Millisecond},
		{name: "still behind", n: 500, want: time.Second},
		{name: "paid off after waiting", advance: 3 * time.Second, n: 1000, want: 0},
	}
	for _, tt := range tests { // in order: each step builds on the last
		now = now.Add(tt.advance)
		if got := p.reserve(tt.n, now); got != tt.want {
			t.Errorf("%s: reserve(%d) = %v, want %v", tt.name, tt.n, got, tt.want)
		}
	}
	if got := (*pacer)(nil).reserve(1<<30, now); got != 0 {
		t.Errorf("nil pacer reserve = %v, want 0", got)
	}
}

func TestGuardPacesStreams(t *testing.T) {
	t.Parallel()
	// 64 kB/s with a 16 kB burst: 48 kB take ≈ 0.5 s and more.
	g, port, _ := guardOnLoopback(t, guardLimits{streamBytes: 16 << 10, streams: 4, deadline: time.Minute, rate: 64 << 10}, loopA)
	g.pace.burst = 250 * time.Millisecond
	var got []time.Duration
	for range 3 {
		c := dialFrom(t, loopA, port)
		s := accepted(g, 2*time.Second)
		if s == nil {
			t.Fatal("stream did not pass")
		}
		go func() { _, _ = c.Write(make([]byte, 16<<10)) }()
		start := time.Now()
		if n, _ := io.CopyN(io.Discard, s, 16<<10); n != 16<<10 {
			t.Fatalf("read %d bytes, want %d", n, 16<<10)
		}
		got = append(got, time.Since(start))
		s.Close()
	}
	total := got[0] + got[1] + got[2]
	if total < 400*time.Millisecond {
		t.Errorf("48 kB at 64 kB/s (16 kB burst) read in %v (%v), want ≥ 0.5 s", total, got)
	}
}
