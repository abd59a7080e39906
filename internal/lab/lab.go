package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
)

// Address plan inside the lab prefixes (host index = offset from the prefix base):
// node i gets index i (1..MaxNodes), the client 253, the switch's bridge 254.
// Indexes 100..199 are never used by the lab: they are free for service addresses.
const (
	// MaxNodes is the largest number of nodes a lab can have.
	MaxNodes = 99
	// FirstFree is the first host index the lab leaves free for service addresses.
	FirstFree = 100
	// LastFree is the last host index the lab leaves free for service addresses.
	LastFree = 199

	clientIndex = 253
	switchIndex = 254

	bridgeName = "br0"
	hostLink   = "eth0"
	// defaultName prefixes namespace names when Options.Name is empty.
	defaultName = "blb"
	// lockDir holds one lock file per live lab; see Sweep.
	lockDir = "/run/barelb-lab"
)

// Options describe a lab. The zero value is a usable 3-node lab.
type Options struct {
	// Name prefixes the lab's namespace names ("<Name>-<random>-node1"), so parallel labs never
	// clash and Sweep can find leftovers. Default "blb". Letters, digits and '_' only.
	Name string
	// Nodes is the number of nodes, named node1..nodeN like the Kubernetes nodes they stand for.
	// Default 3, at most MaxNodes.
	Nodes int
	// IPv4 is the lab's IPv4 subnet, at least a /24. Default 192.0.2.0/24.
	IPv4 netip.Prefix
	// IPv6 is the lab's IPv6 subnet, at least a /120. Default 2001:db8::/64.
	IPv6 netip.Prefix
	// FloodMulticast turns multicast snooping off on the switch, so it floods all multicast like
	// a hub. Off by default: see the switch description in New.
	FloodMulticast bool
}

// Lab is a running lab. Its methods and its hosts' methods are safe for concurrent use, except
// that nothing may be used concurrently with or after Close.
type Lab struct {
	// Switch is the namespace holding the bridge; its Link is the bridge itself, which carries
	// the ControlAddr addresses.
	Switch *Host
	// Nodes are node1..nodeN.
	Nodes []*Host
	// Client is a host on the same bridge standing for a user of the service addresses.
	Client *Host

	id   string // "<name>-<suffix>", the prefix of every namespace name of this lab
	lock *os.File

	mu      sync.Mutex
	closed  bool
	procs   []*exec.Cmd
	stops   []func()
	closeEr error
}

// ID returns the lab's unique name, the common prefix of its namespace names.
func (l *Lab) ID() string { return l.id }

// ControlAddr returns the IPv4 address of the bridge in the switch namespace. Processes run in
// the switch namespace (etcd, kube-apiserver, the CCM) listen there; every host reaches it.
func (l *Lab) ControlAddr() netip.Addr { return l.Switch.IPv4.Addr() }

// ControlAddr6 is ControlAddr for IPv6.
func (l *Lab) ControlAddr6() netip.Addr { return l.Switch.IPv6.Addr() }

// Hosts returns the switch, the nodes and the client.
func (l *Lab) Hosts() []*Host {
	hosts := append([]*Host{l.Switch}, l.Nodes...)
	return append(hosts, l.Client)
}

// Node returns the node named name, or nil.
func (l *Lab) Node(name string) *Host {
	for _, n := range l.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

func (o Options) withDefaults() (Options, error) {
	if o.Name == "" {
		o.Name = defaultName
	}
	for _, c := range o.Name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return o, fmt.Errorf("invalid lab name %q: only letters, digits and '_'", o.Name)
		}
	}
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Nodes < 0 || o.Nodes > MaxNodes {
		return o, fmt.Errorf("invalid node count %d: want 1..%d", o.Nodes, MaxNodes)
	}
	if !o.IPv4.IsValid() {
		o.IPv4 = netip.MustParsePrefix("192.0.2.0/24")
	}
	if !o.IPv6.IsValid() {
		o.IPv6 = netip.MustParsePrefix("2001:db8::/64")
	}
	if !o.IPv4.Addr().Is4() || o.IPv4.Bits() > 24 {
		return o, fmt.Errorf("invalid IPv4 prefix %s: want an IPv4 prefix of at least /24", o.IPv4)
	}
	if !o.IPv6.Addr().Is6() || o.IPv6.Addr().Is4In6() || o.IPv6.Bits() > 120 {
		return o, fmt.Errorf("invalid IPv6 prefix %s: want an IPv6 prefix of at least /120", o.IPv6)
	}
	o.IPv4, o.IPv6 = o.IPv4.Masked(), o.IPv6.Masked()
	return o, nil
}

// HostPrefix returns the address with host index i in p, with p's length.
func HostPrefix(p netip.Prefix, i int) netip.Prefix {
	b := p.Masked().Addr().AsSlice()
	for k := len(b) - 1; i > 0 && k >= 0; k-- {
		sum := int(b[k]) + i
		b[k], i = byte(sum), sum>>8
	}
	a, _ := netip.AddrFromSlice(b)
	return netip.PrefixFrom(a, p.Bits())
}

