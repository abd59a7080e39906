package allocator

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/barelb/barelb/internal/config"
)

// step is one action before the request under test: an allocation that must
// succeed, or a release.
type step struct {
	req     Request
	release string
}

func svc(name string) Request { return Request{Service: name} }

func runSteps(t *testing.T, a *Allocator, steps []step) {
	t.Helper()
	for _, s := range steps {
		if s.release != "" {
			if !a.Release(s.release) {
				t.Fatalf("Release(%q) = false", s.release)
			}
			continue
		}
		if _, err := a.Allocate(s.req); err != nil {
			t.Fatalf("setup Allocate(%+v): %v", s.req, err)
		}
	}
}

// checkResult compares an Allocate result with want or wantErr.
func checkResult(t *testing.T, got Assignment, err error, want Assignment, wantErr *RefusalError) {
	t.Helper()
	if wantErr != nil {
		var re *RefusalError
		if !errors.As(err, &re) {
			t.Fatalf("Allocate = %+v, %v; want refusal %v", got, err, wantErr)
		}
		if diff := cmp.Diff(wantErr, re); diff != "" {
			t.Errorf("refusal (-want +got):\n%s", diff)
		}
		return
	}
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	if diff := cmp.Diff(want, got, addrComparer); diff != "" {
		t.Errorf("Allocate (-want +got):\n%s", diff)
	}
}

