package announce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/barelb/barelb/internal/lab"
)

// A minimal lab for privileged tests: two network namespaces joined by a
// veth pair, both ends named eth0. Node A serves service addresses from lo
// with arp_ignore=1/arp_announce=2, so its kernel never answers ARP or NDP
// for them and only the Announcer can; its eth0 has no IPv4 address at all.
// Client B has 192.0.2.2/24 and 2001:db8::2/64.
type pair struct {
	a, b       string // namespace names
	br         string // namespace of the bridge between A and B, if bridged
	macA, macB net.HardwareAddr
}

// Lab addresses.
var (
	clientIPv4 = netip.MustParseAddr("192.0.2.2")
	clientIPv6 = netip.MustParseAddr("2001:db8::2")
)

// echoPort is the UDP port of the lab echo server in A.
const echoPort = 7007

var labCounter atomic.Int64

// requireRoot skips privileged tests when not root or without iproute2.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2")
	}
}

// ip runs iproute2 (or, with "netns exec", a command in a namespace).
func ip(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// sysctl sets a sysctl inside namespace ns.
func sysctl(t testing.TB, ns, key, value string) {
	t.Helper()
	ip(t, "netns", "exec", ns, "sysctl", "-q", "-w", key+"="+value)
}

// newPair builds the lab with A and B on one veth pair and removes it when
// the test ends.
func newPair(t testing.TB) *pair {
	t.Helper()
	return newLab(t, false)
}

// newBridgedPair builds the lab with A and B on ports pa and pb of a Linux
// bridge br0 in a third namespace, with multicast snooping and the bridge's
// own MLD querier on, so that the bridge forwards a solicited-node group
// only to ports whose hosts reported it.
func newBridgedPair(t testing.TB) *pair {
	t.Helper()
	return newLab(t, true)
}

// newLab builds the lab and removes it when the test ends.
func newLab(t testing.TB, bridged bool) *pair {
	t.Helper()
	requireRoot(t)
	name := fmt.Sprintf("announce-%d-%d", os.Getpid(), labCounter.Add(1))
	p := &pair{a: name + "-a", b: name + "-b"}
	namespaces := []string{p.a, p.b}
	if bridged {
		p.br = name + "-br"
		namespaces = append(namespaces, p.br)
	}
	for _, ns := range namespaces {
		ip(t, "netns", "add", ns)
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("failed to delete namespace %s: %v: %s", ns, err, out)
			}
		})
		ip(t, "-n", ns, "link", "set", "lo", "up")
	}
	if bridged {
		ip(t, "-n", p.br, "link", "add", "br0", "type", "bridge", "mcast_snooping", "1", "mcast_querier", "1")
		// The querier needs a usable link-local address at once.
		sysctl(t, p.br, "net.ipv6.conf.br0.accept_dad", "0")
		ip(t, "-n", p.br, "link", "set", "br0", "up")
		ip(t, "-n", p.a, "link", "add", "eth0", "type", "veth", "peer", "name", "pa", "netns", p.br)
		ip(t, "-n", p.b, "link", "add", "eth0", "type", "veth", "peer", "name", "pb", "netns", p.br)
		for _, port := range []string{"pa", "pb"} {
			ip(t, "-n", p.br, "link", "set", port, "master", "br0")
			ip(t, "-n", p.br, "link", "set", port, "up")
		}
	} else {
		ip(t, "-n", p.a, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", p.b)
	}

	// Node A: no address on eth0, service addresses on lo only.
	for _, kv := range [][2]string{
		{"net.ipv4.conf.all.arp_ignore", "1"}, {"net.ipv4.conf.all.arp_announce", "2"},
		{"net.ipv4.conf.eth0.arp_ignore", "1"}, {"net.ipv4.conf.eth0.arp_announce", "2"},
	} {
		sysctl(t, p.a, kv[0], kv[1])
	}
	ip(t, "-n", p.a, "link", "set", "eth0", "up")
	ip(t, "-n", p.a, "route", "add", "192.0.2.0/24", "dev", "eth0")
	ip(t, "-n", p.a, "-6", "route", "add", "2001:db8::/64", "dev", "eth0")

	// Client B. Fast NUD: reachable for 0.5-1.5 s, then probe after 1 s.
	sysctl(t, p.b, "net.ipv6.neigh.eth0.base_reachable_time_ms", "1000")
	sysctl(t, p.b, "net.ipv6.neigh.eth0.delay_first_probe_time", "1")
	sysctl(t, p.b, "net.ipv4.neigh.eth0.base_reachable_time_ms", "1000")
	sysctl(t, p.b, "net.ipv4.neigh.eth0.delay_first_probe_time", "1")
	ip(t, "-n", p.b, "addr", "add", "192.0.2.2/24", "dev", "eth0")
	ip(t, "-n", p.b, "addr", "add", "2001:db8::2/64", "dev", "eth0", "nodad")
	ip(t, "-n", p.b, "link", "set", "eth0", "up")

	p.macA = p.mac(t, p.a)
	p.macB = p.mac(t, p.b)
	// A knows B statically, so A's kernel never sends ARP or NDP itself,
	// which could otherwise teach B A's MAC for a service address.
	ip(t, "-n", p.a, "neigh", "add", clientIPv4.String(), "lladdr", p.macB.String(), "dev", "eth0", "nud", "permanent")
	ip(t, "-n", p.a, "neigh", "add", clientIPv6.String(), "lladdr", p.macB.String(), "dev", "eth0", "nud", "permanent")
	return p
}

