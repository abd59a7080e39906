package announce

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

// processEnv names the variable that turns TestAnnouncerProcess into an
// announcer serving eth0 with that many owned IPv4 addresses.
const processEnv = "BARELB_ANNOUNCE_PROCESS_OWNED"

// TestAnnouncerProcess is not a test: BenchmarkARPSocket runs the test
// binary with it inside node A, so that the announcer's CPU time can be read
// from its own process. It serves until its standard input closes.
func TestAnnouncerProcess(t *testing.T) {
	v := os.Getenv(processEnv)
	if v == "" {
		t.Skip("helper process for BenchmarkARPSocket")
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatal(err)
	}
	ifi, err := net.InterfaceByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	a := New(ifi, noGratuitous)
	a.SetOwned(benchOwned(n))
	ctx, cancel := signal.NotifyContext(context.Background(), unix.SIGTERM)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	if err := a.Run(ctx); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("stats %+v\n", a.Stats().IPv4)
}

// benchOwned returns n addresses with vip4 last. The others are only kept
// in memory: nothing is sent for them (no gratuitous announcements).
func benchOwned(n int) []netip.Addr {
	addrs := make([]netip.Addr, n)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	}
	addrs[n-1] = vip4
	return addrs
}

// processCPU returns the user and system CPU time of pid.
func processCPU(b *testing.B, pid int) (user, system time.Duration) {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 of proc(5), in clock ticks (USER_HZ, 100).
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return time.Duration(utime) * 10 * time.Millisecond, time.Duration(stime) * 10 * time.Millisecond
}

// BenchmarkARPSocket measures ARP replies over real packet sockets: a
// client in B keeps a window of requests for vip4 in flight to an announcer
// process in A that owns 1 or 10,000 addresses, and the announcer's CPU
// time is read from /proc.
func BenchmarkARPSocket(b *testing.B) {
	for _, n := range []int{1, 10_000} {
		b.Run(fmt.Sprintf("owned=%d", n), func(b *testing.B) { benchmarkARPSocket(b, n) })
	}
}

func benchmarkARPSocket(b *testing.B, owned int) {
	p := newPair(b)
	cmd := exec.Command("ip", "netns", "exec", p.a, os.Args[0], "-test.run=^TestAnnouncerProcess$", "-test.v")
	if prof := os.Getenv("BARELB_ANNOUNCE_PROCESS_PROFILE"); prof != "" {
		cmd.Args = append(cmd.Args, "-test.cpuprofile="+prof)
	}
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", processEnv, owned))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	out := make(chan string, 1)
	go func() {
		var lines []string
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			if strings.HasPrefix(s.Text(), "stats") {
				lines = append(lines, s.Text())
			}
		}
		out <- strings.Join(lines, "\n")
	}()
	b.Cleanup(func() {
		_ = stdin.Close()
		if err := cmd.Wait(); err != nil {
			b.Errorf("announcer process: %v", err)
		}
		b.Logf("announcer process: %s", <-out)
	})

	var c *packet.Conn
	inNS(b, p.b, func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		c, err = packet.Listen(ifi, packet.Raw, 0x0806, nil)
		return err
	})
	b.Cleanup(func() { _ = c.Close() })
	_ = control(c, func(fd int) error {
		return unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	})
	request := GratuitousARP(p.macB, clientIPv4)[0] // a request from B...
	copy(request[38:42], vip4.AsSlice())            // ...asking for vip4
	to := &packet.Addr{HardwareAddr: p.macA}
	buf := make([]byte, 1500)

	// isReply reports whether frame is A's reply for vip4.
	isReply := func(frame []byte) bool {
		return len(frame) >= 42 && binary.BigEndian.Uint16(frame[20:22]) == 2 && netip.AddrFrom4([4]byte(frame[28:32])) == vip4
	}
	// next waits for one reply, resending the window after a loss.
	const window = 32
	lost := 0
	next := func() {
		for {
			if err := c.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
				b.Fatal(err)
			}
			n, _, err := c.ReadFrom(buf)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				lost++
				for range window {
					_, _ = c.WriteTo(request, to)
				}
				continue
			}
			if err != nil {
				b.Fatal(err)
			}
			if isReply(buf[:n]) {
				_, _ = c.WriteTo(request, to)
				return
			}
		}
	}

	// Warm up: the process has started serving once a reply comes back.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := c.WriteTo(request, to); err != nil {
			b.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		n, _, err := c.ReadFrom(buf)
		if err == nil && isReply(buf[:n]) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("announcer process never answered")
		}
	}
	for range window - 1 {
		_, _ = c.WriteTo(request, to)
	}

	user0, sys0 := processCPU(b, cmd.Process.Pid)
	start := time.Now()
	for b.Loop() {
		next()
	}
	elapsed := time.Since(start)
	user1, sys1 := processCPU(b, cmd.Process.Pid)
	user, cpu := user1-user0, user1-user0+sys1-sys0
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "replies/s")
	b.ReportMetric(cpu.Seconds()/elapsed.Seconds(), "announcer-cores")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "announcer-µs/reply")
	b.ReportMetric(float64(user.Microseconds())/float64(b.N), "announcer-user-µs/reply")
	b.ReportMetric(float64(lost), "stalls")
}
