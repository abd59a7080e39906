package lab

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const echoPort = 7007

// requireRoot skips privileged tests when not root or without iproute2.
func requireRoot(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("privileged lab test skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2 (ip)")
	}
}

func newLab(t *testing.T, o Options) *Lab {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	l, err := New(ctx, o)
	if err != nil {
		t.Fatalf("New() error: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close() error: %v", err)
		}
	})
	return l
}

func startEcho(t *testing.T, h *Host) {
	t.Helper()
	stop, err := h.StartEcho(t.Context(), echoPort, h.Name)
	if err != nil {
		t.Fatalf("StartEcho(%s) error: %v", h.Name, err)
	}
	t.Cleanup(stop)
}

// echo asks to from h with a short timeout.
func echo(t *testing.T, h *Host, to netip.Addr, timeout time.Duration) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	return h.Echo(ctx, netip.AddrPortFrom(to, echoPort))
}

// eventually polls echo until it answers want or the deadline passes.
func eventually(t *testing.T, h *Host, to netip.Addr, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := echo(t, h, to, 200*time.Millisecond)
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s → %s: got %q, %v; want %q", h.Name, to, got, err, want)
		}
	}
}

func netnsList(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatalf("ip netns list: %v", err)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names
}

func labNamespaces(t *testing.T, id string) []string {
	t.Helper()
	var got []string
	for _, n := range netnsList(t) {
		if strings.HasPrefix(n, id+"-") {
			got = append(got, n)
		}
	}
	return got
}

func TestLab(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	l := newLab(t, Options{Name: "labtest"})
	for _, h := range l.Hosts() {
		startEcho(t, h)
	}

	t.Run("reachable", func(t *testing.T) {
		for _, n := range l.Nodes {
			for _, to := range []netip.Addr{n.IPv4.Addr(), n.IPv6.Addr()} {
				eventually(t, l.Client, to, n.Name)
			}
			for _, to := range []netip.Addr{l.Client.IPv4.Addr(), l.Client.IPv6.Addr(), l.ControlAddr(), l.ControlAddr6()} {
				want := "client"
				if to == l.ControlAddr() || to == l.ControlAddr6() {
					want = "switch"
				}
				eventually(t, n, to, want)
			}
		}
	})

	node2 := l.Nodes[1]
	vip4 := HostPrefix(netip.MustParsePrefix("192.0.2.0/24"), 150).Addr()
	vip6 := HostPrefix(netip.MustParsePrefix("2001:db8::/64"), 150).Addr()
	for _, vip := range []netip.Addr{vip4, vip6} {
		if err := node2.AddVIP(t.Context(), vip); err != nil {
			t.Fatalf("AddVIP(%s) error: %v", vip, err)
		}
	}

	t.Run("vip unreachable without neighbour entry", func(t *testing.T) {
		// arp_ignore=1 and the address on lo: nobody answers ARP/NDP for it.
		for _, vip := range []netip.Addr{vip4, vip6} {
			if got, err := echo(t, l.Client, vip, 300*time.Millisecond); err == nil {
				t.Errorf("Echo(%s) = %q, want no reply", vip, got)
			}
		}
	})

	for _, vip := range []netip.Addr{vip4, vip6} {
		if err := l.Client.SetNeighbor(t.Context(), vip, node2.MAC); err != nil {
			t.Fatalf("SetNeighbor(%s) error: %v", vip, err)
		}
	}

	t.Run("vip via static neighbour", func(t *testing.T) {
		for _, vip := range []netip.Addr{vip4, vip6} {
			eventually(t, l.Client, vip, "node2")
		}
	})

	t.Run("tcp via vip", func(t *testing.T) {
		for _, vip := range []netip.Addr{vip4, vip6} {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			c, err := l.Client.DialContext(ctx, "tcp", netip.AddrPortFrom(vip, echoPort).String())
			if err != nil {
				t.Fatalf("DialContext(%s) error: %v", vip, err)
			}
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			if _, err := io.WriteString(c, "hello\n"); err != nil {
				t.Fatalf("write: %v", err)
			}
			got, err := io.ReadAll(c)
			c.Close()
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if diff := cmp.Diff("node2 hello\n", string(got)); diff != "" {
				t.Errorf("TCP echo via %s (-want +got):\n%s", vip, diff)
			}
		}
	})

	t.Run("cut and heal", func(t *testing.T) {
		if err := node2.SetLinkUp(t.Context(), false); err != nil {
			t.Fatalf("SetLinkUp(false) error: %v", err)
		}
		for _, to := range []netip.Addr{vip4, vip6, node2.IPv4.Addr()} {
			if got, err := echo(t, l.Client, to, 300*time.Millisecond); err == nil {
				t.Errorf("Echo(%s) with link cut = %q, want no reply", to, got)
			}
		}
		if err := node2.SetLinkUp(t.Context(), true); err != nil {
			t.Fatalf("SetLinkUp(true) error: %v", err)
		}
		for _, to := range []netip.Addr{vip4, vip6, node2.IPv4.Addr(), node2.IPv6.Addr()} {
			eventually(t, l.Client, to, "node2")
		}
	})

	t.Run("remove vip", func(t *testing.T) {
		for _, vip := range []netip.Addr{vip4, vip6} {
			if err := node2.RemoveVIP(t.Context(), vip); err != nil {
				t.Fatalf("RemoveVIP(%s) error: %v", vip, err)
			}
			if err := node2.RemoveVIP(t.Context(), vip); err != nil {
				t.Fatalf("second RemoveVIP(%s) error: %v", vip, err)
			}
			if got, err := echo(t, l.Client, vip, 300*time.Millisecond); err == nil {
				t.Errorf("Echo(%s) after RemoveVIP = %q, want no reply", vip, got)
			}
		}
	})
}

