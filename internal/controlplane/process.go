package controlplane

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"syscall"
)

// process is one child: etcd or kube-apiserver.
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and been reaped
}

// startProcess starts path with args from the launcher's thread (and so in its
// network namespace). The child leads its own process group, so stop reaches
// anything it forks, and gets SIGKILL when that thread ends: when the launcher
// stops or the whole test process dies.
func startProcess(l *launcher, name, path string, args []string, stdout, stderr io.Writer) (*process, error) {
	cmd := exec.Command(path, args...)
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := l.run(cmd.Start); err != nil {
		return nil, fmt.Errorf("failed to start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // the exit status of a child we stop ourselves says nothing
		close(p.done)
	}()
	return p, nil
}

// pid is the child's process id, which is also its process group id.
func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop kills the process group and waits until the process is reaped. There is
// no graceful shutdown: Start never reuses etcd data, so nothing is worth saving.
func (p *process) stop() error {
	if err := syscall.Kill(-p.pid(), syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("failed to kill %s (pid %d): %w", p.name, p.pid(), err)
	}
	<-p.done
	return nil
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