// New creates a lab: a switch namespace with a bridge, the node namespaces and a client namespace,
// each host joined to the bridge by a veth pair (the host's end is eth0, the switch's end is named
// after the host). On any error it removes what it made.
//
// The switch keeps multicast (IGMP/MLD) snooping on and acts as querier, like a production switch:
// after the query response interval, a Neighbor Solicitation to a solicited-node group that some host
// has joined reaches only the hosts that reported membership. So an announcer that answers NS for an
// address without joining its solicited-node group fails here as it would in production, instead of
// being hidden by a switch that floods everything (the Linux bridge floods all multicast while no
// querier exists, which is its default). The group table is sized for 10,000+ groups (the kernel
// turns snooping off when it overflows). Options.FloodMulticast gives the forgiving hub instead.
func New(ctx context.Context, o Options) (_ *Lab, err error) {
	o, err = o.withDefaults()
	if err != nil {
		return nil, err
	}
	logger := klog.FromContext(ctx)
	if err := Sweep(o.Name); err != nil {
		logger.Error(err, "Failed to sweep leftover labs", "prefix", o.Name)
	}
	l := &Lab{}
	if l.id, l.lock, err = lockNew(o.Name); err != nil {
		return nil, err
	}
	start := time.Now()
	defer func() {
		if err != nil {
			if cerr := l.Close(); cerr != nil {
				logger.Error(cerr, "Failed to remove a partly built lab", "lab", l.id)
			}
		}
	}()
	// Created hosts are recorded in l before anything can fail, so Close finds them.
	l.Switch = &Host{Name: "switch", Link: bridgeName, lab: l,
		MAC:  labMAC(0xff, 0xfe),
		IPv4: HostPrefix(o.IPv4, switchIndex), IPv6: HostPrefix(o.IPv6, switchIndex)}
	if err := l.Switch.create(ctx); err != nil {
		return nil, err
	}
	if err := l.buildSwitch(ctx, o); err != nil {
		return nil, err
	}
	for i := 1; i <= o.Nodes; i++ {
		h := &Host{Name: fmt.Sprintf("node%d", i), Link: hostLink, lab: l, MAC: labMAC(0, byte(i)),
			IPv4: HostPrefix(o.IPv4, i), IPv6: HostPrefix(o.IPv6, i)}
		l.Nodes = append(l.Nodes, h)
		if err := l.attach(ctx, h); err != nil {
			return nil, err
		}
	}
	l.Client = &Host{Name: "client", Link: hostLink, lab: l, MAC: labMAC(1, 0),
		IPv4: HostPrefix(o.IPv4, clientIndex), IPv6: HostPrefix(o.IPv6, clientIndex)}
	if err := l.attach(ctx, l.Client); err != nil {
		return nil, err
	}
	if err := l.waitRunning(ctx); err != nil {
		return nil, err
	}
	logger.V(2).Info("Lab ready", "lab", l.id, "nodes", o.Nodes, "duration", time.Since(start))
	return l, nil
}

// labMAC returns a locally administered unicast MAC 02:62:6c:00:a:b ("bl").
func labMAC(a, b byte) net.HardwareAddr { return net.HardwareAddr{0x02, 0x62, 0x6c, 0, a, b} }

func (l *Lab) buildSwitch(ctx context.Context, o Options) error {
	sw := l.Switch
	if err := sw.baseSysctls(); err != nil {
		return err
	}
	snoop := !o.FloodMulticast
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: bridgeName, HardwareAddr: sw.MAC}, MulticastSnooping: &snoop}
	if err := sw.nl.LinkAdd(br); err != nil {
		return fmt.Errorf("failed to add bridge in %s: %w", sw.Netns, err)
	}
	if snoop {
		// netlink has no attribute for these; iproute2 has.
		out, err := exec.CommandContext(ctx, "ip", "-n", sw.Netns, "link", "set", "dev", bridgeName, "type", "bridge",
			"mcast_querier", "1", "mcast_hash_max", "32768", "mcast_igmp_version", "3", "mcast_mld_version", "2").CombinedOutput()
		if err != nil {
			return fmt.Errorf("failed to configure multicast snooping on %s: %w: %s", sw.Netns, err, out)
		}
	}
	if err := sw.Do(func() error { return writeSysctl("net/ipv6/conf/"+bridgeName+"/accept_dad", "0") }); err != nil {
		return err
	}
	if err := sw.addAddrs(br); err != nil {
		return err
	}
	if err := sw.nl.LinkSetUp(br); err != nil {
		return fmt.Errorf("failed to set bridge up in %s: %w", sw.Netns, err)
	}
	sw.port = bridgeName
	return nil
}

// attach creates h's namespace and its veth pair into the bridge.
func (l *Lab) attach(ctx context.Context, h *Host) error {
	if err := h.create(ctx); err != nil {
		return err
	}
	if err := h.baseSysctls(); err != nil {
		return err
	}
	return l.plug(h)
}

