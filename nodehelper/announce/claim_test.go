package announce

import (
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// MACs either side of ourMAC.
var (
	lowerMAC  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x09}
	higherMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b} // the client's in the tables
)

// claimCase is one row of an ARPClaim or NDPClaim table.
type claimCase struct {
	name  string
	frame []byte
	want  *Claim
}

func runClaimCases(t *testing.T, claim claimFunc, tests []claimCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := claim(tt.frame, ourMAC)
			var gotp *Claim
			if ok {
				gotp = &got
			}
			if diff := cmp.Diff(tt.want, gotp, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("claim (-want +got):\n%s", diff)
			}
		})
	}
}

func TestARPClaim(t *testing.T) {
	t.Parallel()
	client := netip.MustParseAddr("192.0.2.20")
	garp := GratuitousARP(higherMAC, vip4)
	tests := []claimCase{
		{name: "gratuitous request", frame: garp[0], want: &Claim{Addr: vip4, MAC: higherMAC}},
		{name: "gratuitous reply", frame: garp[1], want: &Claim{Addr: vip4, MAC: higherMAC}},
		{
			name:  "reply to our probe",
			frame: wire(t, "02000000000a 02000000000b 0806 0001 0800 06 04 0002 02000000000b c000020a 02000000000a 00000000"+arpPad),
			want:  &Claim{Addr: vip4, MAC: higherMAC},
		},
		{
			// Any request names its sender; a client's claims its own address.
			name:  "ordinary request claims the sender's address",
			frame: wire(t, ethBroadcastFromClient+"0806 0001 0800 06 04 0001 02000000000b c0000214 000000000000 c000020a"+arpPad),
			want:  &Claim{Addr: client, MAC: higherMAC},
		},
		{name: "probe claims nothing", frame: ARPProbe(higherMAC, vip4)},
		{name: "our own announcement", frame: GratuitousARP(ourMAC, vip4)[0]},
		{
			name:  "our MAC as ARP sender behind another Ethernet source",
			frame: wire(t, ethBroadcastFromClient+"0806 0001 0800 06 04 0002 02000000000a c000020a 02000000000a c000020a"+arpPad),
		},
		{
			name:  "multicast sender hardware address",
			frame: wire(t, ethBroadcastFromClient+"0806 0001 0800 06 04 0002 03000000000b c000020a 03000000000b c000020a"+arpPad),
		},
		{
			name:  "operation 3",
			frame: wire(t, ethBroadcastFromClient+"0806 0001 0800 06 04 0003 02000000000b c000020a 02000000000b c000020a"+arpPad),
		},
		{
			name:  "not IPv4 protocol",
			frame: wire(t, ethBroadcastFromClient+"0806 0001 86dd 06 04 0002 02000000000b c000020a 02000000000b c000020a"+arpPad),
		},
		{name: "IPv4 frame", frame: wire(t, ethBroadcastFromClient+"0800 4500001c000000004011000000000000000000000000000000000000"+arpPad)},
		{name: "truncated", frame: wire(t, ethBroadcastFromClient+"0806 0001 0800 06 04 0002 02000000000b c000")},
		{name: "empty"},
	}
	runClaimCases(t, ARPClaim, tests)
}

