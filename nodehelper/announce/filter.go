package announce

import (
	"github.com/mdlayher/ethernet"
	"golang.org/x/net/bpf"
)

// Packet types of a received frame, as the kernel's SKF_AD_PKTTYPE
// extension (bpf.ExtType) loads them (linux/if_packet.h).
const (
	packetHost      = 0 // to our unicast MAC
	packetBroadcast = 1
	packetMulticast = 2
	packetOtherHost = 3 // to another host's MAC (promiscuous mode, a flooding bridge)
	packetOutgoing  = 4 // sent by this host
)

// filterAccept is the snapshot length of an accepted frame.
const filterAccept = 0x40000

// Classic BPF filters over whole Ethernet frames, so that the sockets only
// wake for frames the announcer reads: ARP requests (to answer) and replies
// (claims, RFC 5227 §2.4), and ICMPv6 Neighbor Solicitations (to answer) and
// Advertisements (claims, RFC 4861 §7.2.5) without extension headers. Both
// drop this host's own frames (PACKET_OUTGOING; PACKET_IGNORE_OUTGOING does
// the same where the kernel has it), frames to other hosts' MACs
// (PACKET_OTHERHOST), frames received on another interface than ifindex,
// and frames whose VLAN tag the NIC stripped (they belong to a VLAN
// interface). The NDP socket is bound to every IPv6 frame otherwise.

// arpFilter returns the filter of the ARP socket on interface ifindex.
func arpFilter(ifindex int) []bpf.Instruction {
	return append(frameFilter(ifindex),
		bpf.LoadAbsolute{Off: 12, Size: 2}, // EtherType
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(ethernet.EtherTypeARP), SkipTrue: 4},
		bpf.LoadAbsolute{Off: 20, Size: 2},                      // ARP operation
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 1, SkipTrue: 1},    // request
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 2, SkipTrue: 1}, // reply
		bpf.RetConstant{Val: filterAccept},
		bpf.RetConstant{Val: 0},
	)
}

// ndpFilter returns the filter of the NDP socket on interface ifindex.
func ndpFilter(ifindex int) []bpf.Instruction {
	return append(frameFilter(ifindex),
		bpf.LoadAbsolute{Off: 12, Size: 2}, // EtherType
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(ethernet.EtherTypeIPv6), SkipTrue: 6},
		bpf.LoadAbsolute{Off: 14 + 6, Size: 1}, // IPv6 next header
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: protocolICMPv6, SkipTrue: 4},
		bpf.LoadAbsolute{Off: 14 + 40, Size: 1}, // ICMPv6 type
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(icmpTypeNS), SkipTrue: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(icmpTypeNA), SkipTrue: 1},
		bpf.RetConstant{Val: filterAccept},
		bpf.RetConstant{Val: 0},
	)
}

// frameFilter is the common head of both filters: it returns 0 for frames
// that are not received on ifindex for this host, and falls through
// otherwise.
func frameFilter(ifindex int) []bpf.Instruction {
	return []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: packetMulticast, SkipFalse: 1},
		bpf.RetConstant{Val: 0},
		bpf.LoadExtension{Num: bpf.ExtInterfaceIndex},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(ifindex), SkipTrue: 1},
		bpf.RetConstant{Val: 0},
		bpf.LoadExtension{Num: bpf.ExtVLANTagPresent},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipTrue: 1},
		bpf.RetConstant{Val: 0},
	}
}