// Replug deletes h's cable (the veth pair into the bridge, so h's Link disappears from its
// namespace with every address on it) and plugs a new one in: the same name, MAC and addresses,
// under a new interface index, as when a NIC is re-created by its driver or an operator.
func (l *Lab) Replug(ctx context.Context, h *Host) error {
	if h == l.Switch {
		return errors.New("failed to replug: the switch has no cable")
	}
	sw := l.Switch
	port, err := sw.nl.LinkByName(h.port)
	if err != nil {
		return fmt.Errorf("failed to find port %s of %s: %w", h.port, h.Name, err)
	}
	if err := sw.nl.LinkDel(port); err != nil {
		return fmt.Errorf("failed to delete port %s of %s: %w", h.port, h.Name, err)
	}
	return l.plug(h)
}

// plug creates h's veth pair into the bridge, with h's MAC and addresses on h's end, both up.
func (l *Lab) plug(h *Host) error {
	h.port = h.Name
	return l.plugInto(bridgeName, h)
}

// plugInto creates a veth pair from bridge to h: h.port is the switch's end, h.Link h's end,
// with h's MAC and addresses, both up.
func (l *Lab) plugInto(bridge string, h *Host) error {
	sw := l.Switch
	br, err := sw.nl.LinkByName(bridge)
	if err != nil {
		return fmt.Errorf("failed to find bridge %s in %s: %w", bridge, sw.Netns, err)
	}
	veth := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: h.port, MasterIndex: br.Attrs().Index},
		PeerName:         h.Link,
		PeerHardwareAddr: h.MAC,
		PeerNamespace:    netlink.NsFd(h.ns),
	}
	if err := sw.nl.LinkAdd(veth); err != nil {
		return fmt.Errorf("failed to add veth %s/%s: %w", sw.Netns, h.port, err)
	}
	// A bridge port is a layer-2 device: no IPv6 link-local address, no MLD of its own.
	if err := sw.Do(func() error { return writeSysctl("net/ipv6/conf/"+h.port+"/disable_ipv6", "1") }); err != nil {
		return err
	}
	if err := sw.nl.LinkSetUp(veth); err != nil {
		return fmt.Errorf("failed to set %s/%s up: %w", sw.Netns, h.Name, err)
	}
	link, err := h.nl.LinkByName(h.Link)
	if err != nil {
		return fmt.Errorf("failed to find %s/%s: %w", h.Netns, h.Link, err)
	}
	if err := h.Do(func() error { return writeSysctl("net/ipv6/conf/"+h.Link+"/accept_dad", "0") }); err != nil {
		return err
	}
	if err := h.addAddrs(link); err != nil {
		return err
	}
	if err := h.nl.LinkSetUp(link); err != nil {
		return fmt.Errorf("failed to set %s/%s up: %w", h.Netns, h.Link, err)
	}
	return nil
}

// Close kills the processes started through the lab's hosts, stops its echo servers and removes
// its namespaces (and with them every link in them). It is idempotent and returns the first error.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return l.closeEr
	}
	l.closed = true
	procs, stops := l.procs, l.stops
	l.procs, l.stops = nil, nil
	l.mu.Unlock()

	for _, cmd := range procs {
		killGroup(cmd)
	}
	for _, stop := range stops {
		stop()
	}
	var errs []error
	for _, h := range l.Hosts() {
		if h != nil {
			errs = append(errs, h.destroy())
		}
	}
	if l.lock != nil {
		// Unlink before unlocking, so a Sweep never sees an unlocked file of a live lab.
		errs = append(errs, ignoreNotExist(os.Remove(l.lock.Name())), l.lock.Close())
	}
	err := errors.Join(errs...)
	l.mu.Lock()
	l.closeEr = err
	l.mu.Unlock()
	return err
}

// track records a started-by-the-lab process; it returns false if the lab is closed.
func (l *Lab) track(cmd *exec.Cmd) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.procs = append(l.procs, cmd)
	return true
}

func (l *Lab) trackStop(stop func()) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.stops = append(l.stops, stop)
	return true
}

// killGroup SIGKILLs a started, not yet reaped command and its process group.
func killGroup(cmd *exec.Cmd) {
	if cmd.Process == nil || cmd.ProcessState != nil {
		return
	}
	_ = unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
	_ = cmd.Process.Kill()
}

func ignoreNotExist(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// newSuffix returns 6 random hex digits.
func newSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// waitRunning waits until every host's link has its carrier (operationally up: the kernel reports
// it asynchronously), so a new lab is usable at once.
func (l *Lab) waitRunning(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for _, h := range l.Hosts() {
		for {
			link, err := h.nl.LinkByName(h.Link)
			if err != nil {
				return fmt.Errorf("failed to find %s/%s: %w", h.Netns, h.Link, err)
			}
			if link.Attrs().RawFlags&unix.IFF_RUNNING != 0 {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("failed to see %s/%s running: %w", h.Netns, h.Link, ctx.Err())
			case <-tick.C:
			}
		}
	}
	return nil
}
