package contract

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode"
)

// Announcement is what the owner of a Service's addresses says in its
// nodeAssigned Event and its True barelb.io/Announced condition; barelbctl
// status reads it back. Its text form is
//
//	announcing 198.51.100.3 on eth0,eth1, 2001:db8::3 on eth0 from node n2
//
// followed, when some of the Service's addresses are in no layer2 pool, by
//
//	; 192.0.2.1 not announced: in no layer2 pool of the configuration
type Announcement struct {
	// Node announces the addresses.
	Node string
	// Addresses are the announced addresses, in the owner's order.
	Addresses []AnnouncedAddress
	// NotInPool are the Service's other addresses, in no layer2 pool and so
	// not announced; nil when there are none.
	NotInPool []netip.Addr
}

// AnnouncedAddress is one announced address and the interfaces it is
// answered on.
type AnnouncedAddress struct {
	Addr netip.Addr
	// Interfaces are the names of the interfaces, nil when the message names none.
	Interfaces []string
}

const (
	announcingPrefix = "announcing "
	fromNode         = " from node "
	notInPoolSuffix  = " not announced: in no layer2 pool of the configuration"
)

// FormatAnnouncement returns a's text. [ParseAnnouncement] reads it back
// into a when a is what ParseAnnouncement returns: at least one address, no
// address with a zone, a node name and interface names that are not empty and
// hold no space, ',' or ';' (Kubernetes node names never do; Linux interface
// names may, and would not read back).
func FormatAnnouncement(a Announcement) string {
	var b strings.Builder
	b.WriteString(announcingPrefix)
	for i, aa := range a.Addresses {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(aa.Addr.String())
		if len(aa.Interfaces) > 0 {
			b.WriteString(" on ")
			b.WriteString(strings.Join(aa.Interfaces, ","))
		}
	}
	b.WriteString(fromNode)
	b.WriteString(a.Node)
	if len(a.NotInPool) > 0 {
		b.WriteString("; ")
		b.WriteString(NotInPoolMessage(a.NotInPool))
	}
	return b.String()
}

// NotInPoolMessage says that addrs are not announced because they are in no
// layer2 pool of the configuration: the AddressNotInPool Event's and
// condition's message, and the tail of an announcement that leaves them out.
func NotInPoolMessage(addrs []netip.Addr) string {
	return joinAddrs(addrs) + notInPoolSuffix
}

// BGPNotSupportedMessage is the BGPNotSupported Event's message about addr
// of BGP pool pool, which barelbctl status also shows when it finds such an
// address itself.
func BGPNotSupportedMessage(addr netip.Addr, pool string) string {
	return fmt.Sprintf("%s is from BGP pool %q: BGP is not supported by barelb, the address is assigned but not announced", addr, pool)
}

// ParseAnnouncement reads the text of an Announcement, as
// [FormatAnnouncement] writes it. It also reads the older form with the
// interfaces after the node ("announcing 198.51.100.3 from node n2 on eth0",
// the interfaces then apply to every address that names none), and ignores
// surrounding space and empty interface names. Its error quotes msg.
func ParseAnnouncement(msg string) (Announcement, error) {
	a, err := parseAnnouncement(msg)
	if err != nil {
		return Announcement{}, fmt.Errorf("failed to parse announcement %q: %w", msg, err)
	}
	return a, nil
}

func parseAnnouncement(msg string) (Announcement, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(msg), announcingPrefix)
	if !ok {
		return Announcement{}, fmt.Errorf("does not start with %q", announcingPrefix)
	}
	var a Announcement
	rest, tail, hasTail := strings.Cut(rest, "; ")
	if hasTail {
		list, ok := strings.CutSuffix(tail, notInPoolSuffix)
		if !ok {
			return Announcement{}, fmt.Errorf("%q after the node does not end with %q", tail, notInPoolSuffix)
		}
		for _, s := range strings.Split(list, ", ") {
			ip, err := parseAddr(s)
			if err != nil {
				return Announcement{}, err
			}
			a.NotInPool = append(a.NotInPool, ip)
		}
	}
	i := strings.LastIndex(rest, fromNode)
	if i < 0 {
		return Announcement{}, fmt.Errorf("no %q", strings.TrimSpace(fromNode))
	}
	parts, node := rest[:i], rest[i+len(fromNode):]
	node, trailing, _ := strings.Cut(node, " on ")
	if err := checkName("node", node); err != nil {
		return Announcement{}, err
	}
	a.Node = node
	trailingIfs, err := parseInterfaces(trailing)
	if err != nil {
		return Announcement{}, err
	}
	for _, part := range strings.Split(parts, ", ") {
		addr, ifs, hasIfs := strings.Cut(part, " on ")
		ip, err := parseAddr(addr)
		if err != nil {
			return Announcement{}, err
		}
		aa := AnnouncedAddress{Addr: ip, Interfaces: trailingIfs}
		if hasIfs {
			if aa.Interfaces, err = parseInterfaces(ifs); err != nil {
				return Announcement{}, err
			}
		}
		a.Addresses = append(a.Addresses, aa)
	}
	return a, nil
}

// parseAddr reads one address of the message, which has no zone: Service
// addresses never do.
func parseAddr(s string) (netip.Addr, error) {
	ip, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("failed to parse address: %w", err)
	}
	if ip.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("address %q has a zone", s)
	}
	return ip, nil
}

// parseInterfaces reads a comma-separated list of interface names,
// dropping empty ones; nil when there are none.
func parseInterfaces(s string) ([]string, error) {
	var out []string
	for _, name := range strings.Split(s, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		if err := checkName("interface", name); err != nil {
			return nil, err
		}
		out = append(out, name)
	}
	return out, nil
}

// checkName rejects names the text form cannot carry.
func checkName(what, name string) error {
	if name == "" {
		return fmt.Errorf("empty %s name", what)
	}
	if strings.ContainsFunc(name, func(r rune) bool { return unicode.IsSpace(r) || r == ',' || r == ';' }) {
		return fmt.Errorf("%s %q holds a space, ',' or ';'", what, name)
	}
	return nil
}

func joinAddrs(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}
