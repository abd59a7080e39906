package conformance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/barelb/barelb/internal/checkout"
	"github.com/barelb/barelb/internal/controlplane"
	"github.com/barelb/barelb/internal/labcluster"
)

// labConfig is the seed's example configuration plus the lab's layer2 pools.
func labConfig(t testing.TB) string {
	t.Helper()
	cfg, err := labcluster.LabConfig(filepath.Join("..", "manifests"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// requireLab skips when the suite cannot run here, or fails when make test
// asked for everything.
func requireLab(t testing.TB) {
	t.Helper()
	if os.Getenv("BARELB_KUBECONFIG") != "" {
		t.Skip("running against an existing cluster: the lab cases are skipped")
	}
	strict := os.Getenv(controlplane.RequireEnv) == "1"
	if os.Geteuid() != 0 {
		if strict {
			t.Fatal("the conformance suite needs root (network namespaces)")
		}
		t.Skip("the conformance suite needs root (network namespaces)")
	}
	if testing.Short() {
		t.Skip("conformance suite skipped in -short mode")
	}
}

// startCluster starts a lab cluster with every component running and the lab
// configuration applied.
func startCluster(t *testing.T, o labcluster.Options) *labcluster.Cluster {
	t.Helper()
	requireLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := labcluster.Start(ctx, o)
	if err != nil {
		if os.Getenv(controlplane.RequireEnv) != "1" && errors.Is(err, checkout.ErrBinaryMissing) {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, c)
		}
		if err := c.Close(); err != nil {
			t.Errorf("closing the lab: %v", err)
		}
	})
	if err := c.ApplyConfig(ctx, labConfig(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StartCCM(0); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Lab.Nodes {
		if _, err := c.StartHelper(n.Name); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// dumpLogs prints the tail of every component log.
func dumpLogs(t *testing.T, c *labcluster.Cluster) {
	files, _ := filepath.Glob(filepath.Join(c.Dir(), "*.log"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		lines := strings.Split(string(b), "\n")
		if len(lines) > 60 {
			lines = lines[len(lines)-60:]
		}
		t.Logf("==== %s (last lines)\n%s", filepath.Base(f), strings.Join(lines, "\n"))
	}
}

// report collects the suite's figures and writes them to report/figures.md.
var report = struct {
	sync.Mutex
	rows []string
}{}

// record adds one row of figures: case, trials, p50, p99, max.
func record(name string, samples []time.Duration) (p50, p99, max time.Duration) {
	s := append([]time.Duration(nil), samples...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0, 0, 0
	}
	q := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	p50, p99, max = q(0.50), q(0.99), s[len(s)-1]
	report.Lock()
	report.rows = append(report.rows, fmt.Sprintf("| %s | %d | %s | %s | %s |", name, len(s), ms(p50), ms(p99), ms(max)))
	report.Unlock()
	return p50, p99, max
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

func TestMain(m *testing.M) {
	code := m.Run()
	report.Lock()
	rows := report.rows
	report.Unlock()
	if len(rows) > 0 {
		_ = os.MkdirAll("report", 0o755)
		text := "| case | trials | p50 | p99 | max |\n|---|---|---|---|---|\n" + strings.Join(rows, "\n") + "\n"
		_ = os.WriteFile(filepath.Join("report", "figures.md"), []byte(text), 0o644)
		fmt.Print("conformance figures (conformance/report/figures.md):\n" + text)
	}
	os.Exit(code)
}
