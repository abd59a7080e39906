package membership

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"

	"github.com/barelb/barelb/nodehelper/election"
)

func TestNewValidates(t *testing.T) {
	t.Parallel()
	ok := Config{NodeName: "n1", BindAddr: netip.MustParseAddr("192.0.2.1"), Keys: [][]byte{testKey(1)}}
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr []string // substrings, all of which must appear
		noKey   bool     // errors.Is(err, ErrNoKey)
	}{
		{name: "valid", mutate: func(*Config) {}},
		{name: "insecure without key", mutate: func(c *Config) { c.Keys, c.Insecure = nil, true }},
		{name: "no key", mutate: func(c *Config) { c.Keys = nil }, wantErr: []string{"no gossip key"}, noKey: true},
		{
			name:    "everything wrong at once",
			mutate:  func(c *Config) { *c = Config{BindPort: 70000, Keys: [][]byte{testKey(1), []byte("short")}} },
			wantErr: []string{"node name is required", "bind address is required", "bind port 70000", "keys[1]: key size must be 16, 24 or 32 bytes"},
		},
		{
			name:    "probe timeout not below interval",
			mutate:  func(c *Config) { c.ProbeInterval, c.ProbeTimeout = 100*time.Millisecond, 100*time.Millisecond },
			wantErr: []string{"probe timeout 100ms must be shorter than probe interval 100ms"},
		},
		{
			name:    "negative values",
			mutate:  func(c *Config) { c.RejoinInterval, c.SuspicionMult = -time.Second, -1 },
			wantErr: []string{"durations must not be negative", "suspicion multiplier -1"},
		},
		{name: "transport replaces the bind address", mutate: func(c *Config) {
			c.BindAddr = netip.Addr{}
			c.Transport = &mockTransport{}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := ok
			tt.mutate(&cfg)
			_, err := New(cfg, logr.Discard())
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("New() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New() = nil, want errors %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New() = %q, want it to mention %q", err, w)
				}
			}
			if got := errors.Is(err, ErrNoKey); got != tt.noKey {
				t.Errorf("errors.Is(err, ErrNoKey) = %v, want %v", got, tt.noKey)
			}
		})
	}
}

// TestSingleNodeJoins: a node whose only peer is itself is a cluster of one
// and counts as joined.
func TestSingleNodeJoins(t *testing.T) {
	t.Parallel()
	ts, addrs := mockCluster(t, "solo")
	m := start(t, Config{NodeName: "solo", Transport: ts["solo"], Keys: [][]byte{testKey(1)}, Peers: staticPeers(addrs...)}, logr.Discard())
	select {
	case <-m.Joined():
	case <-time.After(5 * time.Second):
		t.Fatal("a cluster of one never counted as joined")
	}
	if diff := cmp.Diff([]string{"solo"}, m.Members()); diff != "" {
		t.Errorf("Members() mismatch (-want +got):\n%s", diff)
	}
}

// TestNotJoinedWhilePeersUnreachable: a node with peers it cannot reach has
// not joined, so claims nothing.
func TestNotJoinedWhilePeersUnreachable(t *testing.T) {
	t.Parallel()
	ts, _ := mockCluster(t, "n1")
	unreachable := netip.MustParseAddrPort("127.0.0.1:9999")
	m := start(t, Config{NodeName: "n1", Transport: ts["n1"], Keys: [][]byte{testKey(1)}, Peers: staticPeers(unreachable), SoloAfter: -1}, logr.Discard())
	select {
	case <-m.Joined():
		t.Fatal("joined although no peer was reachable")
	case <-time.After(1500 * time.Millisecond): // spans the first retry
	}
}

