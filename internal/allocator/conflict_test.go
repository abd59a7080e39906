package allocator

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/barelb/barelb/internal/config"
)

func TestConflict(t *testing.T) {
	t.Parallel()
	shared := func(name, key string, ports ...int32) Request {
		return Request{Service: name, SharingKey: key, Ports: tcp(ports...)}
	}
	tests := []struct {
		name       string
		setup      []step
		req        Request
		addr       string
		wantHolder string
		wantWhy    *RefusalError
	}{
		{
			name: "free address",
			req:  svc("a"),
			addr: "198.51.100.5",
		},
		{
			name:  "held by the service itself",
			setup: []step{{req: svc("a")}},
			req:   svc("a"),
			addr:  "198.51.100.0",
		},
		{
			name:       "held by another service that never shares",
			setup:      []step{{req: svc("a")}},
			req:        svc("b"),
			addr:       "198.51.100.0",
			wantHolder: "a",
			wantWhy:    &RefusalError{Reason: ReasonAddressInUse, Message: "198.51.100.0 is held by a"},
		},
		{
			name:  "shared with the same key and other ports",
			setup: []step{{req: shared("a", "k", 80)}},
			req:   shared("b", "k", 443),
			addr:  "198.51.100.0",
		},
		{
			name:       "the same key but a common port",
			setup:      []step{{req: shared("a", "k", 80)}},
			req:        shared("b", "k", 80),
			addr:       "198.51.100.0",
			wantHolder: "a",
			wantWhy:    &RefusalError{Reason: ReasonPortConflict, Message: "port TCP/80 already used on 198.51.100.0 by a"},
		},
		{
			name:       "the second holder conflicts",
			setup:      []step{{req: shared("a", "k", 80)}, {req: Request{Service: "b", SharingKey: "k", Ports: tcp(443), Addresses: addrs("198.51.100.0")}}},
			req:        shared("c", "k", 443),
			addr:       "198.51.100.0",
			wantHolder: "b",
			wantWhy:    &RefusalError{Reason: ReasonPortConflict, Message: "port TCP/443 already used on 198.51.100.0 by b"},
		},
		{
			name:  "an IPv4-mapped address is its IPv4 address",
			setup: []step{{req: svc("a")}},
			req:   svc("b"),
			addr:  "::ffff:198.51.100.0", wantHolder: "a",
			wantWhy: &RefusalError{Reason: ReasonAddressInUse, Message: "198.51.100.0 is held by a"},
		},
		{
			name: "an invalid address conflicts with nothing",
			req:  svc("b"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := New(&config.Config{Pools: []config.Pool{pool(t, "p", "198.51.100.0/24")}})
			runSteps(t, a, tt.setup)
			var addr netip.Addr
			if tt.addr != "" {
				addr = netip.MustParseAddr(tt.addr)
			}
			holder, why := a.Conflict(tt.req, addr)
			if holder != tt.wantHolder {
				t.Errorf("holder = %q, want %q", holder, tt.wantHolder)
			}
			if diff := cmp.Diff(tt.wantWhy, why); diff != "" {
				t.Errorf("why (-want +got):\n%s", diff)
			}
		})
	}
}
