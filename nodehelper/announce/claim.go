package announce

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"
)

const icmpTypeNA = byte(ipv6.ICMPTypeNeighborAdvertisement)

// A Claim is another host saying on the wire that an address is at its MAC.
type Claim struct {
	Addr netip.Addr
	MAC  net.HardwareAddr
}

// ARPClaim returns the claim an Ethernet frame makes, if it is an ARP packet
// (request or reply) whose sender is another host using a real sender IP
// address: RFC 5227 §2.4 counts any such packet whose sender IP is one of
// ours, and whose sender hardware address is not ours, as a conflict. That
// covers gratuitous ARP (RFC 5227 §3), replies and replies to our own
// probes. Probes (sender IP 0.0.0.0, RFC 5227 §2.1.1) claim nothing. It reads
// fixed offsets and does not allocate, since every ARP frame passes here.
func ARPClaim(frame []byte, mac net.HardwareAddr) (Claim, bool) {
	const arpStart = 14
	if len(frame) < arpStart+28 || binary.BigEndian.Uint16(frame[12:14]) != uint16(ethernet.EtherTypeARP) {
		return Claim{}, false
	}
	p := frame[arpStart:]
	if binary.BigEndian.Uint16(p[0:2]) != arpHardwareEthernet || binary.BigEndian.Uint16(p[2:4]) != arpProtocolIPv4 ||
		p[4] != arpHardwareLen || p[5] != arpIPv4Len {
		return Claim{}, false
	}
	if op := binary.BigEndian.Uint16(p[6:8]); op != uint16(arp.OperationRequest) && op != uint16(arp.OperationReply) {
		return Claim{}, false
	}
	sha := net.HardwareAddr(p[8:14])
	spa := netip.AddrFrom4([4]byte(p[14:18]))
	if bytes.Equal(sha, mac) || bytes.Equal(frame[6:12], mac) || sha[0]&1 != 0 || spa.IsUnspecified() {
		return Claim{}, false
	}
	return Claim{Addr: spa, MAC: sha}, true
}

// NDPClaim returns the claim an Ethernet frame makes, if it is a valid
// Neighbor Advertisement (RFC 4861 §4.4, validated per §7.1.2) from another
// host: RFC 4861 §7.2.5 has a receiver take an advertisement as the
// target's link-layer address, and RFC 4862 §5.4.4 counts one for an
// address of ours as a duplicate. The MAC is the target link-layer address
// option's, else the Ethernet source.
func NDPClaim(frame []byte, mac net.HardwareAddr) (Claim, bool) {
	const icmp = 14 + ipv6HeaderLen
	if len(frame) < icmp+24 || binary.BigEndian.Uint16(frame[12:14]) != uint16(ethernet.EtherTypeIPv6) ||
		frame[14]>>4 != 6 || frame[14+6] != protocolICMPv6 || frame[icmp] != icmpTypeNA {
		return Claim{}, false
	}
	if bytes.Equal(frame[6:12], mac) {
		return Claim{}, false
	}
	end := icmp + int(binary.BigEndian.Uint16(frame[18:20]))
	if end > len(frame) || end < icmp+24 {
		return Claim{}, false
	}
	src := netip.AddrFrom16([16]byte(frame[22:38]))
	dst := netip.AddrFrom16([16]byte(frame[38:54]))
	msg := frame[icmp:end]
	if frame[14+7] != ndpHopLimit || msg[1] != 0 || checksum(src, dst, msg) != 0 {
		return Claim{}, false
	}
	m, err := ndp.ParseMessage(msg)
	if err != nil {
		return Claim{}, false
	}
	na, ok := m.(*ndp.NeighborAdvertisement)
	if !ok || na.TargetAddress.IsMulticast() || (dst.IsMulticast() && na.Solicited) {
		return Claim{}, false
	}
	from := net.HardwareAddr(frame[6:12])
	for _, o := range na.Options {
		if l, ok := o.(*ndp.LinkLayerAddress); ok && l.Direction == ndp.Target {
			from = l.Addr
			break
		}
	}
	if bytes.Equal(from, mac) || len(from) != 6 || from[0]&1 != 0 {
		return Claim{}, false
	}
	return Claim{Addr: na.TargetAddress, MAC: from}, true
}

