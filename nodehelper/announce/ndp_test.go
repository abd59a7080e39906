package announce

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReplyNDP(t *testing.T) {
	t.Parallel()

	tests := []replyCase{
		{
			name:   "multicast solicitation for owned address",
			frame:  nsMulticast,
			owned:  []netip.Addr{vip6},
			want:   naSolicited,
			reason: Answered,
		},
		{
			name:   "unicast NUD probe for owned address",
			frame:  nsUnicast,
			owned:  []netip.Addr{vip6},
			want:   naSolicited,
			reason: Answered,
		},
		{
			name:   "unicast NUD probe without source link-layer option goes to the Ethernet source",
			frame:  nsUnicastNoSLL,
			owned:  []netip.Addr{vip6},
			want:   naSolicited,
			reason: Answered,
		},
		{
			name:   "DAD probe is answered to all nodes",
			frame:  nsDAD,
			owned:  []netip.Addr{vip6},
			want:   naAllNodes,
			reason: Answered,
		},
		{
			name:   "trailing bytes after the payload are ignored",
			frame:  nsMulticast + "00000000",
			owned:  []netip.Addr{vip6},
			want:   naSolicited,
			reason: Answered,
		},
		{
			name:   "not owned",
			frame:  nsMulticast,
			owned:  []netip.Addr{netip.MustParseAddr("2001:db8::11")},
			reason: NotOwned,
		},
		{
			name:   "unicast probe not owned",
			frame:  nsUnicast,
			reason: NotOwned,
		},
		{
			name:   "own frame",
			frame:  "3333ff000010 02000000000a 86dd" + nsMulticast[len("3333ff000010 02000000000b 86dd"):],
			owned:  []netip.Addr{vip6},
			reason: OwnFrame,
		},
		{
			name:   "unicast to another host",
			frame:  "02000000000c" + nsUnicast[len("02000000000a"):],
			owned:  []netip.Addr{vip6},
			reason: NotForUs,
		},
		{
			name:   "advertisement is not a request",
			frame:  "02000000000a 02000000000b 86dd" + naSolicited[len("02000000000b 02000000000a 86dd"):],
			owned:  []netip.Addr{vip6},
			reason: NotRequest,
		},
		{
			name:   "hop-by-hop options header",
			frame:  "333300000016 02000000000b 86dd 60000000 0008 00 01 fe800000000000000000000000000020 ff020000000000000000000000000016 3a00050200000100",
			owned:  []netip.Addr{vip6},
			reason: ExtensionHeader,
		},
		{
			name:   "UDP",
			frame:  "02000000000a 02000000000b 86dd 60000000 0008 11 40 20010db8000000000000000000000020 20010db8000000000000000000000010 0035003500080000",
			owned:  []netip.Addr{vip6},
			reason: NotRequest,
		},
		{
			name:   "IPv4 ethertype",
			frame:  "02000000000a 02000000000b 0800" + nsUnicast[len("02000000000a 02000000000b 86dd"):],
			owned:  []netip.Addr{vip6},
			reason: NotRequest,
		},
		{
			name:   "hop limit below 255",
			frame:  "3333ff000010 02000000000b 86dd 60000000 0020 3a 40" + nsMulticast[len("3333ff000010 02000000000b 86dd 60000000 0020 3a ff"):],
			owned:  []netip.Addr{vip6},
			reason: Invalid,
		},
		{
			name:   "bad checksum",
			frame:  nsMulticast[:len(nsMulticast)-len("1be2 00000000 20010db8000000000000000000000010 0101 02000000000b")] + "1be3 00000000 20010db8000000000000000000000010 0101 02000000000b",
			owned:  []netip.Addr{vip6},
			reason: Invalid,
		},
		{
			name: "sent to the wrong solicited-node group",
			frame: "3333ff000011 02000000000b 86dd" +
				"60000000 0020 3a ff 20010db8000000000000000000000020 ff0200000000000000000001ff000011" +
				"8700 1be1 00000000 20010db8000000000000000000000010 0101 02000000000b",
			owned:  []netip.Addr{vip6},
			reason: Invalid,
		},
		{
			name:   "payload length beyond the frame",
			frame:  "3333ff000010 02000000000b 86dd 60000000 0040 3a ff" + nsMulticast[len("3333ff000010 02000000000b 86dd 60000000 0020 3a ff"):],
			owned:  []netip.Addr{vip6},
			reason: Malformed,
		},
		{
			name:   "truncated IPv6 header",
			frame:  "3333ff000010 02000000000b 86dd 60000000 0020 3a ff 2001",
			owned:  []netip.Addr{vip6},
			reason: Malformed,
		},
		{
			name:   "empty",
			reason: Malformed,
		},
	}
	runReplyCases(t, ReplyNDP, tests)
}

func TestUnsolicitedNA(t *testing.T) {
	t.Parallel()

	got := UnsolicitedNA(ourMAC, vip6)
	if diff := cmp.Diff(wire(t, naAllNodes), got); diff != "" {
		t.Errorf("UnsolicitedNA (-want +got):\n%s", diff)
	}
	if _, reason := ReplyNDP(got, ourMAC, ownsOnly(vip6)); reason != OwnFrame {
		t.Errorf("ReplyNDP reason = %v, want %v", reason, OwnFrame)
	}
}

func TestSolicitedNode(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		addr string
		want string
	}{
		{name: "low bits", addr: "2001:db8::10", want: "ff02::1:ff00:10"},
		{name: "24 bits kept", addr: "2001:db8::abcd:ef12:3456", want: "ff02::1:ff12:3456"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := solicitedNode(netip.MustParseAddr(tt.addr))
			if diff := cmp.Diff(netip.MustParseAddr(tt.want), got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("solicitedNode (-want +got):\n%s", diff)
			}
		})
	}
}

func BenchmarkReplyNDP(b *testing.B) {
	for _, tt := range []struct {
		name  string
		frame string
	}{
		{name: "multicast", frame: nsMulticast},
		{name: "unicast", frame: nsUnicast},
	} {
		b.Run(tt.name, func(b *testing.B) {
			owned, _ := ownedSet(nil).next([]netip.Addr{vip6}, 1)
			frame := wire(b, tt.frame)
			b.ReportAllocs()
			for b.Loop() {
				if _, r := ReplyNDP(frame, ourMAC, owned.owns); r != Answered {
					b.Fatalf("reason %v", r)
				}
			}
		})
	}
}
