package conformance

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/barelb/barelb/internal/gossipkey"
	"github.com/barelb/barelb/internal/labcluster"
	"github.com/barelb/barelb/internal/poll"
)

// Case 10: a partitioned node's addresses move; healing leaves exactly one
// owner per address again (goal: within 2 s).
func TestPartitionHeals(t *testing.T) {
	c := startCluster(t, labcluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addr := exposed(t, c, labcluster.NewService("default", "part"))[0]
	owner, err := c.WaitReachable(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Lab.Node(owner).SetLinkUp(ctx, false); err != nil {
		t.Fatal(err)
	}
	waitAnsweredByOther(t, c, addr, owner)
	if err := c.Lab.Node(owner).SetLinkUp(ctx, true); err != nil {
		t.Fatal(err)
	}
	healed := time.Now()
	err = poll.Until(ctx, 100*time.Millisecond, func() (bool, error) {
		macs, err := arpProbe(c.Lab.Client, addr, 3, 150*time.Millisecond)
		return err == nil && len(macs) == 1, nil
	})
	if err != nil {
		t.Fatalf("not exactly one owner of %v after healing: %v", addr, err)
	}
	took := time.Since(healed)
	record("partition heal → one owner", []time.Duration{took})
	// The goal is 2 s (typically 0.9–1.4 s here, measured with 0.55 s
	// resolution); a loaded CI machine once took 3.2 s, so the test fails
	// only well past the goal, and the figure goes to the report.
	if took > 5*time.Second {
		t.Errorf("one owner again %v after healing, want ≤ 5 s here (goal 2 s)", took)
	}
}

func waitAnsweredByOther(t *testing.T, c *labcluster.Cluster, addr netip.Addr, not string) {
	t.Helper()
	waitAnswer(t, c, addr, "taken over from "+not, func(n string) bool { return n != not })
}

// Case 11: a helper with a wrong key does not join and says so; rotating the
// key causes no failover.
func TestGossipKeys(t *testing.T) {
	c := startCluster(t, labcluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	addr := exposed(t, c, labcluster.NewService("default", "keys"))[0]
	owner, err := c.WaitReachable(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	old, err := c.Admin.CoreV1().Secrets(labcluster.Namespace).Get(ctx, "memberlist", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	oldKey := strings.TrimSpace(string(old.Data[gossipkey.DataKey]))
	newKey, _ := gossipkey.Generate()

	t.Run("rotation causes no failover", func(t *testing.T) {
		st, err := startStream(ctx, c, addr, 10*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.waitFrom(ctx, func(n string) bool { return n == owner }); err != nil {
			t.Fatal(err)
		}
		for _, step := range [][]string{{oldKey, newKey}, {newKey, oldKey}, {newKey}} {
			if err := c.SetGossipKeys(ctx, step...); err != nil {
				t.Fatal(err)
			}
			// Two seconds per step, checking all along that nothing moved.
			holdFor(t, 2*time.Second, 100*time.Millisecond, "during rotation", func() error {
				st.mu.Lock()
				defer st.mu.Unlock()
				for seq, n := range st.replies {
					if n != owner {
						return fmt.Errorf("request %d answered by %s, not the owner %s", seq, n, owner)
					}
				}
				return nil
			})
		}
		sent, lost := st.stopAndCount()
		st.mu.Lock()
		var moved int
		for _, n := range st.replies {
			if n != owner {
				moved++
			}
		}
		st.mu.Unlock()
		t.Logf("key rotation: %d requests, %d lost, %d answered by another node", sent, lost, moved)
		if moved != 0 || lost != 0 {
			t.Errorf("rotation moved %d and lost %d of %d requests, want 0 and 0", moved, lost, sent)
		}
	})

	t.Run("wrong key cannot join and says so", func(t *testing.T) {
		// node3's helper gets a key of its own, from a file as a mounted
		// Secret would give it.
		victim := "node3"
		if err := c.Proc("helper-" + victim).Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = c.Proc("helper-" + victim).Wait(ctx)
		wrong, _ := gossipkey.Generate()
		keyFile := filepath.Join(c.Dir(), "wrong-key")
		if err := os.WriteFile(keyFile, []byte(wrong), 0o600); err != nil {
			t.Fatal(err)
		}
		p, err := c.StartHelper(victim, "--gossip-key-secret=", "--gossip-key-file="+keyFile)
		if err != nil {
			t.Fatal(err)
		}
		err = poll.Until(ctx, 200*time.Millisecond, func() (bool, error) {
			b, _ := os.ReadFile(p.Log)
			return strings.Contains(string(b), "gossip key mismatch"), nil
		})
		if err != nil {
			t.Fatalf("the helper with a wrong key never logged a key mismatch: %v", err)
		}
	})
}
