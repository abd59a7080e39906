//go:build linux

package announce

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// groupsPerSocket caps the IPv6 memberships held by one socket. Each
// membership is charged to the socket's option memory (net.core.optmem_max,
// 128 KiB by default, about 2,300 memberships), so memberships are spread
// over as many sockets as needed, well below that limit.
const groupsPerSocket = 1000

// openLink opens the ARP and NDP packet sockets of ifi. Sockets of the
// membership pool are opened later, from the same goroutine as the control
// loop (see Run).
func openLink(ifi *net.Interface) (*link, error) {
	arpConn, err := listen(ifi, ethernet.EtherTypeARP, arpFilter(ifi.Index))
	if err != nil {
		return nil, err
	}
	ndpConn, err := listen(ifi, ethernet.EtherTypeIPv6, ndpFilter(ifi.Index))
	if err != nil {
		_ = arpConn.Close()
		return nil, err
	}
	groups := &memberships{
		ifindex:   ifi.Index,
		perSocket: groupsPerSocket,
		where:     make(map[netip.Addr]int),
		allMulti:  func() error { return setAllMulti(ndpConn, ifi.Index) },
	}
	arpFrames, err := newFrameConn(arpConn)
	if err != nil {
		return nil, errors.Join(err, arpConn.Close(), ndpConn.Close())
	}
	ndpFrames, err := newFrameConn(ndpConn)
	if err != nil {
		return nil, errors.Join(err, arpConn.Close(), ndpConn.Close())
	}
	return &link{
		arp:    port{conn: arpFrames},
		ndp:    port{conn: ndpFrames},
		groups: groups,
		close: func() error {
			return errors.Join(groups.close(), arpConn.Close(), ndpConn.Close())
		},
	}, nil
}

// listen opens a raw packet socket for one EtherType with a filter attached
// before bind, so nothing unfiltered is ever queued.
func listen(ifi *net.Interface, et ethernet.EtherType, filter []bpf.Instruction) (*packet.Conn, error) {
	raw, err := bpf.Assemble(filter)
	if err != nil {
		return nil, fmt.Errorf("failed to assemble filter: %w", err)
	}
	c, err := packet.Listen(ifi, packet.Raw, int(et), &packet.Config{Filter: raw})
	if err != nil {
		return nil, fmt.Errorf("failed to listen for EtherType %#04x: %w", uint16(et), err)
	}
	// Our own frames are not questions; kernels before 4.20 lack the option
	// and ReplyARP/ReplyNDP drop them as OwnFrame instead.
	_ = control(c, func(fd int) error {
		return unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	})
	return c, nil
}

// control runs fn on the file descriptor of c.
func control(c *packet.Conn, fn func(fd int) error) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// setAllMulti makes the interface pass all multicast frames, the fallback
// when IPv6 memberships are impossible (IPv6 disabled on the interface).
func setAllMulti(c *packet.Conn, ifindex int) error {
	return control(c, func(fd int) error {
		mreq := unix.PacketMreq{Ifindex: int32(ifindex), Type: unix.PACKET_MR_ALLMULTI}
		return unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq)
	})
}

// memberships holds IPv6 multicast memberships (IPV6_JOIN_GROUP) on a pool
// of sockets. Unlike a packet socket's PACKET_MR_MULTICAST, which only
// programs the NIC's filter, an IPv6 membership also makes the kernel send
// MLD reports, which MLD-snooping switches and bridges (the Linux bridge
// snoops by default) need to forward the group to us. It is used from one
// goroutine only.
type memberships struct {
	ifindex   int
	perSocket int // groupsPerSocket but in tests
	fds       []int
	counts    []int
	where     map[netip.Addr]int // group -> index in fds
	allMulti  func() error
	fallback  bool // IPv6 is unavailable: all multicast is passed instead
}

