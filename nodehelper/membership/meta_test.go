package membership

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/memberlist"

	"github.com/barelb/barelb/internal/poll"
	"github.com/barelb/barelb/nodehelper/ifaces"
)

func mac(last byte) net.HardwareAddr { return net.HardwareAddr{0x02, 0, 0, 0, 0, last} }

func macStrings(macs []net.HardwareAddr) []string {
	var out []string
	for _, m := range macs {
		out = append(out, m.String())
	}
	return out
}

func TestMetaRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []net.HardwareAddr
		want []string
	}{
		{name: "none"},
		{name: "two", in: []net.HardwareAddr{mac(1), mac(2)}, want: []string{"02:00:00:00:00:01", "02:00:00:00:00:02"}},
		{name: "not Ethernet skipped", in: []net.HardwareAddr{make(net.HardwareAddr, 20), mac(3)}, want: []string{"02:00:00:00:00:03"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, reach, err := decodeMeta(encodeMeta(tt.in, nil))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, macStrings(got)); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			if reach != nil {
				t.Errorf("reach %v decoded, none encoded", reach)
			}
		})
	}
	many := make([]net.HardwareAddr, 200)
	for i := range many {
		many[i] = mac(byte(i))
	}
	if b := encodeMeta(many, nil); len(b) > memberlist.MetaMaxSize {
		t.Errorf("meta of 200 MACs is %d bytes, over memberlist's %d", len(b), memberlist.MetaMaxSize)
	}
}

func TestDecodeMetaRejects(t *testing.T) {
	t.Parallel()
	for name, b := range map[string][]byte{
		"unknown version":         {3, 0},
		"short":                   {1, 1, 2, 0, 0},
		"long":                    {1, 0, 0},
		"no count":                {1},
		"v2 without reach bytes":  {2, 0},
		"v2 prefix truncated":     {2, 0, flagReach, 1, 4, 24, 192, 0},
		"v2 bad address length":   {2, 0, flagReach, 1, 5, 24, 192, 0, 2, 0, 0},
		"v2 prefix not masked":    {2, 0, flagReach, 1, 4, 24, 192, 0, 2, 1},
		"v2 prefix too long":      {2, 0, flagReach, 1, 4, 33, 192, 0, 2, 0},
		"v2 trailing bytes":       {2, 0, flagReach, 0, 9},
		"v2 prefixes, no reach":   {2, 0, 0, 1, 4, 24, 192, 0, 2, 0},
		"v2 node link, no reach ": {2, 0, flagNodeLink, 0},
	} {
		if _, _, err := decodeMeta(b); err == nil {
			t.Errorf("%s: decodeMeta(%x) succeeded", name, b)
		}
	}
}

func TestMetaReach(t *testing.T) {
	t.Parallel()
	typical := &ifaces.Reach{
		Prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::/64")},
		NodeLink: true,
	}
	many := &ifaces.Reach{}
	for i := range 40 {
		many.Prefixes = append(many.Prefixes, netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, byte(i)}), 48))
	}
	tests := []struct {
		name      string
		macs      []net.HardwareAddr
		reach     *ifaces.Reach
		want      *ifaces.Reach
		wantBytes []byte
	}{
		{name: "typical", macs: []net.HardwareAddr{mac(1)}, reach: typical, want: typical},
		{name: "nothing reachable", reach: &ifaces.Reach{}, want: &ifaces.Reach{}, wantBytes: []byte{2, 0, flagReach, 0}},
		{name: "node link only", reach: &ifaces.Reach{NodeLink: true}, want: &ifaces.Reach{NodeLink: true},
			wantBytes: []byte{2, 0, flagReach | flagNodeLink, 0}},
		{name: "pinned v4 prefix", reach: &ifaces.Reach{Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}},
			want:      &ifaces.Reach{Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}},
			wantBytes: []byte{2, 0, flagReach, 1, 4, 24, 198, 51, 100, 0}},
		{name: "not published", macs: []net.HardwareAddr{mac(1)}, wantBytes: []byte{2, 1, 2, 0, 0, 0, 0, 1, 0, 0}},
		// 40 IPv6 prefixes of 18 bytes do not fit beside 80 MACs: the
		// MACs win, the reach is not published.
		{name: "too big for the meta", macs: slices.Repeat([]net.HardwareAddr{mac(1)}, 80), reach: many},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := encodeMeta(tt.macs, tt.reach)
			if len(b) > memberlist.MetaMaxSize {
				t.Fatalf("meta of %d bytes, over memberlist's %d", len(b), memberlist.MetaMaxSize)
			}
			if tt.wantBytes != nil {
				if diff := cmp.Diff(tt.wantBytes, b); diff != "" {
					t.Errorf("encodeMeta() bytes (-want +got):\n%s", diff)
				}
			}
			macs, got, err := decodeMeta(b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("reach round trip (-want +got):\n%s", diff)
			}
			if len(macs) != len(tt.macs) {
				t.Errorf("%d MACs decoded, %d encoded", len(macs), len(tt.macs))
			}
		})
	}
	// A version 1 meta (an older peer) still gives its MACs, and no reach.
	macs, reach, err := decodeMeta([]byte{1, 1, 2, 0, 0, 0, 0, 7})
	if err != nil || len(macs) != 1 || reach != nil {
		t.Errorf("decodeMeta(version 1) = %v, %v, %v", macs, reach, err)
	}
}