// Outcome is what an announcer does about another MAC claiming an address
// it owns.
type Outcome int

// Possible Outcome values.
const (
	// Tolerated: the MAC is a live gossip member's. A planned handover has
	// the old and the new owner claim the address for a moment, and the
	// gossip decides; nothing is done.
	Tolerated Outcome = iota
	// Kept: this MAC is the lower, keeps the address and announces it again,
	// since the other host's announcements moved clients' caches.
	Kept
	// Withdrawn: the other MAC is the lower; this announcer stops answering
	// and announcing the address and probes it until nobody else answers.
	Withdrawn
	// Resumed: a withdrawn address's probes went unanswered (or only live
	// members answered); it is announced again.
	Resumed
	// Blocked: an address probed before its first announcement (see
	// Announcer.ProbeFirst) is in use by a host that is no live member; it
	// is not announced, and probed again later.
	Blocked
)

// String returns the name of o as used in logs, Events and metric labels.
func (o Outcome) String() string {
	switch o {
	case Tolerated:
		return "tolerated"
	case Kept:
		return "kept"
	case Withdrawn:
		return "withdrawn"
	case Resumed:
		return "resumed"
	case Blocked:
		return "blocked"
	default:
		return "unknown"
	}
}

// Decide is the rule both claimants compute without talking to each other:
// a claim from a live member's MAC is tolerated, otherwise the bytewise lower
// MAC keeps the address and the higher withdraws.
func Decide(own, other net.HardwareAddr, member bool) Outcome {
	switch c := bytes.Compare(own, other); {
	case member || c == 0:
		return Tolerated
	case c < 0:
		return Kept
	default:
		return Withdrawn
	}
}

// ARPProbe returns the RFC 5227 §2.1.1 probe for addr (an IPv4 address)
// from mac: a broadcast ARP request with sender IP 0.0.0.0 and a zero target
// hardware address, so that no host updates its cache from it; an owner
// answers it (ReplyARP does), and its reply is a Claim.
func ARPProbe(mac net.HardwareAddr, addr netip.Addr) []byte {
	p := broadcastRequest(mac, netip.IPv4Unspecified(), addr)
	return marshalARP(ethernet.Broadcast, mac, &p)
}

// DADProbe returns the duplicate address detection probe for addr (an IPv6
// address) from mac (RFC 4862 §5.4.2): a Neighbor Solicitation from the
// unspecified address to addr's solicited-node group, without a source
// link-layer address option. An owner answers it with an advertisement to
// all nodes (RFC 4861 §7.2.4), which is a Claim.
func DADProbe(mac net.HardwareAddr, addr netip.Addr) []byte {
	body, err := ndp.MarshalMessage(&ndp.NeighborSolicitation{TargetAddress: addr})
	if err != nil {
		panic("announce: failed to marshal neighbor solicitation: " + err.Error())
	}
	group := solicitedNode(addr)
	binary.BigEndian.PutUint16(body[2:4], checksum(netip.IPv6Unspecified(), group, body))
	p := make([]byte, ipv6HeaderLen, ipv6HeaderLen+len(body))
	p[0] = 6 << 4
	binary.BigEndian.PutUint16(p[4:6], uint16(len(body)))
	p[6] = protocolICMPv6
	p[7] = ndpHopLimit
	g := group.As16()
	copy(p[24:40], g[:])
	p = append(p, body...)
	dst := net.HardwareAddr{0x33, 0x33, g[12], g[13], g[14], g[15]}
	return marshalFrame(dst, mac, ethernet.EtherTypeIPv6, p)
}