// TestMockClusterElection runs five members on a MockNetwork, checks that
// each computes the same owners through package election from its own view
// of the membership, and that a graceful leave moves only the leaver's
// groups, and is seen quickly.
func TestMockClusterElection(t *testing.T) {
	t.Parallel()
	names := []string{"n0", "n1", "n2", "n3", "n4"}
	ts, addrs := mockCluster(t, names...)
	var ms []*running
	for i, n := range names {
		// Each member knows only its left neighbour (n0 knows itself):
		// membership must spread by gossip.
		peer := addrs[max(i-1, 0)]
		ms = append(ms, start(t, Config{NodeName: n, Transport: ts[n], Keys: [][]byte{testKey(1)}, Peers: staticPeers(peer)}, logr.Discard()))
	}
	waitMembers(t, time.Minute, ms, names)
	for _, m := range ms {
		select {
		case <-m.Joined():
		default:
			t.Fatalf("%s sees every member but has not joined", m.cfg.NodeName)
		}
	}

	var nodes []election.NodeInfo
	for _, n := range names {
		nodes = append(nodes, election.NodeInfo{Name: n})
	}
	var services []election.ServiceInfo
	for i := range 200 {
		services = append(services, election.ServiceInfo{
			Key:               fmt.Sprintf("ns/s%d", i),
			Addresses:         []netip.Addr{netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})},
			HasReadyEndpoints: true,
		})
	}
	// ownersSeenBy computes the owners from each member's own membership.
	ownersSeenBy := func(ms []*running) map[string]string {
		t.Helper()
		var first map[string]string
		for _, m := range ms {
			var tb election.Table
			tb.Recompute(election.View{Nodes: nodes, Services: services, Members: m.Members()})
			got := map[string]string{}
			for _, g := range tb.Groups() {
				got[g.Key.String()] = tb.Owner(g.Key)
			}
			if first == nil {
				first = got
				continue
			}
			if diff := cmp.Diff(first, got); diff != "" {
				t.Fatalf("%s disagrees with %s (-%s +%s):\n%s", m.cfg.NodeName, ms[0].cfg.NodeName, ms[0].cfg.NodeName, m.cfg.NodeName, diff)
			}
		}
		return first
	}
	before := ownersSeenBy(ms)

	leaving := ms[2]
	start := time.Now()
	leaving.stop(t)
	rest := slices.Delete(slices.Clone(ms), 2, 3)
	waitMembers(t, 2*time.Second, rest, []string{"n0", "n1", "n3", "n4"})
	t.Logf("graceful leave seen by all in %v", time.Since(start))
	if n := leaving.leaves.Load(); n != 0 {
		t.Errorf("the leaving member counted %d leave events; its own must be ignored", n)
	}
	after := ownersSeenBy(rest)
	for k, was := range before {
		if now := after[k]; was != "n2" && now != was {
			t.Errorf("%s moved from %s to %s although %s stayed", k, was, now, was)
		} else if was == "n2" && now == "n2" {
			t.Errorf("%s still owned by the departed n2", k)
		}
	}
	for _, m := range rest {
		if n := m.keyMismatches.Load(); n != 0 {
			t.Errorf("%s saw %d key mismatches", m.cfg.NodeName, n)
		}
	}
}

// TestRejoinHealsPartition: two nodes that each started alone (their peer
// lists were empty, as while the API server was unreachable) merge once a
// rejoin round finds the other, and Changes reports it.
func TestRejoinHealsPartition(t *testing.T) {
	t.Parallel()
	ts, addrs := mockCluster(t, "a", "b")
	var peersOfB atomic.Pointer[[]netip.AddrPort]
	peersOfB.Store(&[]netip.AddrPort{})
	a := start(t, Config{NodeName: "a", Transport: ts["a"], Keys: [][]byte{testKey(1)}}, logr.Discard())
	b := start(t, Config{
		NodeName: "b", Transport: ts["b"], Keys: [][]byte{testKey(1)}, RejoinInterval: 100 * time.Millisecond,
		Peers: func(context.Context) []netip.AddrPort { return *peersOfB.Load() },
	}, logr.Discard())
	for _, m := range []*running{a, b} {
		select {
		case <-m.Joined():
		case <-time.After(5 * time.Second):
			t.Fatalf("%s alone never counted as joined", m.cfg.NodeName)
		}
	}
	// Drain the notification of the first join.
	select {
	case <-a.Changes():
	default:
	}
	peersOfB.Store(&[]netip.AddrPort{addrs[0]})
	waitMembers(t, 5*time.Second, []*running{a, b}, []string{"a", "b"})
	select {
	case <-a.Changes():
	default:
		t.Error("a's Changes() did not signal the merge")
	}
}