// join implements joiner.
func (m *memberships) join(group netip.Addr) error {
	if m.fallback {
		return nil
	}
	for i := 0; ; i++ {
		if i == len(m.fds) {
			fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if errors.Is(err, unix.EAFNOSUPPORT) {
				return m.startFallback(err)
			}
			if err != nil {
				return fmt.Errorf("failed to open membership socket: %w", err)
			}
			m.fds = append(m.fds, fd)
			m.counts = append(m.counts, 0)
		}
		if m.counts[i] >= m.perSocket {
			continue
		}
		err := setMembership(m.fds[i], unix.IPV6_JOIN_GROUP, m.ifindex, group)
		switch {
		case err == nil:
			m.counts[i]++
			m.where[group] = i
			return nil
		case (errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.ENOMEM)) && m.counts[i] > 0:
			// This socket's option memory is spent: use the next one.
			m.counts[i] = m.perSocket
		case errors.Is(err, unix.ENODEV), errors.Is(err, unix.EINVAL):
			// The interface has no IPv6 (disabled, or an MTU below 1280):
			// there is no inet6 device to join on. The group itself is
			// always a valid multicast address.
			return m.startFallback(err)
		default:
			return fmt.Errorf("failed to join %s: %w", group, err)
		}
	}
}

// leave implements joiner.
func (m *memberships) leave(group netip.Addr) error {
	i, ok := m.where[group]
	if !ok {
		return nil
	}
	delete(m.where, group)
	m.counts[i]--
	if err := setMembership(m.fds[i], unix.IPV6_LEAVE_GROUP, m.ifindex, group); err != nil {
		return fmt.Errorf("failed to leave %s: %w", group, err)
	}
	return nil
}

// startFallback switches to passing all multicast after a membership was
// refused for lack of IPv6.
func (m *memberships) startFallback(cause error) error {
	if err := m.allMulti(); err != nil {
		return fmt.Errorf("failed to enable all-multicast after %w: %w", cause, err)
	}
	m.fallback = true
	return nil
}

// close closes the pool; the kernel drops its memberships.
func (m *memberships) close() error {
	var errs []error
	for _, fd := range m.fds {
		errs = append(errs, unix.Close(fd))
	}
	m.fds, m.counts = nil, nil
	return errors.Join(errs...)
}

// setMembership joins or leaves group on the interface ifindex.
func setMembership(fd, opt, ifindex int, group netip.Addr) error {
	mreq := unix.IPv6Mreq{Multiaddr: group.As16(), Interface: uint32(ifindex)}
	return unix.SetsockoptIPv6Mreq(fd, unix.IPPROTO_IPV6, opt, &mreq)
}

// frameConn reads and writes whole frames on a bound packet socket with
// read(2) and write(2): without a sockaddr_ll to convert, a frame costs no
// allocation (ReadFrom and WriteTo of packet.Conn allocate addresses), and
// a raw socket sends the frame as written on the interface it is bound to.
// One goroutine may read while others write.
type frameConn struct {
	c  *packet.Conn
	rc syscall.RawConn

	// Read state, owned by the one reading goroutine.
	rbuf   []byte
	rn     int
	rerr   error
	readFn func(fd uintptr) bool

	wmu     sync.Mutex // guards the write state
	wbuf    []byte
	werr    error
	writeFn func(fd uintptr) bool
}

// newFrameConn wraps c.
func newFrameConn(c *packet.Conn) (*frameConn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("failed to get raw connection: %w", err)
	}
	f := &frameConn{c: c, rc: rc}
	f.readFn = func(fd uintptr) bool {
		f.rn, f.rerr = unix.Read(int(fd), f.rbuf)
		return !errors.Is(f.rerr, unix.EAGAIN)
	}
	f.writeFn = func(fd uintptr) bool {
		_, f.werr = unix.Write(int(fd), f.wbuf)
		return !errors.Is(f.werr, unix.EAGAIN)
	}
	return f, nil
}

// ReadFrom implements conn; the address is always nil.
func (f *frameConn) ReadFrom(b []byte) (int, net.Addr, error) {
	f.rbuf = b
	err := f.rc.Read(f.readFn)
	f.rbuf = nil
	if err != nil {
		return 0, nil, err
	}
	if f.rerr != nil {
		return 0, nil, os.NewSyscallError("read", f.rerr)
	}
	return f.rn, nil, nil
}

// WriteTo implements conn; the frame carries its destination and addr is
// ignored.
func (f *frameConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	f.wbuf = b
	err := f.rc.Write(f.writeFn)
	f.wbuf = nil
	if err != nil {
		return 0, err
	}
	if f.werr != nil {
		return 0, os.NewSyscallError("write", f.werr)
	}
	return len(b), nil
}

// SetReadDeadline implements conn.
func (f *frameConn) SetReadDeadline(t time.Time) error { return f.c.SetReadDeadline(t) }
