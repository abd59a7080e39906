package membership

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/testutil"

	"github.com/barelb/barelb/internal/poll"
)

// TestSoloWhenNoPeerAnswers: a member whose peers are all unreachable
// serves as a cluster of one after SoloAfter, counts it, and merges with a
// peer once that one answers.
func TestSoloWhenNoPeerAnswers(t *testing.T) {
	t.Parallel()
	ts, addrs := mockCluster(t, "a", "b")
	unreachable := netip.MustParseAddrPort("127.0.0.1:9999")
	var peersOfA atomic.Pointer[[]netip.AddrPort]
	peersOfA.Store(&[]netip.AddrPort{unreachable})
	mt := NewMetrics()
	metrics.NewKubeRegistry().MustRegister(mt.Registerables()...)
	a := start(t, Config{
		NodeName: "a", Transport: ts["a"], Keys: [][]byte{testKey(1)}, SoloAfter: 200 * time.Millisecond,
		RejoinInterval: 100 * time.Millisecond, Metrics: mt,
		Peers: func(context.Context) []netip.AddrPort { return *peersOfA.Load() },
	}, logr.Discard())
	select {
	case <-a.Joined():
	case <-time.After(5 * time.Second):
		t.Fatal("a member reaching no peer never served as a cluster of one")
	}
	if diff := cmp.Diff([]string{"a"}, a.Members()); diff != "" {
		t.Errorf("Members() mismatch (-want +got):\n%s", diff)
	}
	if v, err := testutil.GetCounterMetricValue(mt.soloStarts); err != nil || v != 1 {
		t.Errorf("solo starts = %v (%v), want 1", v, err)
	}
	b := start(t, Config{NodeName: "b", Transport: ts["b"], Keys: [][]byte{testKey(1)}, SoloAfter: -1}, logr.Discard())
	<-b.Joined() // no peers: alone at once
	peersOfA.Store(&[]netip.AddrPort{unreachable, addrs[1]})
	waitMembers(t, 5*time.Second, []*running{a, b}, []string{"a", "b"})
}

// blackholes opens n TCP listeners on 127.0.0.1 that accept and then never
// answer, as a peer whose helper hangs would; it returns their addresses and
// a function returning the accept times so far.
func blackholes(t *testing.T, n int) ([]netip.AddrPort, func() []time.Time) {
	t.Helper()
	var mu sync.Mutex
	var times []time.Time
	var addrs []netip.AddrPort
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		addrs = append(addrs, l.Addr().(*net.TCPAddr).AddrPort())
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				times = append(times, time.Now())
				mu.Unlock()
				t.Cleanup(func() { c.Close() })
			}
		}()
	}
	return addrs, func() []time.Time {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(times)
	}
}

// TestSoloNotDelayedByBlockingJoins: joins that hang for TCPTimeout
// (streamTimeout) neither delay the solo decision nor run one after the
// other.
func TestSoloNotDelayedByBlockingJoins(t *testing.T) {
	t.Parallel()
	peers, accepts := blackholes(t, 12)
	start0 := time.Now()
	m := start(t, Config{
		NodeName: "lonely", BindAddr: loopA, BindPort: freeLoopbackPort(t), Keys: [][]byte{testKey(1)},
		SoloAfter: 300 * time.Millisecond, Peers: staticPeers(peers...),
	}, logr.Discard())
	select {
	case <-m.Joined():
	case <-time.After(10 * time.Second):
		t.Fatal("never served as a cluster of one")
	}
	// The first round's joins are still hanging: they end at
	// streamTimeout, well after the solo decision.
	if took := time.Since(start0); took >= streamTimeout {
		t.Errorf("served alone after %v, want before the hanging joins time out (%v)", took, streamTimeout)
	}
	poll.For(t, 5*time.Second, "the first round's joins", func() error {
		if n := len(accepts()); n < joinFanout {
			return fmt.Errorf("%d of %d joins", n, joinFanout)
		}
		return nil
	})
	at := accepts()[:joinFanout]
	if spread := at[len(at)-1].Sub(at[0]); spread > streamTimeout/2 {
		t.Errorf("the first round's %d joins reached their peers %v apart, want at once (not one TCPTimeout after the other)", joinFanout, spread)
	}
}
