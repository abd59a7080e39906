package announce

import (
	"encoding/hex"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Addresses used by the wire-byte tables.
var (
	ourMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	vip4   = netip.MustParseAddr("192.0.2.10")
	vip6   = netip.MustParseAddr("2001:db8::10")
)

// ownsOnly returns an ownership test for exactly addrs.
func ownsOnly(addrs ...netip.Addr) func(netip.Addr) bool {
	set := make(map[netip.Addr]bool, len(addrs))
	for _, a := range addrs {
		set[a] = true
	}
	return func(a netip.Addr) bool { return set[a] }
}

// wire decodes hex written with spaces and line breaks for readability.
func wire(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatalf("bad hex in test table: %v", err)
	}
	return b
}

// Wire bytes shared by the tables. The ICMPv6 checksums were computed by an
// independent implementation (Python, RFC 4443 §2.3 pseudo-header) and are
// also accepted by the Linux kernel in the privileged tests.
const (
	ethBroadcastFromClient = "ffffffffffff 02000000000b"
	ethClientFromUs        = "02000000000b 02000000000a"
	arpPad                 = "000000000000000000000000000000000000"

	// Neighbor Solicitation 2001:db8::20 -> ff02::1:ff00:10 for 2001:db8::10 with a source link-layer option.
	nsMulticast = "3333ff000010 02000000000b 86dd" +
		"60000000 0020 3a ff 20010db8000000000000000000000020 ff0200000000000000000001ff000010" +
		"8700 1be2 00000000 20010db8000000000000000000000010 0101 02000000000b"
	// Unicast NUD probe 2001:db8::20 -> 2001:db8::10 at our MAC.
	nsUnicast = "02000000000a 02000000000b 86dd" +
		"60000000 0020 3a ff 20010db8000000000000000000000020 20010db8000000000000000000000010" +
		"8700 ec2d 00000000 20010db8000000000000000000000010 0101 02000000000b"
	// Unicast NUD probe without a source link-layer option (allowed, RFC 4861 §4.3).
	nsUnicastNoSLL = "02000000000a 02000000000b 86dd" +
		"60000000 0018 3a ff 20010db8000000000000000000000020 20010db8000000000000000000000010" +
		"8700 ef41 00000000 20010db8000000000000000000000010"
	// DAD probe from :: for 2001:db8::10.
	nsDAD = "3333ff000010 02000000000b 86dd" +
		"60000000 0018 3a ff 00000000000000000000000000000000 ff0200000000000000000001ff000010" +
		"8700 4ccf 00000000 20010db8000000000000000000000010"
	// Solicited advertisement 2001:db8::10 -> 2001:db8::20, flags S|O, target link-layer option.
	naSolicited = "02000000000b 02000000000a 86dd" +
		"60000000 0020 3a ff 20010db8000000000000000000000010 20010db8000000000000000000000020" +
		"8800 8a2e 60000000 20010db8000000000000000000000010 0201 02000000000a"
	// Advertisement 2001:db8::10 -> ff02::1, flag O only: the answer to a DAD
	// probe and the unsolicited announcement have the same bytes.
	naAllNodes = "333300000001 02000000000a 86dd" +
		"60000000 0020 3a ff 20010db8000000000000000000000010 ff020000000000000000000000000001" +
		"8800 f903 20000000 20010db8000000000000000000000010 0201 02000000000a"
)

// replyCase is one row of a ReplyARP or ReplyNDP table: an incoming frame and
// the expected reply (empty for none) and reason, wire bytes in hex.
type replyCase struct {
	name   string
	frame  string
	owned  []netip.Addr
	want   string
	reason Reason
}

// runReplyCases runs a ReplyARP or ReplyNDP table.
func runReplyCases(t *testing.T, reply func([]byte, net.HardwareAddr, func(netip.Addr) bool) ([]byte, Reason), tests []replyCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, reason := reply(wire(t, tt.frame), ourMAC, ownsOnly(tt.owned...))
			if diff := cmp.Diff(tt.reason, reason); diff != "" {
				t.Errorf("reason (-want +got):\n%s", diff)
			}
			var want []byte
			if tt.want != "" {
				want = wire(t, tt.want)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("reply (-want +got):\n%s", diff)
			}
		})
	}
}