// mac returns the hardware address of eth0 in ns.
func (p *pair) mac(t testing.TB, ns string) net.HardwareAddr {
	t.Helper()
	var links []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal([]byte(ip(t, "-j", "-n", ns, "link", "show", "eth0")), &links); err != nil || len(links) != 1 {
		t.Fatalf("failed to read eth0 of %s: %v", ns, err)
	}
	mac, err := net.ParseMAC(links[0].Address)
	if err != nil {
		t.Fatal(err)
	}
	return mac
}

// addService puts addr on lo of A.
func (p *pair) addService(t testing.TB, addr netip.Addr) {
	t.Helper()
	ip(t, "-n", p.a, "addr", "add", netip.PrefixFrom(addr, addr.BitLen()).String(), "dev", "lo")
}

// neighbour is B's neighbour entry for an address.
type neighbour struct {
	LLAddr string   `json:"lladdr"`
	State  []string `json:"state"`
}

// neigh returns B's entry for addr; a missing entry has no state.
func (p *pair) neigh(t testing.TB, addr netip.Addr) neighbour {
	t.Helper()
	var ns []neighbour
	if err := json.Unmarshal([]byte(ip(t, "-j", "-n", p.b, "neigh", "show", addr.String(), "dev", "eth0")), &ns); err != nil {
		t.Fatalf("failed to read neighbours: %v", err)
	}
	if len(ns) == 0 {
		return neighbour{}
	}
	return ns[0]
}

// inNS runs fn in namespace ns (lab.InNamespace) and fails t with fn's
// error. Sockets opened by fn stay in ns after fn returns.
func inNS(t testing.TB, ns string, fn func() error) {
	t.Helper()
	h, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := lab.InNamespace(h, fn); err != nil {
		t.Fatalf("in %s: %v", ns, err)
	}
}

// startAnnouncer runs an Announcer on eth0 of A until the test ends.
func (p *pair) startAnnouncer(t testing.TB, opts Options) *Announcer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan *Announcer, 1)
	done := make(chan error, 1)
	go func() {
		// The thread enters A for good and dies with this goroutine, so
		// every socket Run opens, now or later, is A's.
		runtime.LockOSThread()
		h, err := netns.GetFromName(p.a)
		if err == nil {
			err = netns.Set(h)
			h.Close()
		}
		var ifi *net.Interface
		if err == nil {
			ifi, err = net.InterfaceByName("eth0")
		}
		if err != nil {
			started <- nil
			done <- err
			return
		}
		a := New(ifi, opts)
		started <- a
		done <- a.Run(ctx)
	}()
	a := <-started
	if a == nil {
		cancel()
		t.Fatalf("failed to start announcer: %v", <-done)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return a
}

// startEcho runs a UDP echo server on every address of A.
func (p *pair) startEcho(t testing.TB) {
	t.Helper()
	var c *net.UDPConn
	inNS(t, p.a, func() error {
		var err error
		c, err = net.ListenUDP("udp", &net.UDPAddr{Port: echoPort})
		return err
	})
	t.Cleanup(func() { _ = c.Close() })
	go func() {
		b := make([]byte, 1500)
		for {
			n, from, err := c.ReadFrom(b)
			if err != nil {
				return
			}
			_, _ = c.WriteTo(b[:n], from)
		}
	}()
}

// client is a UDP socket in B.
func (p *pair) client(t testing.TB) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	inNS(t, p.b, func() error {
		var err error
		c, err = net.ListenUDP("udp", &net.UDPAddr{})
		return err
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// echo sends one datagram to addr and reports whether it came back in time.
func echo(t testing.TB, c *net.UDPConn, addr netip.Addr, timeout time.Duration) bool {
	t.Helper()
	msg := []byte(fmt.Sprintf("ping %d", time.Now().UnixNano()))
	if _, err := c.WriteToUDPAddrPort(msg, netip.AddrPortFrom(addr, echoPort)); err != nil {
		t.Fatalf("failed to send to %s: %v", addr, err)
	}
	deadline := time.Now().Add(timeout)
	b := make([]byte, 1500)
	for {
		if err := c.SetReadDeadline(deadline); err != nil {
			t.Fatal(err)
		}
		n, _, err := c.ReadFromUDPAddrPort(b)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return false
		}
		if err != nil {
			t.Fatalf("failed to read: %v", err)
		}
		if string(b[:n]) == string(msg) {
			return true
		}
	}
}

// echoWithin retries echo until it succeeds or the deadline passes.
func echoWithin(t testing.TB, c *net.UDPConn, addr netip.Addr, d time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if echo(t, c, addr, 200*time.Millisecond) {
			return true
		}
	}
	return false
}
