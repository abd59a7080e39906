package election

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/barelb/barelb/nodehelper/ifaces"
)

func reach(nodeLink bool, prefixes ...string) ifaces.Reach {
	r := ifaces.Reach{NodeLink: nodeLink}
	for _, p := range prefixes {
		r.Prefixes = append(r.Prefixes, netip.MustParsePrefix(p))
	}
	return r
}

func TestReachTier(t *testing.T) {
	t.Parallel()
	both := reach(true, "198.51.100.0/24", "2001:db8:5::/64")
	tests := []struct {
		name  string
		reach *ifaces.Reach
		addrs []netip.Addr
		want  tier
	}{
		{name: "publishes none", addrs: addrs("198.51.100.5"), want: tierConnected},
		{name: "connected, both families", reach: &both, addrs: addrs("198.51.100.5", "2001:db8:5::5"), want: tierConnected},
		{name: "one family on the node link", reach: &both, addrs: addrs("198.51.100.5", "2001:db8:6::5"), want: tierFallback},
		{name: "node link only", reach: ptr(reach(true)), addrs: addrs("198.51.100.5"), want: tierFallback},
		{name: "nothing", reach: ptr(reach(false)), addrs: addrs("198.51.100.5"), want: tierNone},
		{name: "one address unreachable", reach: ptr(reach(false, "198.51.100.0/24")), addrs: addrs("198.51.100.5", "2001:db8:5::5"), want: tierNone},
	}
	for _, tt := range tests {
		if got := reachTier(tt.reach, tt.addrs); got != tt.want {
			t.Errorf("%s: reachTier() = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestReachElection: the election keeps groups on nodes of the best reach
// tier, and moves them when a reach changes.
func TestReachElection(t *testing.T) {
	t.Parallel()
	a := addrs("198.51.100.5", "2001:db8:5::5")
	svc := ServiceInfo{Key: "ns/web", Addresses: a, HasReadyEndpoints: true}
	nodes := []NodeInfo{{Name: "n1"}, {Name: "n2"}, {Name: "n3"}}
	members := []string{"n1", "n2", "n3"}
	up := reach(true, "192.0.2.0/24", "198.51.100.0/24", "2001:db8:5::/64")
	cut := reach(true, "192.0.2.0/24") // the service LAN's cable is cut
	tests := []struct {
		name         string
		reach        map[string]ifaces.Reach
		wantEligible []string
		wantExcluded map[Exclusion][]string
	}{
		{name: "nobody publishes: everyone", wantEligible: []string{"n1", "n2", "n3"}},
		{name: "all connected", reach: map[string]ifaces.Reach{"n1": up, "n2": up, "n3": up}, wantEligible: []string{"n1", "n2", "n3"}},
		{name: "one cable cut", reach: map[string]ifaces.Reach{"n1": cut, "n2": up, "n3": up},
			wantEligible: []string{"n2", "n3"}, wantExcluded: map[Exclusion][]string{NoInterface: {"n1"}}},
		{name: "an older peer counts as connected", reach: map[string]ifaces.Reach{"n1": cut, "n2": cut},
			wantEligible: []string{"n3"}, wantExcluded: map[Exclusion][]string{NoInterface: {"n1", "n2"}}},
		{name: "every cable cut: the node links", reach: map[string]ifaces.Reach{"n1": cut, "n2": cut, "n3": cut},
			wantEligible: []string{"n1", "n2", "n3"}},
		{name: "nothing to announce on", reach: map[string]ifaces.Reach{"n1": {}, "n2": {}, "n3": {}},
			wantExcluded: map[Exclusion][]string{NoInterface: {"n1", "n2", "n3"}}},
		{name: "fallback beats nothing", reach: map[string]ifaces.Reach{"n1": {}, "n2": cut, "n3": {}},
			wantEligible: []string{"n2"}, wantExcluded: map[Exclusion][]string{NoInterface: {"n1", "n3"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := View{Nodes: nodes, Services: []ServiceInfo{svc}, Members: members, Reach: tt.reach}
			got := Candidates(v)[0]
			if diff := cmp.Diff(tt.wantEligible, got.Eligible, cmpOpts); diff != "" {
				t.Errorf("Eligible (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantExcluded, got.Excluded, cmpOpts); diff != "" {
				t.Errorf("Excluded (-want +got):\n%s", diff)
			}
			var tb Table
			tb.Recompute(v)
			k := GroupKey(a[0])
			if tb.Owner(k) != got.Owner {
				t.Errorf("Table owner %q, Candidates owner %q", tb.Owner(k), got.Owner)
			}
			explained, _ := tb.Explain(k)
			if diff := cmp.Diff(got, explained, cmpOpts); diff != "" {
				t.Errorf("Explain differs from Candidates (-Candidates +Explain):\n%s", diff)
			}
		})
	}

	// The owner's cable is cut: SetReach moves the group to the next node,
	// and back when the cable is healed.
	all := map[string]ifaces.Reach{"n1": up, "n2": up, "n3": up}
	var tb Table
	tb.Recompute(View{Nodes: nodes, Services: []ServiceInfo{svc}, Members: members, Reach: all})
	k := GroupKey(a[0])
	owner := tb.Owner(k)
	cutOwner := map[string]ifaces.Reach{"n1": up, "n2": up, "n3": up}
	cutOwner[owner] = cut
	cs := tb.SetReach(cutOwner)
	if len(cs) != 1 || cs[0].From != owner || cs[0].To == "" || cs[0].To == owner {
		t.Fatalf("cutting the owner's cable: changes %v, want one move from %s", cs, owner)
	}
	if cs := tb.SetReach(cutOwner); cs != nil {
		t.Errorf("the same reach again moved %v", cs)
	}
	// A member that is not the owner leaves: nothing else moves.
	next := tb.Owner(k)
	for _, n := range members {
		if n != owner && n != next {
			if cs := tb.MemberLeft(n); len(cs) != 0 {
				t.Errorf("%s left: changes %v", n, cs)
			}
			if cs := tb.MemberJoined(n); len(cs) != 0 && cs[0].To != n {
				t.Errorf("%s joined: changes %v", n, cs)
			}
		}
	}
	if cs := tb.SetReach(all); len(cs) != 1 || cs[0].To != owner {
		t.Errorf("healing the cable: changes %v, want the group back on %s", cs, owner)
	}
	// The owner rejoins with a cut cable after a restart: it may not take
	// the group back.
	tb.SetReach(cutOwner)
	tb.MemberLeft(owner)
	if cs := tb.MemberJoined(owner); len(cs) != 0 {
		t.Errorf("%s rejoined with its cable cut: changes %v", owner, cs)
	}
}

func TestChangesThen(t *testing.T) {
	t.Parallel()
	k1, k2, k3 := key("192.0.2.1"), key("192.0.2.2"), key("192.0.2.3")
	tests := []struct {
		name        string
		first, next Changes
		want        Changes
	}{
		{name: "empty next", first: Changes{{Group: k1, From: "a", To: "b"}}, want: Changes{{Group: k1, From: "a", To: "b"}}},
		{name: "empty first", next: Changes{{Group: k1, From: "a", To: "b"}}, want: Changes{{Group: k1, From: "a", To: "b"}}},
		{name: "chained", first: Changes{{Group: k1, From: "a", To: "b"}}, next: Changes{{Group: k1, From: "b", To: "c"}},
			want: Changes{{Group: k1, From: "a", To: "c"}}},
		{name: "back where it began", first: Changes{{Group: k1, From: "a", To: "b"}, {Group: k3, To: "a"}},
			next: Changes{{Group: k2, From: "c", To: "a"}, {Group: k1, From: "b", To: "a"}},
			want: Changes{{Group: k2, From: "c", To: "a"}, {Group: k3, To: "a"}}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, tt.first.Then(tt.next), cmpOpts); diff != "" {
			t.Errorf("%s: Then() (-want +got):\n%s", tt.name, diff)
		}
	}
}
