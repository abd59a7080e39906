package announce

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/bpf"
)

// frameMeta is what the kernel knows of a received frame besides its bytes:
// what the filters' extension loads read.
type frameMeta struct {
	pktType, ifindex int
	vlanTag          bool
}

// runFilter interprets the subset of classic BPF the filters use, with the
// extensions golang.org/x/net/bpf's VM lacks. Like the kernel, a load past
// the end of the frame drops it.
func runFilter(t *testing.T, prog []bpf.Instruction, frame []byte, m frameMeta) uint32 {
	t.Helper()
	if _, err := bpf.Assemble(prog); err != nil {
		t.Fatalf("filter does not assemble: %v", err)
	}
	var a uint32
	for pc := 0; pc < len(prog); pc++ {
		switch ins := prog[pc].(type) {
		case bpf.LoadAbsolute:
			end := int(ins.Off) + ins.Size
			if end > len(frame) {
				return 0
			}
			switch ins.Size {
			case 1:
				a = uint32(frame[ins.Off])
			case 2:
				a = uint32(binary.BigEndian.Uint16(frame[ins.Off:end]))
			case 4:
				a = binary.BigEndian.Uint32(frame[ins.Off:end])
			}
		case bpf.LoadExtension:
			switch ins.Num {
			case bpf.ExtType:
				a = uint32(m.pktType)
			case bpf.ExtInterfaceIndex:
				a = uint32(m.ifindex)
			case bpf.ExtVLANTagPresent:
				a = 0
				if m.vlanTag {
					a = 1
				}
			default:
				t.Fatalf("extension %v not interpreted", ins.Num)
			}
		case bpf.JumpIf:
			var ok bool
			switch ins.Cond {
			case bpf.JumpEqual:
				ok = a == ins.Val
			case bpf.JumpNotEqual:
				ok = a != ins.Val
			case bpf.JumpGreaterThan:
				ok = a > ins.Val
			default:
				t.Fatalf("condition %v not interpreted", ins.Cond)
			}
			if ok {
				pc += int(ins.SkipTrue)
			} else {
				pc += int(ins.SkipFalse)
			}
		case bpf.RetConstant:
			return ins.Val
		default:
			t.Fatalf("instruction %#v not interpreted", ins)
		}
	}
	t.Fatal("filter ran off its end")
	return 0
}

func TestFilters(t *testing.T) {
	t.Parallel()
	const ifindex = 7
	arpFrame := func(op string) string {
		return ethBroadcastFromClient + "0806 0001 0800 06 04 " + op + " 02000000000b c0000214 000000000000 c000020a" + arpPad
	}
	here := frameMeta{pktType: packetBroadcast, ifindex: ifindex}
	tests := []struct {
		name     string
		frame    string
		meta     frameMeta
		arp, ndp bool // passed by the ARP and the NDP filter
	}{
		{name: "ARP request", frame: arpFrame("0001"), meta: here, arp: true},
		{name: "ARP reply", frame: arpFrame("0002"), meta: frameMeta{pktType: packetHost, ifindex: ifindex}, arp: true},
		{name: "gratuitous ARP request", frame: ethBroadcastFromClient + "0806 0001 0800 06 04 0001 02000000000b c000020a 000000000000 c000020a" + arpPad, meta: here, arp: true},
		{name: "gratuitous ARP reply", frame: ethBroadcastFromClient + "0806 0001 0800 06 04 0002 02000000000b c000020a 02000000000b c000020a" + arpPad, meta: here, arp: true},
		{name: "RARP-style operation 3", frame: arpFrame("0003"), meta: here},
		{name: "IPv4 frame", frame: ethBroadcastFromClient + "0800 4500001c000000004011000000000000000000000000000000000000" + arpPad, meta: here},
		{name: "neighbor solicitation", frame: nsMulticast, meta: frameMeta{pktType: packetMulticast, ifindex: ifindex}, ndp: true},
		{name: "unicast NUD probe", frame: nsUnicast, meta: frameMeta{pktType: packetHost, ifindex: ifindex}, ndp: true},
		{name: "DAD probe", frame: nsDAD, meta: frameMeta{pktType: packetMulticast, ifindex: ifindex}, ndp: true},
		{name: "solicited advertisement", frame: naSolicited, meta: frameMeta{pktType: packetHost, ifindex: ifindex}, ndp: true},
		{name: "advertisement to all nodes", frame: naAllNodes, meta: frameMeta{pktType: packetMulticast, ifindex: ifindex}, ndp: true},
		{name: "router solicitation", frame: "333300000002 02000000000b 86dd 60000000 0008 3a ff 20010db8000000000000000000000020 ff020000000000000000000000000002 8500 0000 00000000", meta: frameMeta{pktType: packetMulticast, ifindex: ifindex}},
		{name: "UDP over IPv6", frame: "3333ff000010 02000000000b 86dd 60000000 0008 11 ff 20010db8000000000000000000000020 ff0200000000000000000001ff000010 0000000000080000", meta: frameMeta{pktType: packetMulticast, ifindex: ifindex}},
		{name: "solicitation behind a hop-by-hop header", frame: "3333ff000010 02000000000b 86dd 60000000 0020 00 ff 20010db8000000000000000000000020 ff0200000000000000000001ff000010 87000000000000000000000000000000", meta: frameMeta{pktType: packetMulticast, ifindex: ifindex}},
		{name: "our own request (outgoing)", frame: arpFrame("0001"), meta: frameMeta{pktType: packetOutgoing, ifindex: ifindex}},
		{name: "our own advertisement (outgoing)", frame: naAllNodes, meta: frameMeta{pktType: packetOutgoing, ifindex: ifindex}},
		{name: "ARP reply to another host", frame: arpFrame("0002"), meta: frameMeta{pktType: packetOtherHost, ifindex: ifindex}},
		{name: "advertisement to another host", frame: naSolicited, meta: frameMeta{pktType: packetOtherHost, ifindex: ifindex}},
		{name: "ARP request on another interface", frame: arpFrame("0001"), meta: frameMeta{pktType: packetBroadcast, ifindex: ifindex + 1}},
		{name: "solicitation on another interface", frame: nsMulticast, meta: frameMeta{pktType: packetMulticast, ifindex: ifindex + 1}},
		{name: "ARP request with a stripped VLAN tag", frame: arpFrame("0001"), meta: frameMeta{pktType: packetBroadcast, ifindex: ifindex, vlanTag: true}},
		{name: "solicitation with a stripped VLAN tag", frame: nsMulticast, meta: frameMeta{pktType: packetMulticast, ifindex: ifindex, vlanTag: true}},
		{name: "truncated", frame: "ffffffffffff 02000000000b 08", meta: here},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			frame := wire(t, tt.frame)
			got := fmt.Sprint(runFilter(t, arpFilter(ifindex), frame, tt.meta) != 0, runFilter(t, ndpFilter(ifindex), frame, tt.meta) != 0)
			if diff := cmp.Diff(fmt.Sprint(tt.arp, tt.ndp), got); diff != "" {
				t.Errorf("passed by the ARP, NDP filters (-want +got):\n%s", diff)
			}
		})
	}
}
