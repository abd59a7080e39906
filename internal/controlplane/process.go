package controlplane

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"syscall"

	"github.com/barelb/barelb/internal/proc"
)

// startProcess starts path with args from the launcher's thread (and so in its
// network namespace). The child leads its own process group, so Kill reaches
// anything it forks, and gets SIGKILL when that thread ends: when the launcher
// stops or the whole test process dies. There is no graceful shutdown: Start
// never reuses etcd data, so nothing is worth saving, and the exit status of a
// child we stop ourselves says nothing.
func startProcess(l *launcher, name, path string, args []string, stdout, stderr io.Writer) (*proc.Process, error) {
	cmd := exec.Command(path, args...)
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return proc.Start(name, cmd, "", l.run)
}

// tail returns the last n bytes of the file at path, for error messages.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(st.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// freePorts returns n TCP ports on addr that were free a moment ago, as seen from
// the launcher's network namespace. Another process may take one before we use it;
// Start retries with fresh ports when a process exits during start-up.
func freePorts(l *launcher, addr netip.Addr, n int) ([]uint16, error) {
	ports := make([]uint16, 0, n)
	err := l.run(func() error {
		var ls []net.Listener
		defer func() {
			for _, l := range ls {
				l.Close()
			}
		}()
		for range n {
			l, err := net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
			if err != nil {
				return fmt.Errorf("failed to find a free port on %s: %w", addr, err)
			}
			ls = append(ls, l)
			ports = append(ports, uint16(l.Addr().(*net.TCPAddr).Port))
		}
		return nil
	})
	return ports, err
}
