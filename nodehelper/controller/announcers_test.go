package controller

import (
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"

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
