package controller

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/barelb/barelb/nodehelper/announce"
	"github.com/barelb/barelb/nodehelper/ifaces"
)

func TestStaleLinks(t *testing.T) {
	mac := func(s string) net.HardwareAddr {
		m, err := net.ParseMAC(s)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	eth0 := ifaces.Link{Name: "eth0", Index: 2, HardwareAddr: mac("02:62:6c:00:00:01")}
	bond0 := ifaces.Link{Name: "bond0", Index: 5, HardwareAddr: mac("02:62:6c:00:00:05")}
	running := map[string]linkID{"eth0": idOf(eth0), "bond0": idOf(bond0)}
	with := func(l ifaces.Link, f func(*ifaces.Link)) ifaces.Link {
		f(&l)
		return l
	}
	tests := []struct {
		name  string
		links []ifaces.Link
		want  []string
	}{
		{name: "unchanged", links: []ifaces.Link{eth0, bond0}},
		{name: "flags and addresses do not matter", links: []ifaces.Link{
			with(eth0, func(l *ifaces.Link) { l.Flags = 0 }), with(bond0, func(l *ifaces.Link) { l.Prefixes = nil; l.MasterIndex = 9 })}},
		{name: "MAC changed (bond failover)", links: []ifaces.Link{
			eth0, with(bond0, func(l *ifaces.Link) { l.HardwareAddr = mac("02:62:6c:00:00:06") })}, want: []string{"bond0"}},
		{name: "re-created under the name", links: []ifaces.Link{
			with(eth0, func(l *ifaces.Link) { l.Index = 7 }), bond0}, want: []string{"eth0"}},
		{name: "gone", links: []ifaces.Link{bond0}, want: []string{"eth0"}},
		{name: "renamed away and another link took the name", links: []ifaces.Link{
			with(eth0, func(l *ifaces.Link) { l.Name = "eth9" }), with(bond0, func(l *ifaces.Link) { l.Name = "eth0" })},
			want: []string{"bond0", "eth0"}},
		{name: "no links", links: []ifaces.Link{}, want: []string{"bond0", "eth0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, staleLinks(running, tt.links)); diff != "" {
				t.Errorf("staleLinks() (-want +got):\n%s", diff)
			}
		})
	}
}

// fakeAnnouncer records what it is given.
type fakeAnnouncer struct {
	owned   []netip.Addr
	setNil  bool
	stopped chan struct{}
}

func (f *fakeAnnouncer) SetOwned(addrs []netip.Addr) {
	f.owned = addrs
	f.setNil = addrs == nil
}

func (f *fakeAnnouncer) Run(ctx context.Context) error {
	<-ctx.Done()
	close(f.stopped)
	return nil
}

func (f *fakeAnnouncer) Stats() announce.Stats { return announce.Stats{} }

func (f *fakeAnnouncer) SetMembers([]net.HardwareAddr) {}

func (f *fakeAnnouncer) ProbeFirst([]netip.Addr) {}

// A retired announcer owns nothing at once, is stopped, and is waited for
// by stopAnnouncers.
func TestRetireStale(t *testing.T) {
	c := &Controller{announcers: map[string]*runningAnnouncer{}}
	eth0 := ifaces.Link{Name: "eth0", Index: 2, HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, 1}}
	eth1 := ifaces.Link{Name: "eth1", Index: 3, HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	fakes := map[string]*fakeAnnouncer{}
	for _, l := range []ifaces.Link{eth0, eth1} {
		f := &fakeAnnouncer{stopped: make(chan struct{})}
		f.SetOwned([]netip.Addr{netip.MustParseAddr("192.0.2.100")})
		ctx, cancel := context.WithCancel(t.Context())
		ra := &runningAnnouncer{a: f, link: idOf(l), cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(ra.done)
			ra.err = f.Run(ctx)
		}()
		c.announcers[l.Name] = ra
		fakes[l.Name] = f
	}
	c.retireStale(t.Context(), nil) // not listed yet: nothing is stale
	if len(c.announcers) != 2 {
		t.Fatalf("retireStale(nil) left %d announcers, want 2", len(c.announcers))
	}
	moved := eth0
	moved.Index = 9
	c.retireStale(t.Context(), []ifaces.Link{moved, eth1})
	if _, ok := c.announcers["eth0"]; ok || len(c.announcers) != 1 || len(c.stopping) != 1 {
		t.Fatalf("after eth0 was re-created: announcers %v, stopping %d; want only eth1, 1 stopping", c.announcers, len(c.stopping))
	}
	if !fakes["eth0"].setNil || fakes["eth1"].setNil {
		t.Errorf("SetOwned(nil) on eth0 %v, eth1 %v; want true, false", fakes["eth0"].setNil, fakes["eth1"].setNil)
	}
	c.stopAnnouncers()
	for name, f := range fakes {
		select {
		case <-f.stopped:
		default:
			t.Errorf("announcer of %s still running after stopAnnouncers", name)
		}
	}
	if len(c.stopping) != 0 || len(c.announcers) != 0 {
		t.Errorf("stopAnnouncers left %d announcers, %d stopping", len(c.announcers), len(c.stopping))
	}
}
