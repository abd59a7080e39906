package conformance

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/barelb/barelb/internal/labcluster"
	"github.com/barelb/barelb/internal/poll"
)

// exposed creates a Service, waits for its addresses, puts them on every
// node and gives it endpoints on nodes (all nodes when none are named).
func exposed(t *testing.T, c *labcluster.Cluster, s *corev1.Service, nodes ...string) []netip.Addr {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if len(nodes) == 0 {
		for _, n := range c.Lab.Nodes {
			nodes = append(nodes, n.Name)
		}
	}
	if err := c.SetEndpoints(ctx, s.Namespace, s.Name, nodes...); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateService(ctx, s); err != nil {
		t.Fatal(err)
	}
	addrs, err := c.WaitIngress(ctx, s.Namespace, s.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if err := c.AddVIP(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	return addrs
}

func TestReachableThroughElectedNode(t *testing.T) {
	c := startCluster(t, labcluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	s := labcluster.NewService("default", "web")
	s.Spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicyPreferDualStack)
	s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	addrs := exposed(t, c, s)
	if len(addrs) != 2 || !addrs[0].Is4() || !addrs[1].Is6() {
		t.Fatalf("dual-stack Service got %v, want an IPv4 and an IPv6 address", addrs)
	}
	lab := netip.MustParsePrefix("192.0.2.100/32")
	if !lab.Addr().Less(addrs[0].Next()) {
		t.Errorf("address %v is not from the lab pool", addrs[0])
	}
	var owners []string
	for _, a := range addrs {
		node, err := c.WaitReachable(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		owners = append(owners, node)
		// Exactly one node answers: ask many times, always the same one.
		for i := 0; i < 20; i++ {
			n, err := c.Ask(ctx, a)
			if err != nil {
				t.Fatalf("request %d to %v: %v", i, a, err)
			}
			if n != node {
				t.Fatalf("request %d to %v answered by %s, earlier by %s", i, a, n, node)
			}
		}
	}
	if owners[0] != owners[1] {
		t.Errorf("dual-stack pair announced by %s (IPv4) and %s (IPv6), want one node", owners[0], owners[1])
	}
	macs := answeringMACs(t, c, addrs[0])
	if len(macs) != 1 {
		t.Errorf("%d MACs answer ARP for %v (%v), want exactly 1", len(macs), addrs[0], macs)
	}
	if want := c.Lab.Node(owners[0]).MAC.String(); len(macs) == 1 && macs[0] != want {
		t.Errorf("ARP for %v answered by %s, want the owner %s's %s", addrs[0], macs[0], owners[0], want)
	}
	// The owner's metrics count what it answered.
	h := c.Lab.Node(owners[0])
	body, err := httpBodyIn(ctx, c.Lab.Client, "http://"+netip.AddrPortFrom(h.IPv4.Addr(), 7473).String()+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`barelb_nodehelper_replies_sent_total{family="IPv4",interface="eth0"}`,
		`barelb_nodehelper_gratuitous_sent_total{family="IPv6",interface="eth0"}`,
		`barelb_nodehelper_owned_addresses 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the owner's /metrics lacks %s", want)
		}
	}
	if strings.Contains(body, `barelb_nodehelper_replies_sent_total{family="IPv4",interface="eth0"} 0`) {
		t.Error("the owner counted no ARP reply")
	}
}

// answeringMACs sends ARP requests for addr from the client and returns the
// distinct MACs that answered.
func answeringMACs(t *testing.T, c *labcluster.Cluster, addr netip.Addr) []string {
	t.Helper()
	got, err := arpProbe(c.Lab.Client, addr, 5, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func ptrTo[T any](v T) *T { return &v }

// failoverTrial measures one unplanned failover of addr: SIGKILL the owner's
// helper and cut its link; the time to the first reply from another node.
func failoverTrial(t *testing.T, c *labcluster.Cluster, addr netip.Addr) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	owner := settledOwner(t, c, addr)
	st, err := startStream(ctx, c, addr, 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer st.stop()
	if _, err := st.waitFrom(ctx, func(n string) bool { return n == owner }); err != nil {
		t.Fatalf("stream to %v never answered by the owner %s: %v", addr, owner, err)
	}
	start := time.Now()
	if err := c.Proc("helper-" + owner).Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := c.Lab.Node(owner).SetLinkUp(ctx, false); err != nil {
		t.Fatal(err)
	}
	at, err := st.waitFrom(ctx, func(n string) bool { return n != owner })
	if err != nil {
		t.Fatalf("no node took over %v from %s: %v", addr, owner, err)
	}
	took := at.Sub(start)
	// Heal: the node comes back, its helper rejoins.
	if err := c.Lab.Node(owner).SetLinkUp(ctx, true); err != nil {
		t.Fatal(err)
	}
	_ = c.Proc("helper-" + owner).Wait(ctx)
	if _, err := c.StartHelper(owner); err != nil {
		t.Fatal(err)
	}
	waitReady(t, c, owner)
	return took
}

// settledOwner waits until ownership of addr has settled (after a node came
// back, it may take its addresses back): ten answers in a row over half a
// second from one node. It returns that node.
func settledOwner(t *testing.T, c *labcluster.Cluster, addr netip.Addr) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var owner string
	streak := 0
	err := poll.Until(ctx, 50*time.Millisecond, func() (bool, error) {
		actx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		n, err := c.Ask(actx, addr)
		switch {
		case err != nil:
			streak = 0
		case n == owner:
			streak++
		default:
			owner, streak = n, 1
		}
		return streak >= 10, nil
	})
	if err != nil {
		t.Fatalf("ownership of %v never settled (last %q): %v", addr, owner, err)
	}
	return owner
}

// waitReady waits until a node helper reports ready (caches synced, gossip
// joined).
func waitReady(t *testing.T, c *labcluster.Cluster, node string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := c.Lab.Node(node)
	url := "http://" + netip.AddrPortFrom(h.IPv4.Addr(), 7473).String() + "/readyz"
	err := poll.Until(ctx, 50*time.Millisecond, func() (bool, error) {
		code, err := httpGetIn(ctx, c.Lab.Client, url)
		return err == nil && code == 200, nil
	})
	if err != nil {
		t.Fatalf("node helper on %s not ready: %v", node, err)
	}
}

func TestUnplannedFailover(t *testing.T) {
	c := startCluster(t, labcluster.Options{})
	trials := 20
	if testing.Short() {
		trials = 3
	}
	for _, fam := range []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol} {
		t.Run(string(fam), func(t *testing.T) {
			s := labcluster.NewService("default", "failover-"+strings.ToLower(string(fam)))
			s.Spec.IPFamilies = []corev1.IPFamily{fam}
			s.Spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicySingleStack)
			addr := exposed(t, c, s)[0]
			var samples []time.Duration
			for i := 0; i < trials; i++ {
				d := failoverTrial(t, c, addr)
				t.Logf("trial %d: failover of %v took %v", i, addr, d)
				samples = append(samples, d)
			}
			p50, p99, max := record("unplanned failover "+string(fam), samples)
			t.Logf("unplanned failover %s over %d trials: p50 %v p99 %v max %v", fam, len(samples), p50, p99, max)
			if p99 > 1500*time.Millisecond {
				t.Errorf("failover p99 %v > 1.5 s", p99)
			}
		})
	}
}

func TestPlannedHandoverLosesNothing(t *testing.T) {
	c := startCluster(t, labcluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	addr := exposed(t, c, labcluster.NewService("default", "handover"))[0]
	owner, err := c.WaitReachable(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	st, err := startStream(ctx, c, addr, 10*time.Millisecond) // 100 requests/s
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.waitFrom(ctx, func(n string) bool { return n == owner }); err != nil {
		t.Fatal(err)
	}
	if err := c.Proc("helper-" + owner).Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := c.Proc("helper-" + owner).Wait(ctx); err != nil {
		t.Logf("helper exit: %v", err)
	}
	if _, err := st.waitFrom(ctx, func(n string) bool { return n != owner }); err != nil {
		t.Fatalf("no node took over %v after the planned handover: %v", addr, err)
	}
	// Let the stream run on through the new owner for a second.
	deadline := time.Now().Add(time.Second)
	_ = poll.Until(ctx, 100*time.Millisecond, func() (bool, error) { return time.Now().After(deadline), nil })
	sent, lost := st.stopAndCount()
	t.Logf("planned handover: %d requests, %d lost", sent, lost)
	if lost != 0 {
		t.Errorf("planned handover lost %d of %d requests, want 0", lost, sent)
	}
}

// stream sends a numbered datagram to addr every interval from the client
// and records who answered each.
type stream struct {
	conn   net.PacketConn
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	sent    int
	replies map[int]string
	events  chan reply
}

type reply struct {
	at   time.Time
	node string
}

func startStream(ctx context.Context, c *labcluster.Cluster, addr netip.Addr, every time.Duration) (*stream, error) {
	network := "udp4"
	if addr.Is6() {
		network = "udp6"
	}
	conn, err := c.Lab.Client.ListenPacket(ctx, network, ":0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	st := &stream{conn: conn, cancel: cancel, replies: map[int]string{}, events: make(chan reply, 4096)}
	to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, labcluster.EchoPort))
	st.wg.Add(2)
	go func() {
		defer st.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			st.mu.Lock()
			n := st.sent
			st.sent++
			st.mu.Unlock()
			_, _ = conn.WriteTo([]byte(itoa(n)), to)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	go func() {
		defer st.wg.Done()
		buf := make([]byte, 1500)
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			node, seq, ok := strings.Cut(string(buf[:n]), " ")
			if !ok {
				continue
			}
			st.mu.Lock()
			st.replies[atoi(seq)] = node
			st.mu.Unlock()
			select {
			case st.events <- reply{at: time.Now(), node: node}:
			default:
			}
		}
	}()
	return st, nil
}

// waitFrom returns when the first reply from a node matching ok arrives.
func (st *stream) waitFrom(ctx context.Context, ok func(string) bool) (time.Time, error) {
	for {
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case r := <-st.events:
			if ok(r.node) {
				return r.at, nil
			}
		}
	}
}

func (st *stream) stop() {
	st.cancel()
	_ = st.conn.SetReadDeadline(time.Now())
	st.wg.Wait()
	st.conn.Close()
}

// stopAndCount stops sending, waits a moment for the last replies, and
// returns how many requests were sent and how many got no reply.
func (st *stream) stopAndCount() (sent, lost int) {
	st.cancel()
	time.AfterFunc(300*time.Millisecond, func() { _ = st.conn.SetReadDeadline(time.Now()) })
	st.wg.Wait()
	st.conn.Close()
	st.mu.Lock()
	defer st.mu.Unlock()
	for i := 0; i < st.sent; i++ {
		if _, ok := st.replies[i]; !ok {
			lost++
		}
	}
	return st.sent, lost
}

var _ = metav1.Now
