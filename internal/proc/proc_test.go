package proc

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestStartWaitLog(t *testing.T) {
	t.Parallel()
	log := filepath.Join(t.TempDir(), "sh.log")
	ran := false
	p, err := Start("sh", exec.Command("sh", "-c", "echo out; echo err >&2; exit 3"), log, func(start func() error) error {
		ran = true
		return start()
	})
	if err != nil {
		t.Fatal(err)
	}
	if !ran {
		t.Error("Start did not call run")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var exit *exec.ExitError
	if err := p.Wait(ctx); !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("Wait() = %v, want exit status 3", err)
	}
	if !p.Exited() {
		t.Error("Exited() = false after Wait")
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), "out\nerr\n"; got != want {
		t.Errorf("log = %q, want %q", got, want)
	}
}

func TestKillGroup(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p, err := Start("sleep", cmd, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := p.CPUTime(); err != nil || d < 0 {
		t.Errorf("CPUTime() = %v, %v", d, err)
	}
	if n, err := p.RSS(); err != nil || n <= 0 {
		t.Errorf("RSS() = %d, %v; want > 0", n, err)
	}
	if p.Exited() {
		t.Fatal("Exited() = true before Kill")
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if !p.Exited() {
		t.Error("Exited() = false after Kill")
	}
	if err := p.Kill(); err != nil {
		t.Errorf("second Kill() = %v, want nil", err)
	}
}

func TestStartFails(t *testing.T) {
	t.Parallel()
	if _, err := Start("missing", exec.Command(filepath.Join(t.TempDir(), "missing")), "", nil); err == nil {
		t.Error("Start of a missing binary succeeded")
	}
}
