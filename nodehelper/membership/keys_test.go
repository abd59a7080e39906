package membership

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	"github.com/barelb/barelb/internal/poll"
)

// logBuffer collects log lines of a funcr logger.
type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *logBuffer) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.lines = append(b.lines, prefix+" "+args)
	}, funcr.Options{Verbosity: 1})
}

func (b *logBuffer) contains(s string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range b.lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// funcrLogger is a logger passing each entry's text to f.
func funcrLogger(f func(string)) logr.Logger {
	return funcr.New(func(prefix, args string) { f(prefix + " " + args) }, funcr.Options{Verbosity: 4})
}

// observe lets the cluster run for d: used where a test checks that
// something does not happen, never to wait for something to happen.
func observe(d time.Duration) { time.Sleep(d) }

// TestWrongKeyCannotJoin: a node with a key nobody else has stays out and
// both sides log the mismatch clearly.
func TestWrongKeyCannotJoin(t *testing.T) {
	t.Parallel()
	names := []string{"good-0", "good-1", "intruder"}
	ts, addrs := mockCluster(t, names...)
	var goodLog, badLog logBuffer
	good0 := start(t, Config{NodeName: "good-0", Transport: ts["good-0"], Keys: [][]byte{testKey(1)}, Peers: staticPeers(addrs[0])}, goodLog.logger())
	good1 := start(t, Config{NodeName: "good-1", Transport: ts["good-1"], Keys: [][]byte{testKey(1)}, Peers: staticPeers(addrs[0])}, logr.Discard())
	waitMembers(t, 5*time.Second, []*running{good0, good1}, []string{"good-0", "good-1"})

	bad := start(t, Config{NodeName: "intruder", Transport: ts["intruder"], Keys: [][]byte{testKey(2), testKey(3)}, Peers: staticPeers(addrs...)}, badLog.logger())
	poll.For(t, 5*time.Second, "key mismatches on both sides", func() error {
		if g, b := good0.keyMismatches.Load(), bad.keyMismatches.Load(); g == 0 || b == 0 {
			return fmt.Errorf("good-0 counted %d, intruder %d", g, b)
		}
		return nil
	})
	observe(1500 * time.Millisecond) // spans a join retry
	select {
	case <-bad.Joined():
		t.Error("the node with the wrong key joined")
	default:
	}
	if got := bad.Members(); len(got) != 1 {
		t.Errorf("intruder's Members() = %v, want only itself", got)
	}
	for _, m := range []*running{good0, good1} {
		if got := m.Members(); len(got) != 2 {
			t.Errorf("%s's Members() = %v, want the two good nodes", m.cfg.NodeName, got)
		}
	}
	for name, b := range map[string]*logBuffer{"good-0": &goodLog, "intruder": &badLog} {
		if !b.contains("gossip key mismatch") {
			t.Errorf("%s did not log a gossip key mismatch", name)
		}
	}
}

// TestKeyRotation rotates the key of a running cluster in the three steps
// UpdateKeys documents, one member at a time, and checks that no member
// ever fails to decrypt a message or loses a peer; at the end only the new
// key admits a newcomer.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	names := []string{"n0", "n1", "n2", "n3", "new-key", "old-key"}
	ts, addrs := mockCluster(t, names...)
	oldKey, newKey := testKey(1), testKey(2)
	var ms []*running
	for _, n := range names[:4] {
		ms = append(ms, start(t, Config{NodeName: n, Transport: ts[n], Keys: [][]byte{oldKey}, Peers: staticPeers(addrs[0])}, logr.Discard()))
	}
	waitMembers(t, time.Minute, ms, names[:4])

	steps := [][][]byte{{oldKey, newKey}, {newKey, oldKey}, {newKey}}
	for i, keys := range steps {
		for _, m := range ms {
			if err := m.UpdateKeys(keys); err != nil {
				t.Fatalf("step %d: %s: UpdateKeys() = %v", i, m.cfg.NodeName, err)
			}
			// Several probe and gossip rounds in this mixed state.
			observe(300 * time.Millisecond)
		}
	}
	for _, m := range ms {
		if n := m.keyMismatches.Load(); n != 0 {
			t.Errorf("%s: %d messages failed to decrypt during rotation", m.cfg.NodeName, n)
		}
		if n := m.leaves.Load(); n != 0 {
			t.Errorf("%s: saw %d members leave during rotation", m.cfg.NodeName, n)
		}
		if got := len(m.Members()); got != 4 {
			t.Errorf("%s: %d members after rotation, want 4", m.cfg.NodeName, got)
		}
	}

	withNew := start(t, Config{NodeName: "new-key", Transport: ts["new-key"], Keys: [][]byte{newKey}, Peers: staticPeers(addrs[0])}, logr.Discard())
	waitMembers(t, 5*time.Second, append(ms, withNew), []string{"n0", "n1", "n2", "n3", "new-key"})

	withOld := start(t, Config{NodeName: "old-key", Transport: ts["old-key"], Keys: [][]byte{oldKey}, Peers: staticPeers(addrs[0])}, logr.Discard())
	poll.For(t, 5*time.Second, "the old key to be refused", func() error {
		if withOld.keyMismatches.Load() == 0 {
			return errors.New("no key mismatch yet")
		}
		return nil
	})
	select {
	case <-withOld.Joined():
		t.Error("a node with the removed key joined")
	default:
	}
}

func TestUpdateKeysErrors(t *testing.T) {
	t.Parallel()
	base := Config{NodeName: "n", Transport: &mockTransport{}}
	tests := []struct {
		name    string
		cfg     Config
		keys    [][]byte
		wantErr string
	}{
		{name: "ok", cfg: withKeys(base, testKey(1)), keys: [][]byte{testKey(2)}},
		{name: "empty", cfg: withKeys(base, testKey(1)), wantErr: "no gossip key"},
		{name: "bad size", cfg: withKeys(base, testKey(1)), keys: [][]byte{testKey(2), {1, 2}}, wantErr: "keys[1]: key size"},
		{name: "insecure", cfg: Config{NodeName: "n", Transport: &mockTransport{}, Insecure: true}, keys: [][]byte{testKey(2)}, wantErr: "unencrypted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := New(tt.cfg, logr.Discard())
			if err != nil {
				t.Fatal(err)
			}
			err = m.UpdateKeys(tt.keys)
			if got := fmt.Sprint(err); (tt.wantErr == "") != (err == nil) || !strings.Contains(got, tt.wantErr) {
				t.Fatalf("UpdateKeys() = %v, want error containing %q", err, tt.wantErr)
			}
			if err == nil {
				if got := m.keyring.GetKeys(); len(got) != 1 || got[0][0] != 2 {
					t.Errorf("keyring after update = %v, want only the new key", got)
				}
			}
		})
	}
}

func withKeys(c Config, keys ...[]byte) Config {
	c.Keys = keys
	return c
}
