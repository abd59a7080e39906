package report

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/barelb/barelb/internal/contract"
	"github.com/barelb/barelb/nodehelper/election"
)

var (
	v4 = netip.MustParseAddr("198.51.100.1")
	v6 = netip.MustParseAddr("2001:db8::1")
)

func TestNoEligibleNode(t *testing.T) {
	tests := []struct {
		name     string
		addrs    []netip.Addr
		excluded map[election.Exclusion][]string
		want     string
	}{
		{name: "no nodes at all", addrs: []netip.Addr{v4}, want: "no node can announce 198.51.100.1: no nodes"},
		{
			name:  "reasons in the order of the enum, whatever the map's",
			addrs: []netip.Addr{v4, v6},
			excluded: map[election.Exclusion][]string{
				election.NoEndpoints:     {"n3"},
				election.ExcludedByLabel: {"n1", "n2"},
			},
			want: "no node can announce 198.51.100.1, 2001:db8::1: excluded by label: n1, n2; no ready endpoints: n3",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, NoEligibleNode(tt.addrs, tt.excluded)); diff != "" {
				t.Errorf("NoEligibleNode() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNotInPool(t *testing.T) {
	tests := []struct {
		name     string
		noConfig bool
		addrs    []netip.Addr
		want     string
	}{
		{name: "no valid configuration", noConfig: true, addrs: []netip.Addr{v4, v6}, want: "198.51.100.1, 2001:db8::1 not announced: no valid configuration has been read, so no address is in a layer2 pool"},
		{name: "outside every pool: the contract's message", addrs: []netip.Addr{v4}, want: contract.NotInPoolMessage([]netip.Addr{v4})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, NotInPool(tt.noConfig, tt.addrs)); diff != "" {
				t.Errorf("NotInPool() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNoInterface(t *testing.T) {
	want := "node n1 owns 198.51.100.1, 2001:db8::1 but has no interface to announce it on"
	if diff := cmp.Diff(want, NoInterface("n1", []netip.Addr{v4, v6})); diff != "" {
		t.Errorf("NoInterface() (-want +got):\n%s", diff)
	}
}
