package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Host is one network namespace of a lab.
type Host struct {
	// Name is "switch", "client" or the node's name ("node1").
	Name string
	// Netns is the namespace name, usable with `ip netns exec` and `ip -n`.
	Netns string
	// Link is the host's interface on the bridge: "eth0", or the bridge "br0" for the switch.
	Link string
	// MAC is Link's hardware address.
	MAC net.HardwareAddr
	// IPv4 and IPv6 are Link's addresses, with the lab prefixes' lengths.
	IPv4, IPv6 netip.Prefix

	lab     *Lab
	port    string // the host's end in the switch namespace (the bridge for the switch)
	created bool
	ns      netns.NsHandle
	nl      *netlink.Handle
}

// create makes the namespace, opens handles into it and brings lo up.
func (h *Host) create(ctx context.Context) error {
	h.Netns = h.lab.id + "-" + h.Name
	h.ns = netns.None()
	out, err := exec.CommandContext(ctx, "ip", "netns", "add", h.Netns).CombinedOutput()
	if err != nil {
		return fmt.Errorf("failed to add namespace %s: %w: %s", h.Netns, err, strings.TrimSpace(string(out)))
	}
	h.created = true
	if h.ns, err = netns.GetFromName(h.Netns); err != nil {
		return fmt.Errorf("failed to open namespace %s: %w", h.Netns, err)
	}
	if h.nl, err = netlink.NewHandleAt(h.ns); err != nil {
		return fmt.Errorf("failed to open netlink in %s: %w", h.Netns, err)
	}
	lo, err := h.nl.LinkByName("lo")
	if err == nil {
		err = h.nl.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("failed to set lo up in %s: %w", h.Netns, err)
	}
	return nil
}

// destroy closes the handles and removes the namespace.
func (h *Host) destroy() error {
	if h.nl != nil {
		h.nl.Close()
		h.nl = nil
	}
	if h.ns.IsOpen() {
		_ = h.ns.Close()
		h.ns = netns.None()
	}
	if !h.created {
		return nil
	}
	h.created = false
	return deleteNamed(h.Netns)
}

// baseSysctls makes addresses usable at once (no DAD) and keeps IPv6 addresses over a link flap.
func (h *Host) baseSysctls() error {
	return h.Do(func() error {
		for _, kv := range [][2]string{
			{"net/ipv6/conf/all/accept_dad", "0"},
			{"net/ipv6/conf/default/accept_dad", "0"},
			{"net/ipv6/conf/all/keep_addr_on_down", "1"},
		} {
			if err := writeSysctl(kv[0], kv[1]); err != nil {
				return err
			}
		}
		return nil
	})
}

func (h *Host) addAddrs(link netlink.Link) error {
	for _, p := range []netip.Prefix{h.IPv4, h.IPv6} {
		if err := h.nl.AddrReplace(link, nlAddr(p)); err != nil {
			return fmt.Errorf("failed to add %s to %s/%s: %w", p, h.Netns, link.Attrs().Name, err)
		}
	}
	return nil
}

// nlAddr converts p, adding IFA_F_NODAD for IPv6 so the address is usable at once.
func nlAddr(p netip.Prefix) *netlink.Addr {
	a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	return a
}

// writeSysctl writes a /proc/sys/net value of the calling thread's namespace; key uses '/'.
func writeSysctl(key, value string) error {
	if err := os.WriteFile("/proc/sys/"+key, []byte(value), 0o644); err != nil {
		return fmt.Errorf("failed to set sysctl %s: %w", key, err)
	}
	return nil
}

// Handle returns a netlink handle into the host's namespace, for inspection and changes the lab has
// no method for (neighbour tables, routes). It belongs to the lab: do not close it; it is invalid
// after Close.
func (h *Host) Handle() *netlink.Handle { return h.nl }

// NetNS returns an open handle on the host's namespace. It belongs to the lab: do not close it; it
// is invalid after Close.
func (h *Host) NetNS() netns.NsHandle { return h.ns }