func TestAllocate(t *testing.T) {
	t.Parallel()
	dual := []Family{IPv4, IPv6}
	tests := []struct {
		name    string
		pools   []config.Pool
		setup   []step
		req     Request
		want    Assignment
		wantErr *RefusalError
	}{
		{
			name:  "auto-assign takes the first auto-assign pool in declaration order",
			pools: []config.Pool{pool(t, "manual", "manual", "192.0.2.0/24"), pool(t, "b", "198.51.100.0/24"), pool(t, "c", "203.0.113.0/24")},
			req:   svc("default/web"),
			want:  assign("b", "198.51.100.0"),
		},
		{
			name:  "lowest free address, reusing released ones",
			pools: []config.Pool{pool(t, "a", "198.51.100.0/24")},
			setup: []step{{req: svc("x")}, {req: svc("y")}, {req: svc("z")}, {release: "y"}},
			req:   svc("default/web"),
			want:  assign("a", "198.51.100.1"),
		},
		{
			name:  "ranges in declared order",
			pools: []config.Pool{pool(t, "a", "198.51.100.200-198.51.100.201", "198.51.100.10/31")},
			setup: []step{{req: svc("x")}, {req: svc("y")}},
			req:   svc("default/web"),
			want:  assign("a", "198.51.100.10"),
		},
		{
			name:  "an exhausted pool is skipped",
			pools: []config.Pool{pool(t, "a", "198.51.100.7/32"), pool(t, "b", "203.0.113.0/24")},
			setup: []step{{req: svc("x")}},
			req:   svc("default/web"),
			want:  assign("b", "203.0.113.0"),
		},
		{
			name:  "avoid-buggy-ips skips .0",
			pools: []config.Pool{pool(t, "a", "avoid", "198.51.100.0/24")},
			req:   svc("default/web"),
			want:  assign("a", "198.51.100.1"),
		},
		{
			name:  "avoid-buggy-ips skips .255 and .0 across a /24 boundary",
			pools: []config.Pool{pool(t, "a", "avoid", "198.51.100.254-198.51.101.1")},
			setup: []step{{req: svc("x")}},
			req:   svc("default/web"),
			want:  assign("a", "198.51.101.1"),
		},
		{
			name:    "avoid-buggy-ips refuses an explicit .255",
			pools:   []config.Pool{pool(t, "a", "avoid", "198.51.100.0/24")},
			req:     Request{Service: "default/web", Addresses: addrs("198.51.100.255")},
			wantErr: refuse(ReasonBuggyAddress, `198.51.100.255 ends in .255, which pool "a" never hands out (avoid-buggy-ips)`),
		},
		{
			name:  "avoid-buggy-ips leaves IPv6 alone",
			pools: []config.Pool{pool(t, "a", "avoid", "2001:db8::/120")},
			req:   Request{Service: "default/web", Families: []Family{IPv6}},
			want:  assign("a", "2001:db8::"),
		},
		{
			name:  "a requested pool may have auto-assign off",
			pools: []config.Pool{pool(t, "a", "198.51.100.0/24"), pool(t, "m", "manual", "203.0.113.0/24")},
			req:   Request{Service: "default/web", Pool: "m"},
			want:  assign("m", "203.0.113.0"),
		},
		{
			name:    "unknown pool",
			pools:   []config.Pool{pool(t, "a", "198.51.100.0/24")},
			req:     Request{Service: "default/web", Pool: "x"},
			wantErr: refuse(ReasonUnknownPool, `pool "x" does not exist`),
		},
		{
			name:  "requested address",
			pools: []config.Pool{pool(t, "a", "manual", "198.51.100.0/24")},
			req:   Request{Service: "default/web", Addresses: addrs("198.51.100.7")},
			want:  assign("a", "198.51.100.7"),
		},
		{
			name:  "requested address in the requested pool",
			pools: []config.Pool{pool(t, "a", "198.51.100.0/24"), pool(t, "b", "203.0.113.0/24")},
			req:   Request{Service: "default/web", Pool: "b", Addresses: addrs("203.0.113.9")},
			want:  assign("b", "203.0.113.9"),
		},
		{
			name:    "requested address outside every pool",
			pools:   []config.Pool{pool(t, "a", "198.51.100.0/25")},
			req:     Request{Service: "default/web", Addresses: addrs("198.51.100.200")},
			wantErr: refuse(ReasonNotInPool, "198.51.100.200 is not in any pool"),
		},
		{
			name:    "requested address outside the requested pool",
			pools:   []config.Pool{pool(t, "a", "198.51.100.0/24"), pool(t, "b", "203.0.113.0/24")},
			req:     Request{Service: "default/web", Pool: "b", Addresses: addrs("198.51.100.7")},
			wantErr: refuse(ReasonNotInPool, `198.51.100.7 is not in pool "b" but in pool "a"`),
		},
		{
			name:    "requested address held by a service that does not share",
			pools:   []config.Pool{pool(t, "a", "198.51.100.0/24")},
			setup:   []step{{req: Request{Service: "default/web", Addresses: addrs("198.51.100.7")}}},
			req:     Request{Service: "default/api", Addresses: addrs("198.51.100.7"), SharingKey: "k"},
			wantErr: refuse(ReasonAddressInUse, "198.51.100.7 is held by default/web"),
		},
		{
			name:    "requested address held by a service with another sharing key",
			pools:   []config.Pool{pool(t, "a", "198.51.100.0/24")},
			setup:   []step{{req: Request{Service: "default/web", Addresses: addrs("198.51.100.7"), SharingKey: "x"}}},
			req:     Request{Service: "default/api", Addresses: addrs("198.51.100.7"), SharingKey: "y"},
			wantErr: refuse(ReasonAddressInUse, `198.51.100.7 is held by default/web, whose sharing key "x" differs from "y"`),
		},
		{
			name:  "sharing: same key, different ports",
			pools: []config.Pool{pool(t, "a", "198.51.100.0/24")},
			setup: []step{{req: Request{Service: "default/web", Addresses: addrs("198.51.100.7"), SharingKey: "k", Ports: tcp(80)}}},
			req:   Request{Service: "default/api", Addresses: addrs("198.51.100.7"), SharingKey: "k", Ports: tcp(443)},
			want:  assign("a", "198.51.100.7"),
		},
		{
			name:    "sharing: port conflict",
			pools:   []config.Pool{pool(t, "a", "198.51.100.0/24")},
			setup:   []step{{req: Request{Service: "default/api", Addresses: addrs("198.51.100.7"), SharingKey: "k", Ports: tcp(80)}}},
			req:     Request{Service: "default/web", Addresses: addrs("198.51.100.7"), SharingKey: "k", Ports: tcp(443, 80)},
			wantErr: refuse(ReasonPortConflict, "port TCP/80 already used on 198.51.100.7 by default/api"),
		},
		{
			name:  "sharing: same port number, other protocol",
			pools: []config.Pool{pool(t, "a", "198.51.100.0/24")},
			setup: []step{{req: Request{Service: "default/dns-tcp", Addresses: addrs("198.51.100.7"), SharingKey: "k", Ports: tcp(53)}}},
			req:   Request{Service: "default/dns-udp", Addresses: addrs("198.51.100.7"), SharingKey: "k", Ports: []Port{{Protocol: "UDP", Port: 53}}},
			want:  assign("a", "198.51.100.7"),
		},
		{
			name:    "sharing: Local and Cluster never share",
			pools:   []config.Pool{pool(t, "a", "198.51.100.0/24")},
			setup:   []step{{req: Request{Service: "default/web", Addresses: addrs("198.51.100.7"), SharingKey: "k", Ports: tcp(80)}}},
			req:     Request{Service: "default/api", Addresses: addrs("198.51.100.7"), SharingKey: "k", Ports: tcp(443), TrafficPolicyLocal: true, Selector: "app=x"},
			wantErr: refuse(ReasonAddressInUse, "198.51.100.7 is held by default/web: services with externalTrafficPolicy Local and Cluster never share an address"),
		},
		{
			name:    "sharing: Local needs identical selectors",
			pools:   []config.Pool{pool(t, "a", "198.51.100.0/24")},
			setup:   []step{{req: Request{Service: "default/web", Addresses: addrs("198.51.100.7"), SharingKey: "k", Ports: tcp(80), TrafficPolicyLocal: true, Selector: "app=web"}}},
			req:     Request{Service: "default/api", Addresses: addrs("198.51.100.7"), SharingKey: "k", Ports: tcp(443), TrafficPolicyLocal: true, Selector: "app=api"},
			wantErr: refuse(ReasonAddressInUse, "198.51.100.7 is held by default/web: services with externalTrafficPolicy Local share an address only with identical selectors"),
		},
		{
			name:  "sharing: Local with identical selectors",
			pools: []config.Pool{pool(t, "a", "198.51.100.0/24")},
			setup: []step{{req: Request{Service: "default/web", Addresses: addrs("198.51.100.7"), SharingKey: "k", Ports: tcp(80), TrafficPolicyLocal: true, Selector: "app=web"}}},
			req:   Request{Service: "default/api", Addresses: addrs("198.51.100.7"), SharingKey: "k", Ports: tcp(443), TrafficPolicyLocal: true, Selector: "app=web"},
			want:  assign("a", "198.51.100.7"),
		},
		{
			name:  "sharing: auto-assign reuses the lowest shareable address (MetalLB v0.12)",
			pools: []config.Pool{pool(t, "a", "198.51.100.0/24")},
			setup: []step{
				{req: svc("default/first")},
				{req: Request{Service: "default/web", SharingKey: "k", Ports: tcp(80)}},
			},
			req:  Request{Service: "default/api", SharingKey: "k", Ports: tcp(443)},
			want: assign("a", "198.51.100.1"),
		},
		{
			name:  "sharing: auto-assign prefers a lower free address",
			pools: []config.Pool{pool(t, "a", "198.51.100.0/24")},
			setup: []step{
				{req: svc("default/first")},
				{req: Request{Service: "default/web", SharingKey: "k", Ports: tcp(80)}},
				{release: "default/first"},
			},
			req:  Request{Service: "default/api", SharingKey: "k", Ports: tcp(443)},
			want: assign("a", "198.51.100.0"),
		},
		{
			name:  "sharing: auto-assign skips a shared address with a port conflict",
			pools: []config.Pool{pool(t, "a", "198.51.100.0/24")},
			setup: []step{{req: Request{Service: "default/web", SharingKey: "k", Ports: tcp(80)}}},
			req:   Request{Service: "default/api", SharingKey: "k", Ports: tcp(80)},
			want:  assign("a", "198.51.100.1"),
		},
		{
			name:  "sharing: auto-assign does not take a shared address from another pool",
			pools: []config.Pool{pool(t, "a", "198.51.100.0/24"), pool(t, "b", "203.0.113.0/24")},
			setup: []step{{req: Request{Service: "default/web", Pool: "b", SharingKey: "k", Ports: tcp(80)}}},
			req:   Request{Service: "default/api", SharingKey: "k", Ports: tcp(443)},
			want:  assign("a", "198.51.100.0"),
		},
		{
			name:  "RequireDualStack from one pool",
			pools: []config.Pool{pool(t, "v4", "192.0.2.0/24"), pool(t, "dual", "198.51.100.0/24", "2001:db8::/64")},
			req:   Request{Service: "default/web", Families: dual, FamilyPolicy: RequireDualStack},
			want:  assign("dual", "198.51.100.0", "2001:db8::"),
		},
		{
			name:  "RequireDualStack in the service's family order",
			pools: []config.Pool{pool(t, "dual", "198.51.100.0/24", "2001:db8::/64")},
			req:   Request{Service: "default/web", Families: []Family{IPv6, IPv4}, FamilyPolicy: RequireDualStack},
			want:  assign("dual", "2001:db8::", "198.51.100.0"),
		},
		{
			name:    "RequireDualStack with no dual-stack pool",
			pools:   []config.Pool{pool(t, "v4", "192.0.2.0/24"), pool(t, "v6", "2001:db8::/64")},
			req:     Request{Service: "default/web", Families: dual, FamilyPolicy: RequireDualStack},
			wantErr: refuse(ReasonFamilyUnavailable, "no auto-assign pool has both IPv4 and IPv6 addresses"),
		},
		{
			name:    "RequireDualStack from a requested single-stack pool",
			pools:   []config.Pool{pool(t, "v4", "192.0.2.0/24")},
			req:     Request{Service: "default/web", Pool: "v4", Families: dual, FamilyPolicy: RequireDualStack},
			wantErr: refuse(ReasonFamilyUnavailable, `pool "v4" has no IPv6 addresses`),
		},
		{
			name:  "RequireDualStack with a requested IPv4 address takes IPv6 from its pool",
			pools: []config.Pool{pool(t, "dual", "manual", "198.51.100.0/24", "2001:db8::/64")},
			req:   Request{Service: "default/web", Families: dual, FamilyPolicy: RequireDualStack, Addresses: addrs("198.51.100.9")},
			want:  assign("dual", "198.51.100.9", "2001:db8::"),
		},
		{
			name:    "RequireDualStack with the pool's IPv6 exhausted",
			pools:   []config.Pool{pool(t, "dual", "198.51.100.0/24", "2001:db8::/128")},
			setup:   []step{{req: Request{Service: "x", Families: []Family{IPv6}}}},
			req:     Request{Service: "default/web", Pool: "dual", Families: dual, FamilyPolicy: RequireDualStack},
			wantErr: refuse(ReasonPoolExhausted, `pool "dual" is exhausted for IPv6`),
		},
		{
			name:  "PreferDualStack falls back to what the pool has",
			pools: []config.Pool{pool(t, "v4", "192.0.2.0/24"), pool(t, "dual", "198.51.100.0/24", "2001:db8::/64")},
			req:   Request{Service: "default/web", Families: dual, FamilyPolicy: PreferDualStack},
			want:  assign("v4", "192.0.2.0"),
		},
		{
			name:  "PreferDualStack takes both when the pool has both",
			pools: []config.Pool{pool(t, "dual", "198.51.100.0/24", "2001:db8::/64")},
			req:   Request{Service: "default/web", Families: []Family{IPv6, IPv4}, FamilyPolicy: PreferDualStack},
			want:  assign("dual", "2001:db8::", "198.51.100.0"),
		},
		{
			name:  "SingleStack uses the first family",
			pools: []config.Pool{pool(t, "dual", "198.51.100.0/24", "2001:db8::/64")},
			req:   Request{Service: "default/web", Families: []Family{IPv6, IPv4}},
			want:  assign("dual", "2001:db8::"),
		},
		{
			name:    "SingleStack IPv6 with only IPv4 pools",
			pools:   []config.Pool{pool(t, "a", "198.51.100.0/24"), pool(t, "b", "203.0.113.0/24")},
			req:     Request{Service: "default/web", Families: []Family{IPv6}},
			wantErr: refuse(ReasonFamilyUnavailable, "no auto-assign pool has IPv6 addresses"),
		},
		{
			name:    "exhausted pool",
			pools:   []config.Pool{pool(t, "x", "198.51.100.7/32")},
			setup:   []step{{req: svc("default/web")}},
			req:     svc("default/api"),
			wantErr: refuse(ReasonPoolExhausted, `pool "x" is exhausted`),
		},
		{
			name:    "all auto-assign pools exhausted",
			pools:   []config.Pool{pool(t, "x", "198.51.100.7/32"), pool(t, "y", "203.0.113.7/32")},
			setup:   []step{{req: svc("default/web")}, {req: svc("default/db")}},
			req:     svc("default/api"),
			wantErr: refuse(ReasonPoolExhausted, `pool "x" is exhausted; pool "y" is exhausted`),
		},
		{
			name:    "no auto-assign pool",
			pools:   []config.Pool{pool(t, "m", "manual", "198.51.100.0/24")},
			req:     svc("default/web"),
			wantErr: refuse(ReasonNoAutoAssignPool, "no pool has auto-assign enabled: request a pool or an address"),
		},
		{
			name:    "no pools",
			req:     svc("default/web"),
			wantErr: refuse(ReasonNoAutoAssignPool, "no address pools are configured"),
		},
		{
			name:    "invalid: no service",
			pools:   []config.Pool{pool(t, "a", "198.51.100.0/24")},
			req:     Request{},
			wantErr: refuse(ReasonInvalidRequest, "the request names no service"),
		},
		{
			name:    "invalid: two addresses of one family",
			pools:   []config.Pool{pool(t, "a", "198.51.100.0/24")},
			req:     Request{Service: "default/web", Addresses: addrs("198.51.100.1", "198.51.100.2"), Families: dual, FamilyPolicy: PreferDualStack},
			wantErr: refuse(ReasonInvalidRequest, "default/web requests 198.51.100.1 and 198.51.100.2: at most one address per family"),
		},
		{
			name:    "invalid: an address of a family the service does not use",
			pools:   []config.Pool{pool(t, "a", "198.51.100.0/24", "2001:db8::/64")},
			req:     Request{Service: "default/web", Addresses: addrs("2001:db8::1")},
			wantErr: refuse(ReasonInvalidRequest, "2001:db8::1 is an IPv6 address, but default/web uses only IPv4"),
		},
		{
			name:    "invalid: RequireDualStack with one family",
			pools:   []config.Pool{pool(t, "a", "198.51.100.0/24")},
			req:     Request{Service: "default/web", FamilyPolicy: RequireDualStack},
			wantErr: refuse(ReasonInvalidRequest, "default/web requires dual-stack but lists only IPv4"),
		},
		{
			name:    "invalid: a family twice",
			pools:   []config.Pool{pool(t, "a", "198.51.100.0/24")},
			req:     Request{Service: "default/web", Families: []Family{IPv4, IPv4}},
			wantErr: refuse(ReasonInvalidRequest, "default/web lists IPv4 twice"),
		},
		{
			name:    "invalid: unknown family",
			pools:   []config.Pool{pool(t, "a", "198.51.100.0/24")},
			req:     Request{Service: "default/web", Families: []Family{5}},
			wantErr: refuse(ReasonInvalidRequest, "default/web lists the unknown IP family 5"),
		},
		{
			name:    "invalid: addresses in two pools",
			pools:   []config.Pool{pool(t, "a", "198.51.100.0/24"), pool(t, "b", "2001:db8::/64")},
			req:     Request{Service: "default/web", Families: dual, FamilyPolicy: RequireDualStack, Addresses: addrs("198.51.100.1", "2001:db8::1")},
			wantErr: refuse(ReasonInvalidRequest, `198.51.100.1 and 2001:db8::1 are in different pools ("a" and "b"), but a service's addresses come from one pool`),
		},
		{
			name:  "idempotent: a service keeps its address when lower ones free up",
			pools: []config.Pool{pool(t, "a", "198.51.100.0/24")},
			setup: []step{{req: svc("x")}, {req: svc("default/web")}, {release: "x"}},
			req:   svc("default/web"),
			want:  assign("a", "198.51.100.1"),
		},
		{
			name:  "idempotent: a service keeps its pool when an earlier pool frees up",
			pools: []config.Pool{pool(t, "a", "198.51.100.7/32"), pool(t, "b", "203.0.113.0/24")},
			setup: []step{{req: svc("x")}, {req: svc("default/web")}, {release: "x"}},
			req:   svc("default/web"),
			want:  assign("b", "203.0.113.0"),
		},
		{
			name:  "a changed pool request moves the service",
			pools: []config.Pool{pool(t, "a", "198.51.100.0/24"), pool(t, "b", "203.0.113.0/24")},
			setup: []step{{req: svc("default/web")}},
			req:   Request{Service: "default/web", Pool: "b"},
			want:  assign("b", "203.0.113.0"),
		},
		{
			name:  "a changed port conflicting with a co-holder moves the service",
			pools: []config.Pool{pool(t, "a", "198.51.100.0/24")},
			setup: []step{
				{req: Request{Service: "default/web", SharingKey: "k", Ports: tcp(80)}},
				{req: Request{Service: "default/api", SharingKey: "k", Ports: tcp(443)}},
			},
			req:  Request{Service: "default/api", SharingKey: "k", Ports: tcp(80)},
			want: assign("a", "198.51.100.1"),
		},
		{
			name:  "growing to dual-stack keeps the IPv4 address",
			pools: []config.Pool{pool(t, "dual", "198.51.100.0/24", "2001:db8::/64")},
			setup: []step{{req: svc("x")}, {req: svc("default/web")}, {release: "x"}},
			req:   Request{Service: "default/web", Families: dual, FamilyPolicy: RequireDualStack},
			want:  assign("dual", "198.51.100.1", "2001:db8::"),
		},
		{
			name:  "requesting the address it holds",
			pools: []config.Pool{pool(t, "a", "198.51.100.0/24")},
			setup: []step{{req: svc("x")}, {req: svc("default/web")}},
			req:   Request{Service: "default/web", Addresses: addrs("198.51.100.1")},
			want:  assign("a", "198.51.100.1"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := New(&config.Config{Pools: tt.pools})
			runSteps(t, a, tt.setup)
			got, err := a.Allocate(tt.req)
			checkResult(t, got, err, tt.want, tt.wantErr)
			if err == nil {
				again, err := a.Allocate(tt.req)
				if err != nil {
					t.Fatalf("repeated Allocate: %v", err)
				}
				if diff := cmp.Diff(got, again, addrComparer); diff != "" {
					t.Errorf("repeated Allocate is not idempotent (-first +second):\n%s", diff)
				}
			}
			if err := a.verify(); err != nil {
				t.Error(err)
			}
		})
	}
}
