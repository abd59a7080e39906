package announce

import (
	"bytes"
	"net"
	"net/netip"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
)

// minFrameLen is the shortest Ethernet frame without its FCS (IEEE 802.3);
// shorter frames are padded with zeros so that drivers which do not pad still
// put a valid frame on the wire.
const minFrameLen = 60

// RFC 826 field values for ARP over Ethernet carrying IPv4.
const (
	arpHardwareEthernet = 1
	arpProtocolIPv4     = uint16(ethernet.EtherTypeIPv4)
	arpHardwareLen      = 6
	arpIPv4Len          = 4
)

// ReplyARP decides how to answer one Ethernet frame received on an interface
// whose hardware address is mac. owns reports whether an address is owned and
// must be safe to call from the caller's goroutine.
//
// It returns the reply frame and Answered for an ARP request (RFC 826) that
// asks for an owned IPv4 address, and nil and the drop reason otherwise.
// ARP probes (sender IP 0.0.0.0, RFC 5227 §2.1.1) are answered so the prober
// sees the conflict; gratuitous ARPs of other hosts are not questions and are
// not answered.
func ReplyARP(frame []byte, mac net.HardwareAddr, owns func(netip.Addr) bool) ([]byte, Reason) {
	var f ethernet.Frame
	if err := f.UnmarshalBinary(frame); err != nil {
		return nil, Malformed
	}
	if bytes.Equal(f.Source, mac) {
		return nil, OwnFrame
	}
	if f.VLAN != nil || f.ServiceVLAN != nil {
		// Tagged frames belong to a VLAN interface, not to this one.
		return nil, NotForUs
	}
	if !bytes.Equal(f.Destination, ethernet.Broadcast) && !bytes.Equal(f.Destination, mac) {
		return nil, NotForUs
	}
	if f.EtherType != ethernet.EtherTypeARP {
		return nil, NotRequest
	}

	var p arp.Packet
	if err := p.UnmarshalBinary(f.Payload); err != nil {
		return nil, Malformed
	}
	if p.HardwareType != arpHardwareEthernet || p.ProtocolType != arpProtocolIPv4 ||
		p.HardwareAddrLength != arpHardwareLen || p.IPLength != arpIPv4Len {
		return nil, Invalid
	}
	if p.Operation != arp.OperationRequest {
		return nil, NotRequest
	}
	if bytes.Equal(p.SenderHardwareAddr, mac) {
		return nil, OwnFrame
	}
	if p.SenderHardwareAddr[0]&1 != 0 {
		// A group address is never a sender; answering would flood the reply.
		return nil, Invalid
	}
	if !owns(p.TargetIP) {
		return nil, NotOwned
	}
	if p.SenderIP == p.TargetIP {
		return nil, Announcement
	}

	// RFC 826, "Packet Reception": swap the sender and target fields, put our
	// hardware address in as sender, set the opcode to reply and send the
	// packet to the (new) target hardware address.
	reply := arp.Packet{
		HardwareType:       arpHardwareEthernet,
		ProtocolType:       arpProtocolIPv4,
		HardwareAddrLength: arpHardwareLen,
		IPLength:           arpIPv4Len,
		Operation:          arp.OperationReply,
		SenderHardwareAddr: mac,
		SenderIP:           p.TargetIP,
		TargetHardwareAddr: p.SenderHardwareAddr,
		TargetIP:           p.SenderIP,
	}
	return marshalARP(p.SenderHardwareAddr, mac, &reply), Answered
}

// GratuitousARP returns the two broadcast announcements of vip (an IPv4
// address) at mac that Linux honours even inside its ARP locktime (1 s by
// default): an ARP request with sender IP = target IP = vip and a zero target
// hardware address (the "ARP Announcement" of RFC 5227 §3), and an ARP reply
// whose target hardware address equals the sender's. Linux ignores a
// gratuitous reply whose target hardware address is the broadcast address
// while the entry is locked, and other stacks accept only one of the two
// forms, so both are sent.
func GratuitousARP(mac net.HardwareAddr, vip netip.Addr) [][]byte {
	request := broadcastRequest(mac, vip, vip)
	reply := request
	reply.Operation = arp.OperationReply
	reply.TargetHardwareAddr = mac
	return [][]byte{
		marshalARP(ethernet.Broadcast, mac, &request),
		marshalARP(ethernet.Broadcast, mac, &reply),
	}
}

// broadcastRequest is an ARP request from mac for target with a zero target
// hardware address: the form of RFC 5227's announcements (sender = target)
// and probes (sender 0.0.0.0).
func broadcastRequest(mac net.HardwareAddr, sender, target netip.Addr) arp.Packet {
	return arp.Packet{
		HardwareType:       arpHardwareEthernet,
		ProtocolType:       arpProtocolIPv4,
		HardwareAddrLength: arpHardwareLen,
		IPLength:           arpIPv4Len,
		Operation:          arp.OperationRequest,
		SenderHardwareAddr: mac,
		SenderIP:           sender,
		TargetHardwareAddr: make(net.HardwareAddr, arpHardwareLen),
		TargetIP:           target,
	}
}

// marshalARP wraps p in a padded Ethernet frame from src to dst.
func marshalARP(dst, src net.HardwareAddr, p *arp.Packet) []byte {
	payload, _ := p.MarshalBinary() // never fails
	return marshalFrame(dst, src, ethernet.EtherTypeARP, payload)
}

// marshalFrame builds an untagged Ethernet frame, padded to minFrameLen.
func marshalFrame(dst, src net.HardwareAddr, et ethernet.EtherType, payload []byte) []byte {
	f := ethernet.Frame{
		Destination: dst,
		Source:      src,
		EtherType:   et,
		Payload:     payload,
	}
	b, _ := f.MarshalBinary() // fails only for an S-VLAN tag without a C-VLAN tag
	if len(b) < minFrameLen {
		b = append(b, make([]byte, minFrameLen-len(b))...)
	}
	return b
}
