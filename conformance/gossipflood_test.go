package conformance

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/barelb/barelb/internal/lab"
	"github.com/barelb/barelb/internal/labcluster"
	"github.com/barelb/barelb/internal/poll"
)

// Flood parameters: bounded in count and time, lab addresses only.
const (
	floodFor       = 20 * time.Second
	floodStreams   = 16
	floodRedial    = 50 * time.Millisecond // per stream worker: ≤ 320 connections/s
	floodPackets   = 1000                  // per second, ≤ 20,000 in all
	floodClaim     = 19 << 20              // just under memberlist's 20 MiB maxPushStateBytes
	gossipPort     = 7946
	encryptMsgType = 10 // memberlist's encryptMsg
)

// Bounds of the helper's peak resident memory under the flood. An idle lab
// helper holds ≈ 35 MiB. Streams from outside the Nodes' addresses are
// closed unread: the helper should barely grow (measured: +3–6 MiB).
// Streams from a node's address are cut at 4 MiB, at most 4 at a time, and
// read at 8 MiB/s together: ≤ 48 MiB of stream buffers live at once (a
// bytes.Buffer of 4 MiB of content holds up to 8 MiB, 12 while it grows),
// and with GOGC=100 the heap may reach twice its live size before a
// collection: ≈ 2 × (48 + 15) MiB ≈ 126 MiB worst case (measured: 61–63 MiB
// paced, 91–101 MiB before the pacing). Both stay under the DaemonSet's
// GOMEMLIMIT (200 MiB) and 256 MiB limit. Before the guard, memberlist
// buffered up to 20 MiB per stream, in a buffer doubling to 32 MiB, for
// every stream at once (measured: 539 and 679 MiB).
const (
	floodRSSBoundOutside = 100 << 20
	floodRSSBoundNode    = 160 << 20
)

// Hostile traffic on the gossip port never takes a helper down: while the
// client streams to a served address, junk streams claiming a huge encrypted
// message and a UDP flood hit the owner's gossip port, from the client (not
// a node) and from a node's own address. The helper stays up, its memory
// bounded, and the address never moves.
func TestGossipFlood(t *testing.T) {
	c := startCluster(t, labcluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	addr := exposed(t, c, labcluster.NewService("default", "flood"))[0]
	owner, err := c.WaitReachable(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	var node *lab.Host
	for _, n := range c.Lab.Nodes {
		if n.Name != owner {
			node = n
			break
		}
	}
	for _, src := range []struct {
		name  string
		host  *lab.Host
		bound int
	}{
		{"from the client", c.Lab.Client, floodRSSBoundOutside},
		{"from a node's address", node, floodRSSBoundNode},
	} {
		t.Run(src.name, func(t *testing.T) {
			floodTrial(t, c, addr, owner, src.host, src.bound)
		})
	}
}

func floodTrial(t *testing.T, c *labcluster.Cluster, addr netip.Addr, owner string, from *lab.Host, bound int) {
	ctx, cancel := context.WithTimeout(context.Background(), floodFor+time.Minute)
	defer cancel()
	helper := c.Proc("helper-" + owner)
	pid := helper.Cmd.Process.Pid
	before, err := vmRSS(pid)
	if err != nil {
		t.Fatal(err)
	}
	st, err := startStream(ctx, c, addr, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.waitFrom(ctx, func(n string) bool { return n == owner }); err != nil {
		t.Fatal(err)
	}
	target := netip.AddrPortFrom(c.Lab.Node(owner).IPv4.Addr(), gossipPort)
	fctx, fcancel := context.WithTimeout(ctx, floodFor)
	defer fcancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns, sentBytes, packets int
	for range floodStreams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, b := junkStreams(fctx, from, target)
			mu.Lock()
			conns, sentBytes = conns+n, sentBytes+b
			mu.Unlock()
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		n := junkPackets(fctx, from, target)
		mu.Lock()
		packets = n
		mu.Unlock()
	}()

	peak := before
	var sampleErr error
	_ = poll.Until(fctx, 50*time.Millisecond, func() (bool, error) {
		if helper.Exited() {
			return true, nil
		}
		rss, err := vmRSS(pid)
		if err != nil {
			sampleErr = err
			return true, nil
		}
		peak = max(peak, rss)
		return false, nil
	})
	fcancel()
	wg.Wait()
	sent, lost := st.stopAndCount()
	t.Logf("flood %s: %d connections, %d MiB sent on streams, %d packets; helper RSS %d MiB before, peak %d MiB; stream %d requests, %d lost",
		from.Name, conns, sentBytes>>20, packets, before>>20, peak>>20, sent, lost)
	if helper.Exited() {
		t.Fatalf("the owner's helper died under the flood: %v", helper.Wait(ctx))
	}
	if sampleErr != nil {
		t.Fatalf("reading the helper's RSS: %v", sampleErr)
	}
	if peak > bound {
		t.Errorf("the owner's helper peaked at %d MiB RSS under the flood (%d MiB before), want ≤ %d MiB", peak>>20, before>>20, bound>>20)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	moved := 0
	for _, n := range st.replies {
		if n != owner {
			moved++
		}
	}
	if moved > 0 {
		t.Errorf("%d of %d requests answered by another node than the owner %s: the flood caused a failover", moved, sent, owner)
	}
}

// junkStreams opens stream after stream to the gossip port, each a length
// header claiming a floodClaim-byte encrypted message followed by junk
// until the peer gives up, until ctx ends. It returns the connections made
// and the bytes sent.
func junkStreams(ctx context.Context, from *lab.Host, to netip.AddrPort) (conns, sent int) {
	hdr := make([]byte, 5)
	hdr[0] = encryptMsgType
	binary.BigEndian.PutUint32(hdr[1:], floodClaim)
	junk := make([]byte, 64<<10)
	for i := range junk {
		junk[i] = byte(i*7 + 3)
	}
	for ctx.Err() == nil {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := from.DialContext(dctx, "tcp4", to.String())
		cancel()
		if err == nil {
			conns++
			stop := context.AfterFunc(ctx, func() { conn.Close() })
			if n, err := conn.Write(hdr); err == nil {
				sent += n
				for {
					n, err := conn.Write(junk)
					sent += n
					if err != nil {
						break
					}
				}
			}
			stop()
			conn.Close()
		}
		select {
		case <-ctx.Done():
		case <-time.After(floodRedial):
		}
	}
	return conns, sent
}

// junkPackets sends floodPackets junk datagrams a second to the gossip port
// until ctx ends, and returns how many it sent.
func junkPackets(ctx context.Context, from *lab.Host, to netip.AddrPort) int {
	pc, err := from.ListenPacket(ctx, "udp4", ":0")
	if err != nil {
		return 0
	}
	defer pc.Close()
	dst := net.UDPAddrFromAddrPort(to)
	junk := make([]byte, 1200)
	for i := range junk {
		junk[i] = byte(i*13 + 1)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	sent := 0
	for {
		for range floodPackets / 100 {
			junk[0] = byte(sent % 14) // every message type, and more
			if _, err := pc.WriteTo(junk, dst); err == nil {
				sent++
			}
		}
		select {
		case <-ctx.Done():
			return sent
		case <-tick.C:
		}
	}
}

// vmRSS returns a process's resident set size, from /proc (Linux).
func vmRSS(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				return 0, fmt.Errorf("malformed VmRSS line %q: %w", line, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
