package lab

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// The echo protocol: every UDP datagram, and the first line (or first 512 bytes) of every TCP
// connection, is answered with "<reply> <request>", from the address the request was sent to.
// Echoing the request lets a client match replies to requests.

// StartEcho starts UDP and TCP echo servers on port of every address of the host (so also on
// service addresses on lo), IPv4 and IPv6, answering with reply (a node's name, typically). UDP
// replies leave from the address the request was sent to (IP_PKTINFO / IPV6_PKTINFO), as a real
// service's would. The servers stop on stop(), when ctx ends, or on Lab.Close.
func (h *Host) StartEcho(ctx context.Context, port int, reply string) (stop func(), err error) {
	p := ":" + strconv.Itoa(port)
	var closers []io.Closer
	defer func() {
		if err != nil {
			for _, c := range closers {
				_ = c.Close()
			}
		}
	}()
	u4, err := h.ListenPacket(ctx, "udp4", "0.0.0.0"+p)
	if err != nil {
		return nil, fmt.Errorf("failed to listen on udp4 %s in %s: %w", p, h.Name, err)
	}
	closers = append(closers, u4)
	u6, err := h.ListenPacket(ctx, "udp6", "[::]"+p)
	if err != nil {
		return nil, fmt.Errorf("failed to listen on udp6 %s in %s: %w", p, h.Name, err)
	}
	closers = append(closers, u6)
	tl, err := h.Listen(ctx, "tcp", p) // dual-stack
	if err != nil {
		return nil, fmt.Errorf("failed to listen on tcp %s in %s: %w", p, h.Name, err)
	}
	closers = append(closers, tl)

	p4, p6 := ipv4.NewPacketConn(u4), ipv6.NewPacketConn(u6)
	if err := p4.SetControlMessage(ipv4.FlagDst, true); err != nil {
		return nil, fmt.Errorf("failed to enable IP_PKTINFO: %w", err)
	}
	if err := p6.SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true); err != nil {
		return nil, fmt.Errorf("failed to enable IPV6_RECVPKTINFO: %w", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { serveUDP4(p4, reply) })
	wg.Go(func() { serveUDP6(p6, reply) })
	wg.Go(func() { serveTCP(tl, reply) })

	var once sync.Once
	stop = func() {
		once.Do(func() {
			for _, c := range closers {
				_ = c.Close()
			}
			wg.Wait()
		})
	}
	context.AfterFunc(ctx, stop)
	if !h.lab.trackStop(stop) {
		stop()
		return nil, fmt.Errorf("failed to start echo in %s: lab closed", h.Name)
	}
	return stop, nil
}

func echoReply(reply string, req []byte) []byte {
	return append([]byte(reply+" "), req...)
}

func serveUDP4(c *ipv4.PacketConn, reply string) {
	buf := make([]byte, 2048)
	for {
		n, cm, src, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		var wcm *ipv4.ControlMessage
		if cm != nil && cm.Dst != nil && !cm.Dst.IsMulticast() && !cm.Dst.Equal(net.IPv4bcast) {
			wcm = &ipv4.ControlMessage{Src: cm.Dst}
		}
		_, _ = c.WriteTo(echoReply(reply, buf[:n]), wcm, src)
	}
}

func serveUDP6(c *ipv6.PacketConn, reply string) {
	buf := make([]byte, 2048)
	for {
		n, cm, src, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		var wcm *ipv6.ControlMessage
		if cm != nil && cm.Dst != nil && !cm.Dst.IsMulticast() {
			wcm = &ipv6.ControlMessage{Src: cm.Dst, IfIndex: cm.IfIndex}
		}
		_, _ = c.WriteTo(echoReply(reply, buf[:n]), wcm, src)
	}
}

func serveTCP(l net.Listener, reply string) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		wg.Go(func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			line, err := bufio.NewReader(io.LimitReader(c, 512)).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return
			}
			_, _ = c.Write(echoReply(reply, []byte(line)))
		})
	}
}

// Echo sends one UDP datagram from the host to an echo server at to and returns the server's
// reply word (a node's name). Only a reply from to itself that echoes this request counts. It waits
// until ctx ends, or one second if ctx has no deadline.
func (h *Host) Echo(ctx context.Context, to netip.AddrPort) (string, error) {
	network, local := "udp4", "0.0.0.0:0"
	if to.Addr().Unmap().Is6() {
		network, local = "udp6", "[::]:0"
	}
	to = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
	c, err := h.ListenPacket(ctx, network, local)
	if err != nil {
		return "", fmt.Errorf("failed to open socket in %s: %w", h.Name, err)
	}
	defer c.Close()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Second)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	if err := c.SetDeadline(deadline); err != nil {
		return "", err
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	token := hex.EncodeToString(b)
	if _, err := c.WriteTo([]byte(token), net.UDPAddrFromAddrPort(to)); err != nil {
		return "", fmt.Errorf("failed to send to %s from %s: %w", to, h.Name, err)
	}
	buf := make([]byte, 2048)
	for {
		n, src, err := c.ReadFrom(buf)
		if err != nil {
			return "", fmt.Errorf("failed to get a reply from %s to %s: %w", to, h.Name, err)
		}
		ua, ok := src.(*net.UDPAddr)
		if !ok || ua.AddrPort().Addr().Unmap() != to.Addr() || ua.AddrPort().Port() != to.Port() {
			continue
		}
		if word, ok := strings.CutSuffix(string(buf[:n]), " "+token); ok {
			return word, nil
		}
	}
}
