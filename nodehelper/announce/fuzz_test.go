package announce

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"

	"github.com/mdlayher/ndp"
)

// ownsAll makes every target owned, so fuzzing reaches the reply builders.
func ownsAll(netip.Addr) bool { return true }

func FuzzReplyARP(f *testing.F) {
	f.Add(wire(f, ethBroadcastFromClient+"0806 0001 0800 06 04 0001 02000000000b c0000214 000000000000 c000020a"+arpPad))
	f.Add(wire(f, ethBroadcastFromClient+"8100 0064 0806 0001 0800 06 04 0001 02000000000b c0000214 000000000000 c000020a"))
	f.Add(wire(f, ethBroadcastFromClient+"0806 0001 0800 ff ff 0001 02000000000b"))
	f.Fuzz(func(t *testing.T, frame []byte) {
		reply, reason := ReplyARP(frame, ourMAC, ownsAll)
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
		if _, r := ReplyARP(reply, ourMAC, ownsAll); r != OwnFrame {
			t.Fatalf("own reply not recognised: %v", r)
		}
	})
}

func FuzzReplyNDP(f *testing.F) {
	for _, s := range []string{nsMulticast, nsUnicast, nsUnicastNoSLL, nsDAD, naSolicited} {
		f.Add(wire(f, s))
	}
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
	reply, reason := ReplyNDP(frame, ourMAC, ownsAll)
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
	if na, ok := m.(*ndp.NeighborAdvertisement); !ok || !na.Override || na.TargetAddress != src {
		t.Fatalf("bad advertisement %#v", m)
	}
	if _, r := ReplyNDP(reply, ourMAC, ownsAll); r != OwnFrame {
		t.Fatalf("own reply not recognised: %v", r)
	}
}