func TestCloseRemovesEverything(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	l, err := New(ctx, Options{Name: "labclose", Nodes: 2})
	if err != nil {
		t.Fatalf("New() error: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	if got := len(labNamespaces(t, l.ID())); got != 4 {
		t.Errorf("lab has %d namespaces, want 4", got)
	}
	cmd := l.Nodes[0].Command(ctx, "sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatalf("Start() error: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close() error: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close() error: %v", err)
	}
	if got := labNamespaces(t, l.ID()); len(got) != 0 {
		t.Errorf("namespaces left after Close: %v", got)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Errorf("Wait() = %v, want the process killed", err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("process started in the lab still runs after Close")
	}
	if err := l.Nodes[0].Command(ctx, "true").Run(); err == nil {
		t.Errorf("Command after Close ran, want an error")
	}
}

func TestSweep(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	live := newLab(t, Options{Name: "labsweep", Nodes: 1})
	// A crashed run's leftover: namespaces and no lock holder.
	dead := "labsweep-0dead0"
	for _, h := range []string{"switch", "node1"} {
		if out, err := exec.Command("ip", "netns", "add", dead+"-"+h).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add: %v: %s", err, out)
		}
		t.Cleanup(func() { _ = deleteNamed(dead + "-" + h) })
	}
	if err := Sweep("labsweep"); err != nil {
		t.Fatalf("Sweep() error: %v", err)
	}
	if got := labNamespaces(t, dead); len(got) != 0 {
		t.Errorf("leftover namespaces after Sweep: %v", got)
	}
	if got := len(labNamespaces(t, live.ID())); got != 3 {
		t.Errorf("live lab has %d namespaces after Sweep, want 3", got)
	}
}

func TestTenNodes(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	start := time.Now()
	l := newLab(t, Options{Name: "labten", Nodes: 10, FloodMulticast: true})
	built := time.Since(start)
	t.Logf("10-node lab built in %v", built)
	if built > 20*time.Second {
		t.Errorf("10-node lab took %v to build, want under 20s", built)
	}
	last := l.Nodes[9]
	startEcho(t, last)
	eventually(t, l.Client, last.IPv4.Addr(), "node10")
	eventually(t, l.Client, last.IPv6.Addr(), "node10")
}

func TestDo(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	l := newLab(t, Options{Name: "labdo", Nodes: 1})
	var names []string
	err := l.Nodes[0].Do(func() error {
		ifs, err := net.Interfaces()
		for _, i := range ifs {
			names = append(names, i.Name)
		}
		return err
	})
	if err != nil {
		t.Fatalf("Do() error: %v", err)
	}
	if diff := cmp.Diff([]string{"lo", "eth0"}, names); diff != "" {
		t.Errorf("interfaces inside node1 (-want +got):\n%s", diff)
	}
	want := errors.New("boom")
	if got := l.Nodes[0].Do(func() error { return want }); !errors.Is(got, want) {
		t.Errorf("Do() = %v, want %v", got, want)
	}
}

func TestHostPrefix(t *testing.T) {
	tests := []struct {
		name string
		p    string
		i    int
		want string
	}{
		{name: "v4", p: "192.0.2.0/24", i: 254, want: "192.0.2.254/24"},
		{name: "v4 unmasked", p: "192.0.2.7/24", i: 1, want: "192.0.2.1/24"},
		{name: "v4 carry", p: "198.51.100.0/23", i: 256, want: "198.51.101.0/23"},
		{name: "v6", p: "2001:db8::/64", i: 254, want: "2001:db8::fe/64"},
		{name: "v6 carry", p: "2001:db8::/64", i: 0x1ff, want: "2001:db8::1ff/64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := HostPrefix(netip.MustParsePrefix(tt.p), tt.i).String()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("HostPrefix(%s, %d) (-want +got):\n%s", tt.p, tt.i, diff)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name    string
		in      Options
		want    Options
		wantErr bool
	}{
		{name: "defaults", in: Options{}, want: Options{Name: "blb", Nodes: 3,
			IPv4: netip.MustParsePrefix("192.0.2.0/24"), IPv6: netip.MustParsePrefix("2001:db8::/64")}},
		{name: "too many nodes", in: Options{Nodes: MaxNodes + 1}, wantErr: true},
		{name: "negative nodes", in: Options{Nodes: -1}, wantErr: true},
		{name: "bad name", in: Options{Name: "a-b"}, wantErr: true},
		{name: "small v4", in: Options{IPv4: netip.MustParsePrefix("192.0.2.0/25")}, wantErr: true},
		{name: "v6 as v4", in: Options{IPv4: netip.MustParsePrefix("2001:db8::/64")}, wantErr: true},
		{name: "small v6", in: Options{IPv6: netip.MustParsePrefix("2001:db8::/121")}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.withDefaults()
			if (err != nil) != tt.wantErr {
				t.Fatalf("withDefaults() error = %v, wantErr %t", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("withDefaults() (-want +got):\n%s", diff)
			}
		})
	}
}
