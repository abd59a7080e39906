package membership

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/hashicorp/memberlist"

	"github.com/barelb/barelb/internal/poll"
)

// mockTransport is a MockTransport with datagram semantics. MockTransport
// delivers on unbuffered channels, so two members answering each other's
// pings from their packet goroutines deadlock, and a peer sending to a
// departed member blocks forever. A pump per member moves packets into a
// buffered channel, dropping them when it is full or the member is shut
// down, as a real network would.
type mockTransport struct {
	*memberlist.MockTransport
	packets  chan *memberlist.Packet
	streams  chan net.Conn
	shutdown chan struct{}
	once     sync.Once
}

func newMockTransport(mt *memberlist.MockTransport, stop <-chan struct{}) *mockTransport {
	t := &mockTransport{
		MockTransport: mt,
		packets:       make(chan *memberlist.Packet, 1024),
		streams:       make(chan net.Conn),
		shutdown:      make(chan struct{}),
	}
	go func() {
		for {
			select {
			case p := <-mt.PacketCh():
				select {
				case <-t.shutdown:
				case t.packets <- p:
				default: // queue full: dropped
				}
			case c := <-mt.StreamCh():
				select {
				case <-t.shutdown:
					c.Close()
				case t.streams <- c:
				}
			case <-stop:
				return
			}
		}
	}()
	return t
}

// PacketCh is memberlist.Transport's.
func (t *mockTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }

// StreamCh is memberlist.Transport's.
func (t *mockTransport) StreamCh() <-chan net.Conn { return t.streams }

// Shutdown is memberlist.Transport's: from now on traffic to this member is
// dropped.
func (t *mockTransport) Shutdown() error {
	t.once.Do(func() { close(t.shutdown) })
	return nil
}

// mockCluster builds transports for n members named node-0..node-(n-1) on
// one MockNetwork and returns them with their addresses.
func mockCluster(t *testing.T, names ...string) (map[string]*mockTransport, []netip.AddrPort) {
	t.Helper()
	var mn memberlist.MockNetwork
	ts := map[string]*mockTransport{}
	var addrs []netip.AddrPort
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	for _, name := range names {
		mt := mn.NewTransport(name)
		ip, port, err := mt.FinalAdvertiseAddr("", 0)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := netip.AddrFromSlice(ip)
		addrs = append(addrs, netip.AddrPortFrom(a.Unmap(), uint16(port)))
		ts[name] = newMockTransport(mt, stop)
	}
	return ts, addrs
}

// staticPeers returns a Peers function returning addrs.
func staticPeers(addrs ...netip.AddrPort) func(context.Context) []netip.AddrPort {
	addrs = slices.Clone(addrs)
	return func(context.Context) []netip.AddrPort { return addrs }
}

// running is a Membership whose Run goroutine the test controls.
type running struct {
	*Membership
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned
	err    error         // Run's result, once done is closed
}

// stop ends Run (a graceful leave) and waits for it.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		if r.err != nil {
			t.Errorf("%s: Run() = %v", r.cfg.NodeName, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("%s: Run did not return", r.cfg.NodeName)
	}
}

// kill shuts the member down without leaving, as a crash would: peers must
// detect it.
func (r *running) kill(t *testing.T) {
	t.Helper()
	if err := r.crash(); err != nil {
		t.Errorf("%s: crash() = %v", r.cfg.NodeName, err)
	}
}

// start runs a Membership for cfg until the test ends.
func start(t *testing.T, cfg Config, logger logr.Logger) *running {
	t.Helper()
	m, err := New(cfg, logger)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Membership: m, cancel: cancel, done: make(chan struct{})}
	go func() {
		r.err = m.Run(ctx)
		close(r.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Errorf("%s: Run did not return", cfg.NodeName)
		}
	})
	return r
}

// waitMembers waits until every member sees exactly want; on a timeout it
// says what each member saw.
func waitMembers(t *testing.T, timeout time.Duration, ms []*running, want []string) {
	t.Helper()
	poll.For(t, timeout, fmt.Sprintf("members %v", want), func() error {
		var wrong []string
		for _, m := range ms {
			if got := m.Members(); !slices.Equal(got, want) {
				wrong = append(wrong, fmt.Sprintf("%s sees %v", m.cfg.NodeName, got))
			}
		}
		if len(wrong) > 0 {
			return errors.New(strings.Join(wrong, "; "))
		}
		return nil
	})
}

// freeLoopbackPort returns a port free for both UDP and TCP on 127.0.0.1.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return port
	}
	t.Fatal("no free loopback port")
	return 0
}

func testKey(b byte) []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = b
	}
	return k
}