func TestNDPClaim(t *testing.T) {
	t.Parallel()
	// naSolicited, to another host, without its checksum fixed.
	badSum := wire(t, "02000000000b 02000000000c 86dd"+
		"60000000 0020 3a ff 20010db8000000000000000000000010 20010db8000000000000000000000020"+
		"8800 0000 60000000 20010db8000000000000000000000010 0201 02000000000c")
	tests := []claimCase{
		{name: "unsolicited advertisement", frame: UnsolicitedNA(higherMAC, vip6), want: &Claim{Addr: vip6, MAC: higherMAC}},
		{name: "lower MAC", frame: UnsolicitedNA(lowerMAC, vip6), want: &Claim{Addr: vip6, MAC: lowerMAC}},
		{name: "our own advertisement", frame: wire(t, naAllNodes)},
		{name: "our own solicited advertisement", frame: wire(t, naSolicited)},
		{name: "bad checksum", frame: badSum},
		{name: "solicitation", frame: wire(t, nsMulticast)},
		{name: "DAD probe", frame: DADProbe(higherMAC, vip6)},
		{name: "truncated", frame: UnsolicitedNA(higherMAC, vip6)[:60]},
		{name: "empty"},
	}
	// The target link-layer option names the MAC, not the Ethernet source.
	relayed := UnsolicitedNA(higherMAC, vip6)
	copy(relayed[6:12], lowerMAC)
	tests = append(tests, claimCase{name: "MAC from the target link-layer option", frame: relayed, want: &Claim{Addr: vip6, MAC: higherMAC}})
	// Hop limit below 255: not from the link (RFC 4861 §7.1.2).
	routed := UnsolicitedNA(higherMAC, vip6)
	routed[14+7] = 64
	tests = append(tests, claimCase{name: "hop limit below 255", frame: routed})
	runClaimCases(t, NDPClaim, tests)
}

func TestDecide(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		other  net.HardwareAddr
		member bool
		want   Outcome
	}{
		{name: "lower MAC of a stranger", other: lowerMAC, want: Withdrawn},
		{name: "higher MAC of a stranger", other: higherMAC, want: Kept},
		{name: "lower MAC of a member", other: lowerMAC, member: true, want: Tolerated},
		{name: "higher MAC of a member", other: higherMAC, member: true, want: Tolerated},
		{name: "our own MAC", other: ourMAC, want: Tolerated},
		{name: "bytewise, not by the last byte", other: net.HardwareAddr{0x01, 0xff, 0xff, 0xff, 0xff, 0xff}, want: Withdrawn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want.String(), Decide(ourMAC, tt.other, tt.member).String()); diff != "" {
				t.Errorf("Decide (-want +got):\n%s", diff)
			}
			// Both sides agree: exactly one of two strangers keeps it.
			if !tt.member && !slicesEqual(tt.other, ourMAC) {
				mine, theirs := Decide(ourMAC, tt.other, false), Decide(tt.other, ourMAC, false)
				if (mine == Kept) == (theirs == Kept) {
					t.Errorf("both sides decided %v and %v", mine, theirs)
				}
			}
		})
	}
}

func slicesEqual(a, b net.HardwareAddr) bool { return a.String() == b.String() }

func TestProbes(t *testing.T) {
	t.Parallel()
	client := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
	// RFC 5227 §2.1.1: sender IP 0.0.0.0, zero target hardware address.
	wantARP := wire(t, ethBroadcastFromClient+"0806 0001 0800 06 04 0001 02000000000b 00000000 000000000000 c000020a"+arpPad)
	if diff := cmp.Diff(wantARP, ARPProbe(client, vip4)); diff != "" {
		t.Errorf("ARPProbe (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wire(t, nsDAD), DADProbe(client, vip6)); diff != "" {
		t.Errorf("DADProbe (-want +got):\n%s", diff)
	}
	// An owner answers both, and its answers are claims.
	for _, p := range []struct {
		probe []byte
		reply replyFunc
		claim claimFunc
		addr  netip.Addr
	}{{ARPProbe(client, vip4), ReplyARP, ARPClaim, vip4}, {DADProbe(client, vip6), ReplyNDP, NDPClaim, vip6}} {
		out, why := p.reply(p.probe, ourMAC, ownsOnly(p.addr))
		if why != Answered {
			t.Fatalf("probe for %v not answered: %v", p.addr, why)
		}
		c, ok := p.claim(out, client)
		if !ok || c.Addr != p.addr || c.MAC.String() != ourMAC.String() {
			t.Errorf("answer to the probe for %v claims %v, %v; want %v at %v", p.addr, c, ok, p.addr, ourMAC)
		}
	}
}
