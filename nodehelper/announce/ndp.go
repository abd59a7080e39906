package announce

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"

	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"
)

// IPv6 and ICMPv6 constants (RFC 8200, RFC 4443, RFC 4861).
const (
	ipv6HeaderLen    = 40
	protocolICMPv6   = 58
	ndpHopLimit      = 255 // RFC 4861 §7.1.1: a hop limit of 255 proves the sender is on-link
	icmpTypeNS       = byte(ipv6.ICMPTypeNeighborSolicitation)
	icmpHeaderMinLen = 4
)

var (
	// allNodes is the link-local all-nodes group, destination of unsolicited
	// advertisements (RFC 4861 §7.2.6) and of answers to DAD probes (§7.2.4).
	allNodes = netip.MustParseAddr("ff02::1")
	// allNodesMAC is allNodes mapped to Ethernet (RFC 2464 §7).
	allNodesMAC = net.HardwareAddr{0x33, 0x33, 0x00, 0x00, 0x00, 0x01}
)

// ReplyNDP decides how to answer one Ethernet frame received on an interface
// whose hardware address is mac. owns reports whether an address is owned.
//
// It returns the reply frame and Answered for a valid Neighbor Solicitation
// (RFC 4861 §4.3, validated per §7.1.1) for an owned target, and nil and the
// drop reason otherwise. Both the multicast solicitations of address
// resolution (to the solicited-node group) and the unicast ones of
// neighbour unreachability detection (to the target itself, at our MAC) are
// answered; the target need not be an address of any local interface.
// Packets with IPv6 extension headers are dropped: NDP senders do not use
// them, and walking them is attack surface.
//
// The reply is a Neighbor Advertisement (RFC 4861 §7.2.4) with Override=1 so
// that a client moves to us from a previous owner (an advertisement with
// Override=0 never replaces a cached address), Solicited=1 unless the
// solicitation was a DAD probe from the unspecified address (then the reply
// goes to all-nodes with Solicited=0), and a target link-layer address
// option. Its source address is the target address itself: §7.2.4 asks for
// "an address assigned to the interface"; the service address is assigned
// to this node for as long as it owns it, it exists even when the interface
// has no other usable address, and answering from the target is what other
// address-takeover implementations (keepalived's VRRP) do.
func ReplyNDP(frame []byte, mac net.HardwareAddr, owns func(netip.Addr) bool) ([]byte, Reason) {
	var f ethernet.Frame
	if err := f.UnmarshalBinary(frame); err != nil {
		return nil, Malformed
	}
	if bytes.Equal(f.Source, mac) {
		return nil, OwnFrame
	}
	if f.VLAN != nil || f.ServiceVLAN != nil {
		return nil, NotForUs
	}
	multicastMAC := f.Destination[0]&1 != 0
	if !multicastMAC && !bytes.Equal(f.Destination, mac) {
		return nil, NotForUs
	}
	if f.EtherType != ethernet.EtherTypeIPv6 {
		return nil, NotRequest
	}

	h, err := ipv6.ParseHeader(f.Payload)
	if err != nil || h.Version != 6 {
		return nil, Malformed
	}
	if h.NextHeader != protocolICMPv6 {
		if isExtensionHeader(h.NextHeader) {
			return nil, ExtensionHeader
		}
		return nil, NotRequest
	}
	end := ipv6HeaderLen + h.PayloadLen
	if end > len(f.Payload) {
		return nil, Malformed
	}
	msg := f.Payload[ipv6HeaderLen:end]
	if len(msg) < icmpHeaderMinLen {
		return nil, Malformed
	}
	if msg[0] != icmpTypeNS {
		return nil, NotRequest
	}

	src, _ := netip.AddrFromSlice(h.Src)
	dst, _ := netip.AddrFromSlice(h.Dst)
	// RFC 4861 §7.1.1 validity checks.
	if h.HopLimit != ndpHopLimit || msg[1] != 0 || checksum(src, dst, msg) != 0 {
		return nil, Invalid
	}
	m, err := ndp.ParseMessage(msg)
	if err != nil {
		return nil, Malformed
	}
	ns, ok := m.(*ndp.NeighborSolicitation)
	if !ok {
		return nil, NotRequest
	}
	target := ns.TargetAddress
	if target.IsMulticast() || src.IsMulticast() {
		return nil, Invalid
	}
	sourceLL := sourceLinkLayer(ns.Options)
	switch {
	case src.IsUnspecified():
		// DAD probe: must go to the solicited-node group, without a source
		// link-layer address option.
		if dst != solicitedNode(target) || sourceLL != nil {
			return nil, Invalid
		}
	case dst == target:
		// Unicast NUD probe (RFC 4861 §7.3.1): must reach our MAC.
		if multicastMAC {
			return nil, Invalid
		}
	case dst != solicitedNode(target):
		return nil, Invalid
	}
	if !owns(target) {
		return nil, NotOwned
	}

	na := &ndp.NeighborAdvertisement{
		Solicited:     true,
		Override:      true,
		TargetAddress: target,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: mac}},
	}
	replyDst, replyMAC := src, sourceLL
	if replyMAC == nil {
		replyMAC = f.Source
	}
	if src.IsUnspecified() {
		na.Solicited = false
		replyDst, replyMAC = allNodes, allNodesMAC
	} else if replyMAC[0]&1 != 0 {
		return nil, Invalid
	}
	return marshalNA(replyMAC, mac, target, replyDst, na), Answered
}

