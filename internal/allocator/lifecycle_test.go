package allocator

import (
	"errors"
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/barelb/barelb/internal/config"
)

func TestReleaseAndAssignment(t *testing.T) {
	t.Parallel()
	a := New(&config.Config{Pools: []config.Pool{pool(t, "a", "198.51.100.0/30")}})
	if _, ok := a.Assignment("default/web"); ok {
		t.Error("Assignment of an unknown service reported ok")
	}
	if a.Release("default/web") {
		t.Error("Release of an unknown service = true")
	}
	want, err := a.Allocate(svc("default/web"))
	if err != nil {
		t.Fatal(err)
	}
	got, ok := a.Assignment("default/web")
	if !ok {
		t.Fatal("Assignment: not found")
	}
	if diff := cmp.Diff(want, got, addrComparer); diff != "" {
		t.Errorf("Assignment (-want +got):\n%s", diff)
	}
	if !a.Release("default/web") {
		t.Error("Release = false")
	}
	if _, ok := a.Assignment("default/web"); ok {
		t.Error("Assignment after Release reported ok")
	}
	if err := a.verify(); err != nil {
		t.Error(err)
	}
}

// A changed request that cannot be met leaves the old assignment in place.
func TestFailedMoveKeepsAssignment(t *testing.T) {
	t.Parallel()
	a := New(&config.Config{Pools: []config.Pool{pool(t, "a", "198.51.100.0/24"), pool(t, "b", "203.0.113.7/32")}})
	runSteps(t, a, []step{{req: svc("default/db")}, {req: Request{Service: "default/x", Pool: "b"}}})
	_, err := a.Allocate(Request{Service: "default/db", Pool: "b"})
	var re *RefusalError
	if !errors.As(err, &re) || re.Reason != ReasonPoolExhausted {
		t.Fatalf("Allocate = %v, want pool_exhausted", err)
	}
	got, _ := a.Assignment("default/db")
	if diff := cmp.Diff(assign("a", "198.51.100.0"), got, addrComparer); diff != "" {
		t.Errorf("Assignment after failed move (-want +got):\n%s", diff)
	}
	// The old address is still held: nobody else gets it.
	next, err := a.Allocate(svc("default/api"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(assign("a", "198.51.100.1"), next, addrComparer); diff != "" {
		t.Errorf("next allocation (-want +got):\n%s", diff)
	}
	if err := a.verify(); err != nil {
		t.Error(err)
	}
}

func TestRestore(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pools := []config.Pool{pool(t, "a", "avoid", "198.51.100.0/24"), pool(t, "v6", "2001:db8::/64")}
	claim := func(svc string, age int, key string, ports []Port, ss ...string) Claim {
		return Claim{
			Request:   Request{Service: svc, SharingKey: key, Ports: ports, Families: []Family{IPv4, IPv6}, FamilyPolicy: PreferDualStack},
			Addresses: addrs(ss...),
			Created:   t0.Add(time.Duration(age) * time.Hour),
		}
	}
	tests := []struct {
		name        string
		claims      []Claim
		wantErrs    []*ClaimError
		wantAssign  map[string]Assignment
		wantOrphans []Orphan
	}{
		{
			name:   "adopts claims",
			claims: []Claim{claim("default/web", 0, "", nil, "198.51.100.7"), claim("default/dual", 0, "", nil, "198.51.100.8", "2001:db8::8")},
			wantAssign: map[string]Assignment{
				"default/web":  assign("a", "198.51.100.7"),
				"default/dual": assign("a", "198.51.100.8", "2001:db8::8"),
			},
		},
		{
			name: "the older keeps a contested address, whatever the order of the claims",
			claims: []Claim{
				claim("default/young", 2, "", nil, "198.51.100.7", "2001:db8::9"),
				claim("default/old", 1, "", nil, "198.51.100.7"),
			},
			wantErrs: []*ClaimError{{Service: "default/young", Address: netip.MustParseAddr("198.51.100.7"), Err: refuse(ReasonAddressInUse, "198.51.100.7 is held by default/old")}},
			wantAssign: map[string]Assignment{
				"default/old":   assign("a", "198.51.100.7"),
				"default/young": assign("v6", "2001:db8::9"),
			},
		},
		{
			name: "equal ages: by service name",
			claims: []Claim{
				claim("default/b", 1, "", nil, "198.51.100.7"),
				claim("default/a", 1, "", nil, "198.51.100.7"),
			},
			wantErrs:   []*ClaimError{{Service: "default/b", Address: netip.MustParseAddr("198.51.100.7"), Err: refuse(ReasonAddressInUse, "198.51.100.7 is held by default/a")}},
			wantAssign: map[string]Assignment{"default/a": assign("a", "198.51.100.7")},
		},
		{
			name: "compatible sharers both keep it; a port conflict does not",
			claims: []Claim{
				claim("default/web", 1, "k", tcp(80), "198.51.100.7"),
				claim("default/api", 2, "k", tcp(443), "198.51.100.7"),
				claim("default/web2", 3, "k", tcp(80), "198.51.100.7"),
			},
			wantErrs: []*ClaimError{{Service: "default/web2", Address: netip.MustParseAddr("198.51.100.7"), Err: refuse(ReasonPortConflict, "port TCP/80 already used on 198.51.100.7 by default/web")}},
			wantAssign: map[string]Assignment{
				"default/web": assign("a", "198.51.100.7"),
				"default/api": assign("a", "198.51.100.7"),
			},
		},
		{
			name:        "addresses outside every pool are adopted as orphans",
			claims:      []Claim{claim("default/web", 0, "", nil, "192.0.2.7"), claim("default/buggy", 0, "", nil, "198.51.100.255")},
			wantAssign:  map[string]Assignment{"default/web": assign("", "192.0.2.7"), "default/buggy": assign("", "198.51.100.255")},
			wantOrphans: []Orphan{{"default/buggy", netip.MustParseAddr("198.51.100.255")}, {"default/web", netip.MustParseAddr("192.0.2.7")}},
		},
		{
			name:       "two addresses of one family",
			claims:     []Claim{claim("default/web", 0, "", nil, "198.51.100.7", "198.51.100.8")},
			wantErrs:   []*ClaimError{{Service: "default/web", Address: netip.MustParseAddr("198.51.100.8"), Err: refuse(ReasonInvalidRequest, "default/web already holds 198.51.100.7, and a service holds at most one address per family")}},
			wantAssign: map[string]Assignment{"default/web": assign("a", "198.51.100.7")},
		},
		{
			name:       "a service claimed twice",
			claims:     []Claim{claim("default/web", 0, "", nil, "198.51.100.7"), claim("default/web", 1, "", nil, "198.51.100.8")},
			wantErrs:   []*ClaimError{{Service: "default/web", Err: refuse(ReasonInvalidRequest, "default/web is claimed twice")}},
			wantAssign: map[string]Assignment{"default/web": assign("a", "198.51.100.7")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := New(&config.Config{Pools: pools})
			errs := a.Restore(tt.claims)
			var got []*ClaimError
			for _, err := range errs {
				var ce *ClaimError
				if !errors.As(err, &ce) {
					t.Fatalf("Restore error %v is not a *ClaimError", err)
				}
				got = append(got, ce)
			}
			if diff := cmp.Diff(tt.wantErrs, got, addrComparer); diff != "" {
				t.Errorf("Restore errors (-want +got):\n%s", diff)
			}
			gotAssign := map[string]Assignment{}
			for _, c := range tt.claims {
				if as, ok := a.Assignment(c.Request.Service); ok {
					gotAssign[c.Request.Service] = as
				}
			}
			if diff := cmp.Diff(tt.wantAssign, gotAssign, addrComparer); diff != "" {
				t.Errorf("assignments (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantOrphans, a.Orphans(), addrComparer); diff != "" {
				t.Errorf("Orphans (-want +got):\n%s", diff)
			}
			if err := a.verify(); err != nil {
				t.Error(err)
			}
			// Restored addresses are never handed out again.
			for i := range 3 {
				as, err := a.Allocate(Request{Service: "new/" + string(rune('a'+i)), Pool: "a", Addresses: nil})
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range tt.claims {
					for _, ad := range c.Addresses {
						if as.Addresses[0] == ad {
							t.Errorf("new allocation got the restored address %s", ad)
						}
					}
				}
			}
		})
	}
}

func TestRestoredConflictMessage(t *testing.T) {
	t.Parallel()
	a := New(&config.Config{Pools: []config.Pool{pool(t, "a", "198.51.100.0/24")}})
	errs := a.Restore([]Claim{
		{Request: svc("default/api"), Addresses: addrs("198.51.100.7"), Created: time.Unix(200, 0)},
		{Request: svc("default/web"), Addresses: addrs("198.51.100.7"), Created: time.Unix(100, 0)},
	})
	var got []string
	for _, err := range errs {
		got = append(got, err.Error())
	}
	want := []string{"failed to restore 198.51.100.7 for default/api: 198.51.100.7 is held by default/web"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Restore errors (-want +got):\n%s", diff)
	}
	// The loser asks again: it gets another address, not a duplicate.
	as, err := a.Allocate(svc("default/api"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(assign("a", "198.51.100.0"), as, addrComparer); diff != "" {
		t.Errorf("Allocate (-want +got):\n%s", diff)
	}
}

func TestSetConfig(t *testing.T) {
	t.Parallel()
	a := New(&config.Config{Pools: []config.Pool{
		pool(t, "a", "198.51.100.0/24"),
		pool(t, "b", "203.0.113.0/24", "2001:db8::/64"),
	}})
	runSteps(t, a, []step{
		{req: Request{Service: "default/zero", Addresses: addrs("198.51.100.0")}},
		{req: Request{Service: "default/web", Addresses: addrs("198.51.100.7")}},
		{req: Request{Service: "default/dual", Pool: "b", Families: []Family{IPv4, IPv6}, FamilyPolicy: RequireDualStack}},
	})
	before := map[string]Assignment{}
	for _, s := range []string{"default/zero", "default/web", "default/dual"} {
		before[s], _ = a.Assignment(s)
	}
	// Pool a shrinks and turns on avoid-buggy-ips, b loses its IPv6 range
	// and is renamed.
	orphans := a.SetConfig(&config.Config{Pools: []config.Pool{
		pool(t, "a", "avoid", "198.51.100.0/30"),
		pool(t, "c", "203.0.113.0/24"),
	}})
	wantOrphans := []Orphan{
		{"default/dual", netip.MustParseAddr("2001:db8::")},
		{"default/web", netip.MustParseAddr("198.51.100.7")},
		{"default/zero", netip.MustParseAddr("198.51.100.0")},
	}
	if diff := cmp.Diff(wantOrphans, orphans, addrComparer); diff != "" {
		t.Errorf("SetConfig orphans (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantOrphans, a.Orphans(), addrComparer); diff != "" {
		t.Errorf("Orphans (-want +got):\n%s", diff)
	}
	for s, want := range before {
		got, _ := a.Assignment(s)
		want.Pool = map[string]string{"default/zero": "a", "default/web": "a", "default/dual": "c"}[s]
		if diff := cmp.Diff(want, got, addrComparer); diff != "" {
			t.Errorf("%s after SetConfig (-want +got):\n%s", s, diff)
		}
	}
	// The same requests again, even naming a pool renamed since: nobody moves.
	for _, req := range []Request{
		{Service: "default/zero", Addresses: addrs("198.51.100.0")},
		{Service: "default/web", Addresses: addrs("198.51.100.7")},
		{Service: "default/dual", Pool: "b", Families: []Family{IPv4, IPv6}, FamilyPolicy: RequireDualStack},
		{Service: "default/dual", Families: []Family{IPv4, IPv6}, FamilyPolicy: RequireDualStack},
	} {
		got, err := a.Allocate(req)
		if err != nil {
			t.Fatalf("Allocate(%s): %v", req.Service, err)
		}
		if diff := cmp.Diff(before[req.Service].Addresses, got.Addresses, addrComparer); diff != "" {
			t.Errorf("%s moved after a config edit (-want +got):\n%s", req.Service, diff)
		}
	}
	wantStats := []PoolStats{
		{Pool: "a", Family: IPv4, Size: 3, InUse: 0, Free: 3},
		{Pool: "c", Family: IPv4, Size: 256, InUse: 1, Free: 255},
	}
	if diff := cmp.Diff(wantStats, a.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
	// An orphan released returns to nowhere; a pool growing back over an
	// orphan's address takes it in as used.
	a.Release("default/zero")
	a.SetConfig(&config.Config{Pools: []config.Pool{pool(t, "a", "198.51.100.0/24")}})
	wantStats = []PoolStats{{Pool: "a", Family: IPv4, Size: 256, InUse: 1, Free: 255}}
	if diff := cmp.Diff(wantStats, a.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
	wantOrphans = []Orphan{
		{"default/dual", netip.MustParseAddr("203.0.113.0")},
		{"default/dual", netip.MustParseAddr("2001:db8::")},
	}
	if diff := cmp.Diff(wantOrphans, a.Orphans(), addrComparer); diff != "" {
		t.Errorf("Orphans (-want +got):\n%s", diff)
	}
	got, err := a.Allocate(svc("default/new"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(assign("a", "198.51.100.0"), got, addrComparer); diff != "" {
		t.Errorf("Allocate (-want +got):\n%s", diff)
	}
	if err := a.verify(); err != nil {
		t.Error(err)
	}
}

func TestStats(t *testing.T) {
	t.Parallel()
	a := New(&config.Config{Pools: []config.Pool{
		pool(t, "buggy", "avoid", "198.51.100.0/24", "192.0.2.254-192.0.2.255"),
		pool(t, "span", "avoid", "203.0.113.254-203.0.114.1"),
		pool(t, "v6", "2001:db8::/64", "2001:db9::/65"),
		pool(t, "huge", "::/0"),
		pool(t, "exact", "2001:db8:1::/65"),
	}})
	runSteps(t, a, []step{
		{req: svc("x")},
		{req: Request{Service: "y", Pool: "v6", Families: []Family{IPv6}}},
		{req: Request{Service: "z", Pool: "huge", Families: []Family{IPv6}}},
	})
	want := []PoolStats{
		{Pool: "buggy", Family: IPv4, Size: 255, InUse: 1, Free: 254},
		{Pool: "span", Family: IPv4, Size: 2, Free: 2},
		{Pool: "v6", Family: IPv6, Size: math.MaxUint64, InUse: 1, Free: math.MaxUint64},
		{Pool: "huge", Family: IPv6, Size: math.MaxUint64, InUse: 1, Free: math.MaxUint64},
		{Pool: "exact", Family: IPv6, Size: 1 << 63, Free: 1 << 63},
	}
	if diff := cmp.Diff(want, a.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
}

func TestPoolOf(t *testing.T) {
	t.Parallel()
	a := New(&config.Config{Pools: []config.Pool{
		pool(t, "a", "avoid", "198.51.100.0/24"),
		pool(t, "b", "203.0.113.10-203.0.113.20", "2001:db8::/64"),
	}})
	tests := []struct {
		addr   string
		want   string
		wantOK bool
	}{
		{"198.51.100.7", "a", true},
		{"198.51.100.0", "", false},
		{"198.51.100.255", "", false},
		{"203.0.113.10", "b", true},
		{"203.0.113.20", "b", true},
		{"203.0.113.21", "", false},
		{"203.0.113.9", "", false},
		{"2001:db8::ffff", "b", true},
		{"2001:db8:0:1::", "", false},
		{"192.0.2.1", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			got, ok := a.PoolOf(netip.MustParseAddr(tt.addr))
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("PoolOf(%s) = %q, %v; want %q, %v", tt.addr, got, ok, tt.want, tt.wantOK)
			}
		})
	}
	if _, ok := a.PoolOf(netip.Addr{}); ok {
		t.Error("PoolOf(invalid) reported ok")
	}
}

func TestReasonString(t *testing.T) {
	t.Parallel()
	got := map[string]bool{}
	for r := ReasonInvalidRequest; r <= ReasonNoAutoAssignPool; r++ {
		s := r.String()
		if s == "unknown" || got[s] {
			t.Errorf("Reason(%d).String() = %q: missing or repeated", int(r), s)
		}
		got[s] = true
	}
	if s := Reason(0).String(); s != "unknown" {
		t.Errorf("Reason(0).String() = %q, want unknown", s)
	}
}

// PreferDualStack gains a family when the service's family request changes,
// never because of a config edit alone.
func TestPreferDualStackGrowth(t *testing.T) {
	t.Parallel()
	v4only := &config.Config{Pools: []config.Pool{pool(t, "a", "198.51.100.0/24")}}
	dual := &config.Config{Pools: []config.Pool{pool(t, "a", "198.51.100.0/24", "2001:db8::/64")}}
	prefer := Request{Service: "default/web", Families: []Family{IPv4, IPv6}, FamilyPolicy: PreferDualStack}
	tests := []struct {
		name  string
		steps func(a *Allocator) (Assignment, error)
		want  Assignment
	}{
		{
			name: "SingleStack to PreferDualStack gains IPv6 and keeps IPv4",
			steps: func(a *Allocator) (Assignment, error) {
				a.SetConfig(dual)
				if _, err := a.Allocate(svc("default/x")); err != nil {
					return Assignment{}, err
				}
				if _, err := a.Allocate(svc("default/web")); err != nil {
					return Assignment{}, err
				}
				a.Release("default/x")
				return a.Allocate(prefer)
			},
			want: assign("a", "198.51.100.1", "2001:db8::"),
		},
		{
			name: "a pool gaining IPv6 does not grow an unchanged request",
			steps: func(a *Allocator) (Assignment, error) {
				if _, err := a.Allocate(prefer); err != nil {
					return Assignment{}, err
				}
				a.SetConfig(dual)
				return a.Allocate(prefer)
			},
			want: assign("a", "198.51.100.0"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := New(v4only)
			got, err := tt.steps(a)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, addrComparer); diff != "" {
				t.Errorf("Allocate (-want +got):\n%s", diff)
			}
			if err := a.verify(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestShortfallsMessage(t *testing.T) {
	t.Parallel()
	var s shortfalls
	for i := range 6 {
		s.add(string(rune('a'+i)), IPv6, i == 5)
	}
	want := `pool "a" is exhausted; pool "b" is exhausted; pool "c" is exhausted; pool "d" is exhausted; pool "e" is exhausted; pool "f" is exhausted for IPv6`
	if got := s.String(); got != want {
		t.Errorf("String() = %s, want %s", got, want)
	}
}
