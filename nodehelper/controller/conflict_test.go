package controller

import (
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/barelb/barelb/nodehelper/announce"
	"github.com/barelb/barelb/nodehelper/ifaces"
)

func TestEligibleMACs(t *testing.T) {
	t.Parallel()
	up := ifaces.FlagUp | ifaces.FlagRunning
	mac := func(b byte) net.HardwareAddr { return net.HardwareAddr{0x02, 0, 0, 0, 0, b} }
	links := []ifaces.Link{
		{Name: "lo", Index: 1, Flags: up | ifaces.FlagLoopback},
		{Name: "eth1", Index: 3, Flags: up, HardwareAddr: mac(3)},
		{Name: "eth0", Index: 2, Flags: up, HardwareAddr: mac(2)},
		{Name: "eth0.100", Index: 4, Flags: up, Kind: "vlan", HardwareAddr: mac(2)}, // same MAC: once
		{Name: "veth1234", Index: 5, Flags: up, Kind: "veth", HardwareAddr: mac(5)},
		{Name: "eth2", Index: 6, Flags: ifaces.FlagUp, HardwareAddr: mac(6)}, // no carrier
		{Name: "wg0", Index: 7, Flags: up},                                   // no MAC
		{Name: "eth3", Index: 8, Flags: up, HardwareAddr: mac(8)},
	}
	tests := []struct {
		name   string
		filter ifaces.Filter
		want   []string
	}{
		{name: "built-in rules", want: []string{"02:00:00:00:00:02", "02:00:00:00:00:03", "02:00:00:00:00:08"}},
		{name: "denied", filter: ifaces.Filter{Deny: []string{"eth3"}}, want: []string{"02:00:00:00:00:02", "02:00:00:00:00:03"}},
		{name: "allowed only", filter: ifaces.Filter{Allow: []string{"eth1"}}, want: []string{"02:00:00:00:00:03"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, m := range eligibleMACs(links, tt.filter) {
				got = append(got, m.String())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("eligibleMACs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConflictQueueNeverBlocks(t *testing.T) {
	t.Parallel()
	q := newConflictQueue()
	for i := 0; i < 1000; i++ {
		q.push(announce.Conflict{Outcome: announce.Kept})
	}
	<-q.wake
	if got := len(q.take()); got != 1000 {
		t.Errorf("took %d reports, want 1000", got)
	}
	if got := q.take(); got != nil {
		t.Errorf("second take = %v, want none", got)
	}
}