// UnsolicitedNA returns the unsolicited Neighbor Advertisement (RFC 4861
// §7.2.6) announcing vip (an IPv6 address) at mac to all nodes: Override=1 so
// that it replaces the address clients cached for a previous owner,
// Solicited=0, and a target link-layer address option.
func UnsolicitedNA(mac net.HardwareAddr, vip netip.Addr) []byte {
	na := &ndp.NeighborAdvertisement{
		Override:      true,
		TargetAddress: vip,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: mac}},
	}
	return marshalNA(allNodesMAC, mac, vip, allNodes, na)
}

// marshalNA builds the whole Ethernet + IPv6 + ICMPv6 frame carrying na.
func marshalNA(dstMAC, srcMAC net.HardwareAddr, src, dst netip.Addr, na *ndp.NeighborAdvertisement) []byte {
	body, err := ndp.MarshalMessage(na)
	if err != nil {
		// Only an invalid target or option, which callers never pass.
		panic("announce: failed to marshal neighbor advertisement: " + err.Error())
	}
	binary.BigEndian.PutUint16(body[2:4], checksum(src, dst, body))

	p := make([]byte, ipv6HeaderLen, ipv6HeaderLen+len(body))
	p[0] = 6 << 4 // version 6, traffic class 0, flow label 0
	binary.BigEndian.PutUint16(p[4:6], uint16(len(body)))
	p[6] = protocolICMPv6
	p[7] = ndpHopLimit
	s, d := src.As16(), dst.As16()
	copy(p[8:24], s[:])
	copy(p[24:40], d[:])
	p = append(p, body...)
	return marshalFrame(dstMAC, srcMAC, ethernet.EtherTypeIPv6, p)
}

// checksum returns the ICMPv6 checksum (RFC 4443 §2.3) of msg sent from src
// to dst. Over a message whose checksum field is filled in, it returns zero
// when that checksum is correct.
func checksum(src, dst netip.Addr, msg []byte) uint16 {
	s, d := src.As16(), dst.As16()
	sum := uint32(protocolICMPv6) + uint32(len(msg))&0xffff + uint32(len(msg))>>16
	for i := 0; i < 16; i += 2 {
		sum += uint32(s[i])<<8 | uint32(s[i+1])
		sum += uint32(d[i])<<8 | uint32(d[i+1])
	}
	for i := 0; i+1 < len(msg); i += 2 {
		sum += uint32(msg[i])<<8 | uint32(msg[i+1])
	}
	if len(msg)%2 == 1 {
		sum += uint32(msg[len(msg)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// solicitedNode returns the solicited-node multicast group of a (RFC 4291
// §2.7.1): ff02::1:ff00:0/104 plus the low 24 bits of a.
func solicitedNode(a netip.Addr) netip.Addr {
	b := a.As16()
	return netip.AddrFrom16([16]byte{0xff, 0x02, 10: 0, 11: 0x01, 12: 0xff, 13: b[13], 14: b[14], 15: b[15]})
}

// sourceLinkLayer returns the address of the first source link-layer address
// option, or nil.
func sourceLinkLayer(opts []ndp.Option) net.HardwareAddr {
	for _, o := range opts {
		if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Source {
			return lla.Addr
		}
	}
	return nil
}

// isExtensionHeader reports whether next is an IPv6 extension header type
// (RFC 8200 §4, IANA "IPv6 Extension Header Types").
func isExtensionHeader(next int) bool {
	switch next {
	case 0, 43, 44, 50, 51, 60, 135, 139, 140, 253, 254:
		return true
	}
	return false
}
