package lab

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// serviceBridge and serviceLink name a service LAN's bridge in the switch
// namespace and its interface on every host.
const (
	serviceBridge = "br1"
	serviceLink   = "eth1"
)

// ServiceLAN is a second LAN of the lab, for service addresses only: a
// bridge of its own in the switch namespace, and a cable (a veth pair) from
// it to every node and to the client, whose end is eth1. The nodes keep
// gossiping and reaching the control plane over their first link, so cutting
// a node's service cable leaves its gossip up: the layout of clusters whose
// service subnet is on a NIC of its own.
type ServiceLAN struct {
	// IPv4 and IPv6 are the LAN's subnets; host addresses follow the lab's
	// plan (node i has index i, the client 253), indexes 100-199 are free.
	IPv4, IPv6 netip.Prefix

	lab   *Lab
	hosts map[string]*Host // by host name: the hosts' views on this LAN
}

// AddServiceLAN builds a service LAN with the subnets v4 (at least a /24)
// and v6 (at least a /120) and plugs every node and the client into it. It
// is removed with the lab.
func (l *Lab) AddServiceLAN(ctx context.Context, v4, v6 netip.Prefix) (*ServiceLAN, error) {
	if !v4.Addr().Is4() || v4.Bits() > 24 || !v6.Addr().Is6() || v6.Addr().Is4In6() || v6.Bits() > 120 {
		return nil, fmt.Errorf("invalid service LAN subnets %s, %s: want an IPv4 /24 or larger and an IPv6 /120 or larger", v4, v6)
	}
	s := &ServiceLAN{IPv4: v4.Masked(), IPv6: v6.Masked(), lab: l, hosts: map[string]*Host{}}
	sw := l.Switch
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: serviceBridge, HardwareAddr: labMAC(0xfe, 0xfe)}}
	if err := sw.nl.LinkAdd(br); err != nil {
		return nil, fmt.Errorf("failed to add bridge %s in %s: %w", serviceBridge, sw.Netns, err)
	}
	if err := sw.nl.LinkSetUp(br); err != nil {
		return nil, fmt.Errorf("failed to set bridge %s up in %s: %w", serviceBridge, sw.Netns, err)
	}
	plug := func(h *Host, index int, mac net.HardwareAddr) error {
		v := *h // the same namespace, seen through its service link
		v.Link, v.MAC, v.port = serviceLink, mac, h.Name+"-s"
		v.IPv4, v.IPv6 = HostPrefix(s.IPv4, index), HostPrefix(s.IPv6, index)
		if err := l.plugInto(serviceBridge, &v); err != nil {
			return err
		}
		s.hosts[h.Name] = &v
		return nil
	}
	for i, n := range l.Nodes {
		if err := plug(n, i+1, labMAC(2, byte(i+1))); err != nil {
			return nil, err
		}
	}
	if err := plug(l.Client, clientIndex, labMAC(3, 0)); err != nil {
		return nil, err
	}
	return s, nil
}

// On returns h as seen on the service LAN: the same namespace, with Link,
// MAC and addresses those of its service link, so that SetLinkUp cuts or
// heals its service cable only, and the probes and dials of the tests go
// out on it. It returns nil for a host not plugged into the LAN.
func (s *ServiceLAN) On(h *Host) *Host { return s.hosts[h.Name] }