// Do runs fn on a locked OS thread inside the host's namespace, on a goroutine of its own, and
// returns fn's error. Sockets fn creates stay in the namespace for their whole life. Goroutines that
// fn starts do not run in the namespace.
func (h *Host) Do(fn func() error) error {
	if !h.ns.IsOpen() {
		return fmt.Errorf("failed to enter namespace of %s: lab closed", h.Name)
	}
	return InNamespace(h.ns, fn)
}

// InNamespace runs fn on a locked OS thread inside the network namespace ns, on a goroutine of its
// own, and returns fn's error. Sockets fn creates stay in ns for their whole life; goroutines fn
// starts do not run in ns. Since fn runs on another goroutine, it must not call t.Fatal. It is the
// one way barelb's tests and the lab run code in a namespace; Host.Do is it for a lab host.
func InNamespace(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("failed to get current namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("failed to enter namespace %v: %w", ns, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// The thread stays locked: the runtime ends it with this goroutine.
			errc <- errors.Join(ferr, fmt.Errorf("failed to leave namespace %v: %w", ns, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Command returns a command running name inside the host's namespace (`ip netns exec`). It runs in
// a process group of its own, gets SIGKILL if this process dies, and is killed (with its group) by
// Lab.Close or when ctx ends. Do not replace its SysProcAttr.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.Netns, name}, args...)...)
	cmd.SysProcAttr = &unix.SysProcAttr{Setpgid: true, Pdeathsig: unix.SIGKILL}
	cmd.Cancel = func() error {
		killGroup(cmd)
		return nil
	}
	if !h.lab.track(cmd) {
		// A closed lab has no namespace: running it fails by itself.
		cmd.Err = fmt.Errorf("failed to run %s in %s: lab closed", name, h.Name)
	}
	return cmd
}

// DialContext dials from a socket created inside the host's namespace. It fits rest.Config.Dial.
// addr should hold an IP address: names are resolved outside the namespace.
func (h *Host) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := h.Do(func() error {
		var err error
		c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Listen is net.ListenConfig.Listen inside the host's namespace.
func (h *Host) Listen(ctx context.Context, network, addr string) (net.Listener, error) {
	var l net.Listener
	err := h.Do(func() error {
		var err error
		l, err = (&net.ListenConfig{}).Listen(ctx, network, addr)
		return err
	})
	return l, err
}

// ListenPacket is net.ListenConfig.ListenPacket inside the host's namespace.
func (h *Host) ListenPacket(ctx context.Context, network, addr string) (net.PacketConn, error) {
	var c net.PacketConn
	err := h.Do(func() error {
		var err error
		c, err = (&net.ListenConfig{}).ListenPacket(ctx, network, addr)
		return err
	})
	return c, err
}

// SetLinkUp cuts (false) or heals (true) the host's cable: it sets the host's port on the switch
// down or up, so the host sees its carrier go and come back while its own configuration stays.
// For the switch it sets the bridge itself.
func (h *Host) SetLinkUp(ctx context.Context, up bool) error {
	sw := h.lab.Switch
	link, err := sw.nl.LinkByName(h.port)
	if err != nil {
		return fmt.Errorf("failed to find port %s of %s: %w", h.port, h.Name, err)
	}
	if up {
		err = sw.nl.LinkSetUp(link)
	} else {
		err = sw.nl.LinkSetDown(link)
	}
	if err != nil {
		return fmt.Errorf("failed to set port %s of %s up=%t: %w", h.port, h.Name, up, err)
	}
	return nil
}

// AddVIP puts a service address on lo the way a node's data path holds it (kube-proxy in IPVS mode,
// or a router's loopback): the host accepts traffic for it, but with arp_ignore=1 (answer ARP only for
// addresses of the receiving interface) and arp_announce=2 (never use it as ARP source) set on "all"
// and on Link, the kernel never answers ARP for it, and an IPv6 address on lo is never answered
// in NDP on another link; so only an announcer makes it reachable. IPv6 skips DAD. Idempotent.
func (h *Host) AddVIP(ctx context.Context, addr netip.Addr) error {
	addr = addr.Unmap()
	if addr.Is4() {
		err := h.Do(func() error {
			for _, dev := range []string{"all", h.Link} {
				if err := writeSysctl("net/ipv4/conf/"+dev+"/arp_ignore", "1"); err != nil {
					return err
				}
				if err := writeSysctl("net/ipv4/conf/"+dev+"/arp_announce", "2"); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	lo, err := h.nl.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("failed to find lo in %s: %w", h.Netns, err)
	}
	a := nlAddr(netip.PrefixFrom(addr, addr.BitLen()))
	if addr.Is4() {
		a.Scope = int(netlink.SCOPE_UNIVERSE)
	}
	if err := h.nl.AddrReplace(lo, a); err != nil {
		return fmt.Errorf("failed to add %s to lo of %s: %w", addr, h.Name, err)
	}
	return nil
}

// RemoveVIP removes an address AddVIP added; a missing one is not an error.
func (h *Host) RemoveVIP(ctx context.Context, addr netip.Addr) error {
	addr = addr.Unmap()
	lo, err := h.nl.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("failed to find lo in %s: %w", h.Netns, err)
	}
	err = h.nl.AddrDel(lo, nlAddr(netip.PrefixFrom(addr, addr.BitLen())))
	if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		return fmt.Errorf("failed to remove %s from lo of %s: %w", addr, h.Name, err)
	}
	return nil
}

// AddRoute makes p reachable on-link through the host's Link: the client needs it to reach service
// addresses from pools outside the lab prefixes.
func (h *Host) AddRoute(ctx context.Context, p netip.Prefix) error {
	link, err := h.nl.LinkByName(h.Link)
	if err != nil {
		return fmt.Errorf("failed to find %s in %s: %w", h.Link, h.Netns, err)
	}
	p = p.Masked()
	dst := &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
	if err := h.nl.RouteReplace(&netlink.Route{LinkIndex: link.Attrs().Index, Dst: dst, Scope: netlink.SCOPE_LINK}); err != nil {
		return fmt.Errorf("failed to add route %s on %s: %w", p, h.Name, err)
	}
	return nil
}

// SetNeighbor adds a permanent neighbour entry addr → mac on the host's Link.
func (h *Host) SetNeighbor(ctx context.Context, addr netip.Addr, mac net.HardwareAddr) error {
	link, err := h.nl.LinkByName(h.Link)
	if err != nil {
		return fmt.Errorf("failed to find %s in %s: %w", h.Link, h.Netns, err)
	}
	addr = addr.Unmap()
	family := netlink.FAMILY_V4
	if addr.Is6() {
		family = netlink.FAMILY_V6
	}
	n := &netlink.Neigh{LinkIndex: link.Attrs().Index, Family: family, State: netlink.NUD_PERMANENT,
		IP: addr.AsSlice(), HardwareAddr: mac}
	if err := h.nl.NeighSet(n); err != nil {
		return fmt.Errorf("failed to set neighbour %s on %s: %w", addr, h.Name, err)
	}
	return nil
}

// SetBlackhole adds (on) or removes (off) a blackhole route for p in the host's namespace: the host
// drops every packet it would route to p, while layer 2 (ARP, NDP) on its Link is untouched. Tests
// use it to cut the gossip between nodes while the LAN still works. Adding is idempotent, and so is
// removing a route that is absent.
func (h *Host) SetBlackhole(ctx context.Context, p netip.Prefix, on bool) error {
	p = p.Masked()
	r := &netlink.Route{
		Dst:  &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())},
		Type: unix.RTN_BLACKHOLE,
	}
	var err error
	if on {
		err = h.nl.RouteReplace(r)
	} else if err = h.nl.RouteDel(r); errors.Is(err, unix.ESRCH) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("failed to set blackhole route %s on %s to %t: %w", p, h.Name, on, err)
	}
	return nil
}
