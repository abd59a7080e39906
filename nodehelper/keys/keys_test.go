package keys

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/barelb/barelb/internal/gossipkey"
	"github.com/barelb/barelb/internal/poll"
)

const (
	keyA = "aaaaaaaaaaaaaaaaaaaaaaaa"
	keyB = "bbbbbbbbbbbbbbbbbbbbbbbb"
)

func secret(text string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "barelb-system", Name: "gossip"},
		Data:       map[string][]byte{gossipkey.DataKey: []byte(text)},
	}
}

func mustParse(t *testing.T, text string) [][]byte {
	t.Helper()
	k, err := gossipkey.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		secret  *corev1.Secret
		want    [][]byte
		wantErr func(error) bool
	}{
		{name: "two keys", secret: secret(keyA + "\n" + keyB), want: mustParse(t, keyA+"\n"+keyB)},
		{name: "missing Secret", wantErr: apierrors.IsNotFound},
		{name: "no key", secret: secret("\n"), wantErr: func(err error) bool { return errors.Is(err, gossipkey.ErrNoKey) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset()
			if tt.secret != nil {
				client = fake.NewClientset(tt.secret)
			}
			got, err := Load(context.Background(), client, "barelb-system", "gossip")
			if tt.wantErr != nil {
				if err == nil || !tt.wantErr(err) {
					t.Fatalf("Load() error = %v, want one of the expected kind", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Load() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		path    string
		want    [][]byte
		wantErr func(error) bool
	}{
		{name: "one key", path: write("one", keyA+"\n"), want: mustParse(t, keyA)},
		{name: "missing file", path: filepath.Join(dir, "none"), wantErr: func(err error) bool { return errors.Is(err, os.ErrNotExist) }},
		{name: "empty file", path: write("empty", ""), wantErr: func(err error) bool { return errors.Is(err, gossipkey.ErrNoKey) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadFile(tt.path)
			if tt.wantErr != nil {
				if err == nil || !tt.wantErr(err) {
					t.Fatalf("LoadFile() error = %v, want one of the expected kind", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("LoadFile() (-want +got):\n%s", diff)
			}
		})
	}
}

// updates records the keys a follower installs.
type updates struct {
	mu  sync.Mutex
	got [][][]byte
}

func (u *updates) update(keys [][]byte) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.got = append(u.got, keys)
	return nil
}

// waitFor waits until the installed keys are want.
func (u *updates) waitFor(t *testing.T, what string, want [][][]byte) {
	t.Helper()
	poll.For(t, 10*time.Second, what, func() error {
		u.mu.Lock()
		defer u.mu.Unlock()
		if diff := cmp.Diff(want, u.got); diff != "" {
			return errors.New("installed keys (-want +got):\n" + diff)
		}
		return nil
	})
}

// run runs f until the test ends.
func run(t *testing.T, f func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func TestFollower(t *testing.T) {
	client := fake.NewClientset(secret(keyA))
	u := &updates{}
	f := &Follower{Client: client, Namespace: "barelb-system", Name: "gossip", Update: u.update}
	run(t, f.Run)
	u.waitFor(t, "the first keys", [][][]byte{mustParse(t, keyA)})

	secrets := client.CoreV1().Secrets("barelb-system")
	// An invalid Secret keeps the keys in force; the valid one after it is
	// installed.
	for _, text := range []string{"short", keyB + "\n" + keyA} {
		if _, err := secrets.Update(context.Background(), secret(text), metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	u.waitFor(t, "the rotated keys", [][][]byte{mustParse(t, keyA), mustParse(t, keyB+"\n"+keyA)})
}

func TestFileFollower(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secretkey")
	if err := os.WriteFile(path, []byte(keyA), 0o600); err != nil {
		t.Fatal(err)
	}
	u := &updates{}
	f := &FileFollower{Path: path, Interval: 5 * time.Millisecond, Update: u.update}
	run(t, f.Run)
	// The content at start is in force already: only a change is
	// installed. Run reads that content when it starts, which the test
	// cannot see, so the change is written again, each time with other
	// bytes for the same key, until it is installed.
	n := 0
	poll.For(t, 10*time.Second, "the new key", func() error {
		u.mu.Lock()
		got := len(u.got)
		u.mu.Unlock()
		if got > 0 {
			return nil
		}
		n++
		if err := os.WriteFile(path, []byte(keyB+strings.Repeat("\n", n)), 0o600); err != nil {
			t.Fatal(err)
		}
		return errors.New("not installed yet")
	})
	u.mu.Lock()
	defer u.mu.Unlock()
	if diff := cmp.Diff(mustParse(t, keyB), u.got[len(u.got)-1]); diff != "" {
		t.Errorf("installed keys (-want +got):\n%s", diff)
	}
}
