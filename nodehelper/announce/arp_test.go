package announce

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReplyARP(t *testing.T) {
	t.Parallel()

	request := ethBroadcastFromClient + "0806 0001 0800 06 04 0001 02000000000b c0000214 000000000000 c000020a" + arpPad
	tests := []replyCase{
		{
			name:   "request for owned address",
			frame:  request,
			owned:  []netip.Addr{vip4},
			want:   ethClientFromUs + "0806 0001 0800 06 04 0002 02000000000a c000020a 02000000000b c0000214" + arpPad,
			reason: Answered,
		},
		{
			name:   "unpadded request",
			frame:  ethBroadcastFromClient + "0806 0001 0800 06 04 0001 02000000000b c0000214 000000000000 c000020a",
			owned:  []netip.Addr{vip4},
			want:   ethClientFromUs + "0806 0001 0800 06 04 0002 02000000000a c000020a 02000000000b c0000214" + arpPad,
			reason: Answered,
		},
		{
			name:   "unicast refresh to our MAC",
			frame:  "02000000000a 02000000000b 0806 0001 0800 06 04 0001 02000000000b c0000214 02000000000a c000020a" + arpPad,
			owned:  []netip.Addr{vip4},
			want:   ethClientFromUs + "0806 0001 0800 06 04 0002 02000000000a c000020a 02000000000b c0000214" + arpPad,
			reason: Answered,
		},
		{
			name:   "probe from 0.0.0.0 is answered",
			frame:  ethBroadcastFromClient + "0806 0001 0800 06 04 0001 02000000000b 00000000 000000000000 c000020a" + arpPad,
			owned:  []netip.Addr{vip4},
			want:   ethClientFromUs + "0806 0001 0800 06 04 0002 02000000000a c000020a 02000000000b 00000000" + arpPad,
			reason: Answered,
		},
		{
			name:   "not owned",
			frame:  request,
			owned:  []netip.Addr{netip.MustParseAddr("192.0.2.11")},
			reason: NotOwned,
		},
		{
			name:   "nothing owned",
			frame:  request,
			reason: NotOwned,
		},
		{
			name:   "reply is not a request",
			frame:  ethBroadcastFromClient + "0806 0001 0800 06 04 0002 02000000000b c0000214 000000000000 c000020a" + arpPad,
			owned:  []netip.Addr{vip4},
			reason: NotRequest,
		},
		{
			name:   "IPv4 frame",
			frame:  ethBroadcastFromClient + "0800 4500001c000000004011000000000000000000000000000000000000" + arpPad,
			owned:  []netip.Addr{vip4},
			reason: NotRequest,
		},
		{
			name:   "own frame by Ethernet source",
			frame:  "ffffffffffff 02000000000a 0806 0001 0800 06 04 0001 02000000000a c000020a 000000000000 c000020a" + arpPad,
			owned:  []netip.Addr{vip4},
			reason: OwnFrame,
		},
		{
			name:   "own hardware address as ARP sender",
			frame:  ethBroadcastFromClient + "0806 0001 0800 06 04 0001 02000000000a c0000214 000000000000 c000020a" + arpPad,
			owned:  []netip.Addr{vip4},
			reason: OwnFrame,
		},
		{
			name:   "unicast to another host",
			frame:  "02000000000c 02000000000b 0806 0001 0800 06 04 0001 02000000000b c0000214 000000000000 c000020a" + arpPad,
			owned:  []netip.Addr{vip4},
			reason: NotForUs,
		},
		{
			name:   "VLAN tagged",
			frame:  ethBroadcastFromClient + "8100 0064 0806 0001 0800 06 04 0001 02000000000b c0000214 000000000000 c000020a" + arpPad,
			owned:  []netip.Addr{vip4},
			reason: NotForUs,
		},
		{
			name:   "gratuitous request of another host",
			frame:  ethBroadcastFromClient + "0806 0001 0800 06 04 0001 02000000000b c000020a 000000000000 c000020a" + arpPad,
			owned:  []netip.Addr{vip4},
			reason: Announcement,
		},
		{
			name:   "multicast sender hardware address",
			frame:  ethBroadcastFromClient + "0806 0001 0800 06 04 0001 03000000000b c0000214 000000000000 c000020a" + arpPad,
			owned:  []netip.Addr{vip4},
			reason: Invalid,
		},
		{
			name:   "not Ethernet hardware",
			frame:  ethBroadcastFromClient + "0806 0006 0800 06 04 0001 02000000000b c0000214 000000000000 c000020a" + arpPad,
			owned:  []netip.Addr{vip4},
			reason: Invalid,
		},
		{
			name:   "not IPv4 protocol",
			frame:  ethBroadcastFromClient + "0806 0001 86dd 06 04 0001 02000000000b c0000214 000000000000 c000020a" + arpPad,
			owned:  []netip.Addr{vip4},
			reason: Invalid,
		},
		{
			name:   "truncated ARP",
			frame:  ethBroadcastFromClient + "0806 0001 0800 06 04 0001 02000000000b c0000214 0000",
			owned:  []netip.Addr{vip4},
			reason: Malformed,
		},
		{
			name:   "truncated Ethernet",
			frame:  "ffffffffffff 02000000",
			owned:  []netip.Addr{vip4},
			reason: Malformed,
		},
		{
			name:   "empty",
			reason: Malformed,
		},
	}
	runReplyCases(t, ReplyARP, tests)
}

func TestGratuitousARP(t *testing.T) {
	t.Parallel()

	got := GratuitousARP(ourMAC, vip4)
	want := [][]byte{
		// RFC 5227 §3 announcement: request, sender IP = target IP, zero target MAC.
		wire(t, "ffffffffffff 02000000000a 0806 0001 0800 06 04 0001 02000000000a c000020a 000000000000 c000020a"+arpPad),
		// Reply form with target MAC = sender MAC, which Linux accepts inside locktime.
		wire(t, "ffffffffffff 02000000000a 0806 0001 0800 06 04 0002 02000000000a c000020a 02000000000a c000020a"+arpPad),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GratuitousARP (-want +got):\n%s", diff)
	}
	for i, frame := range got {
		// Our own announcements must never be answered by ourselves.
		if _, reason := ReplyARP(frame, ourMAC, ownsOnly(vip4)); reason != OwnFrame {
			t.Errorf("frame %d: ReplyARP reason = %v, want %v", i, reason, OwnFrame)
		}
	}
}

func BenchmarkReplyARP(b *testing.B) {
	for _, n := range []int{1, 10_000} {
		b.Run(fmt.Sprintf("owned=%d", n), func(b *testing.B) {
			// In-memory set only: nothing is sent for these addresses.
			addrs := make([]netip.Addr, n)
			for i := range addrs {
				addrs[i] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			}
			addrs[n-1] = vip4
			s, _ := ownedSet(nil).next(addrs, 1)
			frame := wire(b, ethBroadcastFromClient+"0806 0001 0800 06 04 0001 02000000000b c0000214 000000000000 c000020a"+arpPad)
			b.ReportAllocs()
			for b.Loop() {
				if _, r := ReplyARP(frame, ourMAC, s.owns); r != Answered {
					b.Fatalf("reason %v", r)
				}
			}
		})
	}
}
