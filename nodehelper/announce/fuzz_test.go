package announce

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"

	"github.com/mdlayher/ndp"
)

// ownsSome owns the addresses whose last byte is even (vip4 and vip6
// among them), so fuzzing reaches the reply builders and the not-owned path
// alike, and the invariants can check that only owned targets are answered.
func ownsSome(a netip.Addr) bool {
	b := a.AsSlice()
	return len(b) > 0 && b[len(b)-1]%2 == 0
}

func FuzzReplyARP(f *testing.F) {
	f.Add(wire(f, ethBroadcastFromClient+"0806 0001 0800 06 04 0001 02000000000b c0000214 000000000000 c000020a"+arpPad))
	f.Add(wire(f, ethBroadcastFromClient+"8100 0064 0806 0001 0800 06 04 0001 02000000000b c0000214 000000000000 c000020a"))
	f.Add(wire(f, ethBroadcastFromClient+"0806 0001 0800 ff ff 0001 02000000000b"))
	// Not owned (odd last byte), a probe, and another host's claims.
	f.Add(wire(f, ethBroadcastFromClient+"0806 0001 0800 06 04 0001 02000000000b c0000214 000000000000 c000020b"+arpPad))
	f.Add(ARPProbe(higherMAC, vip4))
	for _, g := range GratuitousARP(higherMAC, vip4) {
		f.Add(g)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		if c, ok := ARPClaim(frame, ourMAC); ok && (bytes.Equal(c.MAC, ourMAC) || !c.Addr.Is4() || c.Addr.IsUnspecified()) {
			t.Fatalf("bad claim %v at %v", c.Addr, c.MAC)
		}
		reply, reason := ReplyARP(frame, ourMAC, ownsSome)
		if reason == NotOwned && ownsSome(netip.AddrFrom4([4]byte(frame[38:42]))) {
			t.Fatalf("owned target %x dropped as not owned", frame[38:42])
		}
		if reason != Answered {
			if reply != nil {
				t.Fatalf("reply with reason %v", reason)
			}
			return
		}
		if len(reply) != minFrameLen || !bytes.Equal(reply[6:12], ourMAC) ||
			binary.BigEndian.Uint16(reply[20:22]) != 2 || !bytes.Equal(reply[22:28], ourMAC) {
			t.Fatalf("bad reply %x", reply)
		}
		if !ownsSome(netip.AddrFrom4([4]byte(reply[28:32]))) {
			t.Fatalf("answered for %x, which is not owned", reply[28:32])
		}
		if _, r := ReplyARP(reply, ourMAC, ownsSome); r != OwnFrame {
			t.Fatalf("own reply not recognised: %v", r)
		}
	})
}

func FuzzReplyNDP(f *testing.F) {
	for _, s := range []string{nsMulticast, nsUnicast, nsUnicastNoSLL, nsDAD, naSolicited} {
		f.Add(wire(f, s))
	}
	// Not owned (odd last byte), and another host's claims.
	f.Add(DADProbe(higherMAC, netip.MustParseAddr("2001:db8::11")))
	f.Add(UnsolicitedNA(higherMAC, vip6))
	f.Add(UnsolicitedNA(higherMAC, netip.MustParseAddr("2001:db8::11")))
	f.Fuzz(func(t *testing.T, frame []byte) {
		checkReplyNDP(t, frame)
		// Most mutations break the checksum; also try the frame with its
		// checksum fixed, to reach the message and option parsers.
		const icmp = 14 + ipv6HeaderLen
		if len(frame) >= icmp+icmpHeaderMinLen {
			fixed := slices.Clone(frame)
			end := min(len(fixed), icmp+int(binary.BigEndian.Uint16(fixed[18:20])))
			if end >= icmp+icmpHeaderMinLen {
				src, _ := netip.AddrFromSlice(fixed[22:38])
				dst, _ := netip.AddrFromSlice(fixed[38:54])
				fixed[icmp+2], fixed[icmp+3] = 0, 0
				binary.BigEndian.PutUint16(fixed[icmp+2:], checksum(src, dst, fixed[icmp:end]))
				checkReplyNDP(t, fixed)
			}
		}
	})
}

// checkReplyNDP checks the invariants of ReplyNDP on one frame.
func checkReplyNDP(t *testing.T, frame []byte) {
	t.Helper()
	if c, ok := NDPClaim(frame, ourMAC); ok && (bytes.Equal(c.MAC, ourMAC) || !c.Addr.Is6() || c.Addr.IsMulticast()) {
		t.Fatalf("bad claim %v at %v", c.Addr, c.MAC)
	}
	reply, reason := ReplyNDP(frame, ourMAC, ownsSome)
	if reason != Answered {
		if reply != nil {
			t.Fatalf("reply with reason %v", reason)
		}
		return
	}
	if len(reply) < 14+40+32 || !bytes.Equal(reply[6:12], ourMAC) || reply[14+7] != 255 {
		t.Fatalf("bad reply %x", reply)
	}
	src, _ := netip.AddrFromSlice(reply[14+8 : 14+24])
	dst, _ := netip.AddrFromSlice(reply[14+24 : 14+40])
	body := reply[14+40:]
	if checksum(src, dst, body) != 0 {
		t.Fatalf("bad checksum in %x", reply)
	}
	m, err := ndp.ParseMessage(body)
	if err != nil {
		t.Fatalf("reply does not parse: %v", err)
	}
	if na, ok := m.(*ndp.NeighborAdvertisement); !ok || !na.Override || na.TargetAddress != src || !ownsSome(na.TargetAddress) {
		t.Fatalf("bad advertisement %#v", m)
	}
	if _, r := ReplyNDP(reply, ourMAC, ownsSome); r != OwnFrame {
		t.Fatalf("own reply not recognised: %v", r)
	}
}
