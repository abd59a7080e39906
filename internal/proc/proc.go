package proc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Process is a started child process, reaped by a goroutine of its own. Its methods are safe for
// concurrent use.
type Process struct {
	// Name names it in errors ("ccm-0", "helper-node1", "etcd").
	Name string
	// Cmd is the started command; do not Wait on it.
	Cmd *exec.Cmd
	// Log is the file its stdout and stderr are appended to, or empty when the caller set
	// Cmd.Stdout and Cmd.Stderr itself.
	Log string

	done chan struct{} // closed when the process has exited and been reaped
	err  error         // cmd.Wait's, once done is closed
}

// Start starts cmd and returns its Process. With log set, cmd's stdout and stderr are appended to
// that file (created if missing), which is closed when the process exits. run, if not nil, is
// called with cmd.Start and must call it: the control plane forks its children from a thread of
// its own.
func Start(name string, cmd *exec.Cmd, log string, run func(start func() error) error) (*Process, error) {
	var f *os.File
	if log != "" {
		var err error
		if f, err = os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
			return nil, fmt.Errorf("failed to open the log of %s: %w", name, err)
		}
		cmd.Stdout, cmd.Stderr = f, f
	}
	if run == nil {
		run = func(start func() error) error { return start() }
	}
	if err := run(cmd.Start); err != nil {
		if f != nil {
			f.Close()
		}
		return nil, fmt.Errorf("failed to start %s: %w", name, err)
	}
	p := &Process{Name: name, Cmd: cmd, Log: log, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		if f != nil {
			f.Close()
		}
		close(p.done)
	}()
	return p, nil
}

// PID is the process id (also its process group id when Cmd set Setpgid).
func (p *Process) PID() int { return p.Cmd.Process.Pid }

// Done is closed when the process has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits for the process to exit, at most until ctx ends, and returns how it exited
// (exec.Cmd.Wait's error) or ctx's error.
func (p *Process) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Signal sends sig to the process.
func (p *Process) Signal(sig syscall.Signal) error {
	return p.Cmd.Process.Signal(sig)
}

// Kill sends SIGKILL to the process's group when it leads one (Setpgid), else to the process, and
// waits until it is reaped. The group is signalled even when its leader has exited, for what it
// forked; a process without a group that has exited is left alone (its pid may be another's now).
func (p *Process) Kill() error {
	pid := p.PID()
	if a := p.Cmd.SysProcAttr; a != nil && a.Setpgid {
		pid = -pid
	} else if p.Exited() {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("failed to kill %s (pid %d): %w", p.Name, p.PID(), err)
	}
	<-p.done
	return nil
}

// CPUTime returns the user and system CPU time the process has used so far.
func (p *Process) CPUTime() (time.Duration, error) { return CPUTime(p.PID()) }

// RSS returns the process's resident set size in bytes.
func (p *Process) RSS() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.PID()))
	if err != nil {
		return 0, fmt.Errorf("failed to read the RSS of %s: %w", p.Name, err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("failed to parse VmRSS %q of %s: %w", rest, p.Name, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("failed to read the RSS of %s: no VmRSS", p.Name)
}

// CPUTime returns the user and system CPU time process pid has used so far, from /proc (Linux).
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields after it are
	// counted from its closing parenthesis.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks, nil
}
