package controller

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/barelb/barelb/internal/poll"
	"github.com/barelb/barelb/nodehelper/announce"
	"github.com/barelb/barelb/nodehelper/election"
	"github.com/barelb/barelb/nodehelper/ifaces"
)

// fakeMembership is a Membership whose member list the test sets.
type fakeMembership struct {
	joined  chan struct{}
	changes chan struct{}
	mu      sync.Mutex
	members []string
}

func newFakeMembership(members ...string) *fakeMembership {
	m := &fakeMembership{joined: make(chan struct{}), changes: make(chan struct{}, 1), members: members}
	close(m.joined)
	return m
}

func (m *fakeMembership) Joined() <-chan struct{}  { return m.joined }
func (m *fakeMembership) Changes() <-chan struct{} { return m.changes }
func (m *fakeMembership) Members() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.members)
}

// set replaces the members and signals the change.
func (m *fakeMembership) set(members ...string) {
	m.mu.Lock()
	m.members = members
	m.mu.Unlock()
	m.changed()
}

func (m *fakeMembership) changed() {
	select {
	case m.changes <- struct{}{}:
	default:
	}
}

// fakeLinks is a Links of a fixed snapshot.
type fakeLinks struct{ links []ifaces.Link }

func (l fakeLinks) Snapshot() []ifaces.Link  { return l.links }
func (l fakeLinks) Changes() <-chan struct{} { return nil }

// recordingAnnouncer records what it is told to own.
type recordingAnnouncer struct {
	mu    sync.Mutex
	owned []netip.Addr
	sets  int
}

func (a *recordingAnnouncer) SetOwned(addrs []netip.Addr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.owned = slices.Clone(addrs)
	a.sets++
}
func (a *recordingAnnouncer) SetMembers([]net.HardwareAddr) {}
func (a *recordingAnnouncer) ProbeFirst([]netip.Addr)       {}
func (a *recordingAnnouncer) Stats() announce.Stats         { return announce.Stats{} }
func (a *recordingAnnouncer) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// ownedAddrs returns what the announcer owns and whether SetOwned was called.
func (a *recordingAnnouncer) ownedAddrs() ([]netip.Addr, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.owned), a.sets > 0
}

// lockedEvents is an EventSink safe for the control loop's goroutine.
type lockedEvents struct {
	mu sync.Mutex
	fakeEvents
}

func (e *lockedEvents) Eventf(obj runtime.Object, eventtype, reason, messageFmt string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fakeEvents.Eventf(obj, eventtype, reason, messageFmt, args...)
}

// fakeReach is the members' published reach, which the test sets.
type fakeReach struct {
	mu    sync.Mutex
	reach map[string]ifaces.Reach
}

func (r *fakeReach) get() map[string]ifaces.Reach {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]ifaces.Reach, len(r.reach))
	for k, v := range r.reach {
		out[k] = v
	}
	return out
}

func (r *fakeReach) set(node string, reach ifaces.Reach) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reach[node] = reach
}

// TestControllerFollowsElection runs a Controller in process, on a fake
// clientset and fake membership, links and announcers, and follows one
// address through an election, a member joining, a reach change and a
// member leaving.
func TestControllerFollowsElection(t *testing.T) {
	vip := netip.MustParseAddr("198.51.100.10")
	subnet := netip.MustParsePrefix("198.51.100.0/24")
	// local loses the rendezvous to other for vip: other owns it whenever
	// both are candidates.
	local, other := "node-a", "node-b"
	if election.Weight(local, election.GroupKey(vip)) > election.Weight(other, election.GroupKey(vip)) {
		local, other = other, local
	}

	client := fake.NewClientset(
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: local}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: other}},
		&corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: "barelb-system", Name: "barelb-config"},
			Data:       map[string]string{"config.yaml": "address-pools:\n- name: l2\n  protocol: layer2\n  addresses: [198.51.100.0/24]\n"},
		},
		lbService("default", "web", corev1.ServiceExternalTrafficPolicyCluster, vip.String()),
		slice("default", "web", ep(local, true)),
	)
	members := newFakeMembership(local)
	connected := ifaces.Reach{Prefixes: []netip.Prefix{subnet}}
	reach := &fakeReach{reach: map[string]ifaces.Reach{local: connected, other: connected}}
	link := ifaces.Link{
		Name: "lan0", Index: 7, Flags: ifaces.FlagUp | ifaces.FlagRunning,
		HardwareAddr: net.HardwareAddr{0x02, 0, 0, 0, 0, 1}, Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.2/24")},
	}
	var mu sync.Mutex
	announcers := map[string]*recordingAnnouncer{}
	c, err := New(Options{
		NodeName:        local,
		NodeAddr:        netip.MustParseAddr("198.51.100.2"),
		ConfigNamespace: "barelb-system", ConfigName: "barelb-config", ConfigKey: "config.yaml",
		Client:  client,
		Members: members,
		Links:   fakeLinks{links: []ifaces.Link{link}},
		NewAnnouncer: func(ifi *net.Interface, _ func(announce.Conflict)) Announcer {
			mu.Lock()
			defer mu.Unlock()
			a := &recordingAnnouncer{}
			announcers[ifi.Name] = a
			return a
		},
		MemberReach: reach.get,
		Events:      &lockedEvents{},
	})
	if err != nil {
		t.Fatal(err)
	}
	c.interfaceByName = func(name string) (*net.Interface, error) {
		if name != link.Name {
			return nil, fmt.Errorf("no interface %s", name)
		}
		return &net.Interface{Index: link.Index, Name: link.Name, HardwareAddr: link.HardwareAddr}, nil
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	// owns waits until lan0's announcer owns want.
	owns := func(what string, want []netip.Addr) {
		t.Helper()
		poll.For(t, 10*time.Second, what, func() error {
			mu.Lock()
			a := announcers[link.Name]
			mu.Unlock()
			if a == nil {
				return errors.New("no announcer on lan0")
			}
			got, set := a.ownedAddrs()
			if !set {
				return errors.New("SetOwned not called")
			}
			if !slices.Equal(got, want) {
				return fmt.Errorf("owns %v, want %v", got, want)
			}
			return nil
		})
	}

	owns("the only member to announce the address", []netip.Addr{vip})
	if !c.Ready() {
		t.Error("Ready() = false after the first election")
	}

	members.set(local, other)
	owns("a member with a higher weight to take the address", nil)

	reach.set(other, ifaces.Reach{})
	members.changed()
	owns("the address to move back when the other member loses its link to the subnet", []netip.Addr{vip})

	reach.set(other, connected)
	members.changed()
	owns("the other member to take the address again once its link is back", nil)

	members.set(local)
	owns("the address to move back when the other member leaves", []netip.Addr{vip})
}