func FuzzDecodeMeta(f *testing.F) {
	f.Add(encodeMeta([]net.HardwareAddr{mac(1), mac(2)}, nil))
	f.Add(encodeMeta([]net.HardwareAddr{mac(1)}, &ifaces.Reach{
		Prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::/64")}, NodeLink: true,
	}))
	f.Add([]byte{1, 3})
	f.Add([]byte{2, 0, flagReach, 1, 16, 64})
	f.Fuzz(func(t *testing.T, b []byte) {
		macs, reach, err := decodeMeta(b)
		if err != nil {
			return
		}
		for _, m := range macs {
			if len(m) != 6 {
				t.Fatalf("MAC %v of %d bytes", m, len(m))
			}
		}
		// What was read, written again, reads the same.
		macs2, reach2, err := decodeMeta(encodeMeta(macs, reach))
		if err != nil {
			t.Fatalf("re-encoded meta does not decode: %v", err)
		}
		if !cmp.Equal(macStrings(macs), macStrings(macs2)) || (reach == nil) != (reach2 == nil) || (reach != nil && !reach.Equal(*reach2)) {
			t.Fatalf("round trip changed the meta: %v %v → %v %v", macs, reach, macs2, reach2)
		}
	})
}

func TestMACBook(t *testing.T) {
	t.Parallel()
	var b metaBook
	b.setLocal([]net.HardwareAddr{mac(9)}, nil)
	b.joined(&memberlist.Node{Name: "a", Meta: encodeMeta([]net.HardwareAddr{mac(1)}, nil)})
	b.joined(&memberlist.Node{Name: "b", Meta: encodeMeta([]net.HardwareAddr{mac(2)}, nil)})
	b.joined(&memberlist.Node{Name: "old", Meta: []byte{7, 7}}) // unreadable: publishes nothing
	sorted := func() []string {
		s := macStrings(b.macs())
		slices.Sort(s)
		return s
	}
	if diff := cmp.Diff([]string{"02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:09"}, sorted()); diff != "" {
		t.Errorf("live (-want +got):\n%s", diff)
	}
	// Gone, left or dead alike: its MACs are no member's any more.
	b.gone(&memberlist.Node{Name: "a"})
	if diff := cmp.Diff([]string{"02:00:00:00:00:02", "02:00:00:00:00:09"}, sorted()); diff != "" {
		t.Errorf("after a left (-want +got):\n%s", diff)
	}
	if b.setLocal([]net.HardwareAddr{mac(9)}, nil) {
		t.Error("setLocal reported a change for the same MACs")
	}
}

// The MACs a member publishes reach its peers, also when they change after
// the join, and are forgotten when it leaves.
func TestMemberMACsGossiped(t *testing.T) {
	t.Parallel()
	ts, addrs := mockCluster(t, "a", "b")
	a := start(t, Config{NodeName: "a", Transport: ts["a"], Insecure: true, Peers: staticPeers(addrs[0])}, logr.Discard())
	a.SetLocalLinks([]net.HardwareAddr{mac(1)}, ifaces.Reach{})
	b := start(t, Config{NodeName: "b", Transport: ts["b"], Insecure: true, Peers: staticPeers(addrs[0])}, logr.Discard())
	b.SetLocalLinks([]net.HardwareAddr{mac(2)}, ifaces.Reach{})
	has := func(r *running, want ...string) func() error {
		return func() error {
			got := macStrings(r.MemberMACs())
			slices.Sort(got)
			if !cmp.Equal(want, got) {
				return fmt.Errorf("%s knows %v", r.cfg.NodeName, got)
			}
			return nil
		}
	}
	poll.For(t, 10*time.Second, "a to know b's MAC", has(a, "02:00:00:00:00:01", "02:00:00:00:00:02"))
	poll.For(t, 10*time.Second, "b to know a's MAC", has(b, "02:00:00:00:00:01", "02:00:00:00:00:02"))
	reach := ifaces.Reach{Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}, NodeLink: true}
	b.SetLocalLinks([]net.HardwareAddr{mac(3)}, reach)
	poll.For(t, 10*time.Second, "a to learn b's new MAC", has(a, "02:00:00:00:00:01", "02:00:00:00:00:03"))
	poll.For(t, 10*time.Second, "a to learn b's reach", func() error {
		if r, ok := a.MemberReach()["b"]; !ok || !r.Equal(reach) {
			return fmt.Errorf("a knows b's reach as %v, %t", r, ok)
		}
		return nil
	})
	if r, ok := b.MemberReach()["b"]; !ok || !r.Equal(reach) {
		t.Errorf("b's own reach = %v, %t; want %v", r, ok, reach)
	}
	b.stop(t)
	waitMembers(t, 10*time.Second, []*running{a}, []string{"a"})
	if err := has(a, "02:00:00:00:00:01")(); err != nil {
		t.Errorf("b's MAC still a member's after it left: %v", a.MemberMACs())
	}
}
