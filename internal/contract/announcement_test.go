package contract

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var addrOpt = cmpopts.EquateComparable(netip.Addr{})

func TestFormatAnnouncement(t *testing.T) {
	v4, v6 := netip.MustParseAddr("198.51.100.3"), netip.MustParseAddr("2001:db8::3")
	tests := []struct {
		name string
		a    Announcement
		want string
	}{
		{name: "one address", a: Announcement{Node: "n2", Addresses: []AnnouncedAddress{{Addr: v4, Interfaces: []string{"eth0"}}}},
			want: "announcing 198.51.100.3 on eth0 from node n2"},
		{name: "dual-stack, two interfaces", a: Announcement{Node: "n2", Addresses: []AnnouncedAddress{
			{Addr: v4, Interfaces: []string{"eth0", "eth1"}}, {Addr: v6, Interfaces: []string{"eth0"}}}},
			want: "announcing 198.51.100.3 on eth0,eth1, 2001:db8::3 on eth0 from node n2"},
		{name: "no interfaces", a: Announcement{Node: "n2", Addresses: []AnnouncedAddress{{Addr: v4}}},
			want: "announcing 198.51.100.3 from node n2"},
		{name: "addresses not in a pool", a: Announcement{Node: "n1", Addresses: []AnnouncedAddress{{Addr: v4, Interfaces: []string{"eth0"}}},
			NotInPool: []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}},
			want: "announcing 198.51.100.3 on eth0 from node n1; 192.0.2.1, 2001:db8::1 not announced: in no layer2 pool of the configuration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, FormatAnnouncement(tt.a)); diff != "" {
				t.Errorf("FormatAnnouncement (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseAnnouncement(t *testing.T) {
	v4, v6 := netip.MustParseAddr("198.51.100.3"), netip.MustParseAddr("2001:db8::3")
	tests := []struct {
		name    string
		msg     string
		want    Announcement
		wantErr string // a substring of the error; "" for none
	}{
		{name: "one address", msg: "announcing 198.51.100.3 on eth0 from node n2",
			want: Announcement{Node: "n2", Addresses: []AnnouncedAddress{{Addr: v4, Interfaces: []string{"eth0"}}}}},
		{name: "dual-stack, two interfaces", msg: "announcing 198.51.100.3 on eth0,eth1, 2001:db8::3 on eth0 from node n2",
			want: Announcement{Node: "n2", Addresses: []AnnouncedAddress{
				{Addr: v4, Interfaces: []string{"eth0", "eth1"}}, {Addr: v6, Interfaces: []string{"eth0"}}}}},
		{name: "node before interfaces", msg: "announcing 198.51.100.3, 2001:db8::3 from node n2 on eth0,eth1",
			want: Announcement{Node: "n2", Addresses: []AnnouncedAddress{
				{Addr: v4, Interfaces: []string{"eth0", "eth1"}}, {Addr: v6, Interfaces: []string{"eth0", "eth1"}}}}},
		{name: "no interfaces named", msg: "announcing 198.51.100.3 from node n2",
			want: Announcement{Node: "n2", Addresses: []AnnouncedAddress{{Addr: v4}}}},
		{name: "surrounding space, empty interface names", msg: "  announcing 198.51.100.3 on ,eth0,, from node n2\n",
			want: Announcement{Node: "n2", Addresses: []AnnouncedAddress{{Addr: v4, Interfaces: []string{"eth0"}}}}},
		{name: "addresses not in a pool", msg: "announcing 198.51.100.3 on eth0 from node n1; 192.0.2.1, 2001:db8::1 not announced: in no layer2 pool of the configuration",
			want: Announcement{Node: "n1", Addresses: []AnnouncedAddress{{Addr: v4, Interfaces: []string{"eth0"}}},
				NotInPool: []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}}},

		{name: "other text", msg: "no node can announce 198.51.100.3: no nodes", wantErr: `"no node can announce 198.51.100.3: no nodes": does not start with "announcing "`},
		{name: "no node", msg: "announcing 198.51.100.3 on eth0", wantErr: `no "from node"`},
		{name: "not an address", msg: "announcing web on eth0 from node n2", wantErr: `failed to parse address`},
		{name: "empty node", msg: "announcing 198.51.100.3 on eth0 from node ", wantErr: `no "from node"`},
		{name: "empty node before interfaces", msg: "announcing 198.51.100.3 from node  on eth0", wantErr: "empty node name"},
		{name: "no address", msg: "announcing  from node n2", wantErr: "failed to parse address"},
		{name: "node with a space", msg: "announcing 198.51.100.3 from node n2 and n3", wantErr: `node "n2 and n3" holds a space`},
		{name: "interface with a space", msg: "announcing 198.51.100.3 on eth0 eth1 from node n2", wantErr: `interface "eth0 eth1"`},
		{name: "zone", msg: "announcing fe80::1%eth0 on eth0 from node n2", wantErr: "has a zone"},
		{name: "other tail", msg: "announcing 198.51.100.3 on eth0 from node n2; and more", wantErr: `"and more" after the node`},
		{name: "bad tail address", msg: "announcing 198.51.100.3 on eth0 from node n2; x not announced: in no layer2 pool of the configuration", wantErr: "failed to parse address"},
		{name: "MetalLB's", msg: `announcing from node "n1" with protocol "layer2"`, wantErr: `no "from node"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAnnouncement(tt.msg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseAnnouncement(%q) error = %v, want one containing %q", tt.msg, err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), strconv.Quote(tt.msg)) {
					t.Errorf("ParseAnnouncement(%q) error %q does not name the input", tt.msg, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAnnouncement(%q): %v", tt.msg, err)
			}
			if diff := cmp.Diff(tt.want, got, addrOpt); diff != "" {
				t.Errorf("ParseAnnouncement(%q) (-want +got):\n%s", tt.msg, diff)
			}
		})
	}
}

func TestBGPNotSupportedMessage(t *testing.T) {
	got := BGPNotSupportedMessage(netip.MustParseAddr("203.0.113.5"), "routed")
	want := `203.0.113.5 is from BGP pool "routed": BGP is not supported by barelb, the address is assigned but not announced`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("BGPNotSupportedMessage (-want +got):\n%s", diff)
	}
}

func TestNotInPoolMessage(t *testing.T) {
	got := NotInPoolMessage([]netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")})
	want := "192.0.2.1, 2001:db8::1 not announced: in no layer2 pool of the configuration"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NotInPoolMessage (-want +got):\n%s", diff)
	}
}

// FuzzAnnouncementRoundTrip checks, for any message ParseAnnouncement
// accepts (anyone allowed to write Events or Service status can write one),
// that FormatAnnouncement's text of it parses back to the same value and is
// stable.
func FuzzAnnouncementRoundTrip(f *testing.F) {
	for _, s := range []string{
		"announcing 198.51.100.3 on eth0 from node n2",
		"announcing 198.51.100.3 on eth0,eth1, 2001:db8::3 on eth0 from node n2",
		"announcing 198.51.100.3 from node n2 on eth0",
		"announcing 198.51.100.3, 2001:db8::3 on eth1 from node n2 on eth0",
		"announcing 198.51.100.3 from node n2",
		"announcing 198.51.100.3 on eth0 from node n1; 192.0.2.1, 2001:db8::1 not announced: in no layer2 pool of the configuration",
		"announcing ::ffff:192.0.2.1 on ,eth0,, from node n2",
		"announcing  from node ",
		"announcing 198.51.100.3 on  from node n on ",
		"announcing fe80::1%eth0 on eth0 from node n2",
		`announcing from node "n1" with protocol "layer2"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		a, err := ParseAnnouncement(msg)
		if err != nil {
			return
		}
		text := FormatAnnouncement(a)
		b, err := ParseAnnouncement(text)
		if err != nil {
			t.Fatalf("ParseAnnouncement(%q) = %+v, whose text %q does not parse: %v", msg, a, text, err)
		}
		if diff := cmp.Diff(a, b, addrOpt); diff != "" {
			t.Errorf("ParseAnnouncement(FormatAnnouncement(%+v)) (-want +got):\n%s", a, diff)
		}
		if again := FormatAnnouncement(b); again != text {
			t.Errorf("FormatAnnouncement is not stable: %q, then %q", text, again)
		}
	})
}
