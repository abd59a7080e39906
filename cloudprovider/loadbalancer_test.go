package cloudprovider

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/barelb/barelb/internal/allocator"
)

func TestAllocatedMessage(t *testing.T) {
	a := allocator.Assignment{Pool: "my-ip-space", Addresses: []netip.Addr{netip.MustParseAddr("198.51.100.3")}}
	if diff := cmp.Diff("assigned 198.51.100.3 from pool my-ip-space", allocatedMessage(a, "layer2")); diff != "" {
		t.Errorf("allocatedMessage() (-want +got):\n%s", diff)
	}
	want := "assigned 198.51.100.3 from BGP pool my-ip-space: BGP is not supported, the address is not announced"
	if diff := cmp.Diff(want, allocatedMessage(a, "bgp")); diff != "" {
		t.Errorf("allocatedMessage(bgp) (-want +got):\n%s", diff)
	}
}
