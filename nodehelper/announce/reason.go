package announce

// Reason says what became of one received frame: answered, or why it was dropped.
type Reason int

// Possible Reason values. Answered is the only one that comes with a reply.
const (
	// Answered means the frame asked for an owned address and a reply was built.
	Answered Reason = iota
	// Malformed means the frame could not be parsed (truncated, bad lengths).
	Malformed
	// OwnFrame means the frame was sent by this interface.
	OwnFrame
	// NotForUs means the frame was addressed to another host's unicast MAC or belongs to another (VLAN) interface.
	NotForUs
	// NotRequest means the frame is not a question: an ARP reply, another ICMPv6 type, another protocol.
	NotRequest
	// Announcement means the frame is another host's gratuitous ARP (sender IP = target IP); announcements are not answered.
	Announcement
	// ExtensionHeader means the IPv6 packet carries extension headers, which this responder does not walk.
	ExtensionHeader
	// Invalid means the frame parsed but fails validation (RFC 826 fields, RFC 4861 §7.1.1 checks, bad checksum).
	Invalid
	// NotOwned means the frame asked for an address this node does not own.
	NotOwned

	numReasons
)

// String returns the name of r as used in logs and metrics labels.
func (r Reason) String() string {
	switch r {
	case Answered:
		return "answered"
	case Malformed:
		return "malformed"
	case OwnFrame:
		return "own-frame"
	case NotForUs:
		return "not-for-us"
	case NotRequest:
		return "not-request"
	case Announcement:
		return "announcement"
	case ExtensionHeader:
		return "extension-header"
	case Invalid:
		return "invalid"
	case NotOwned:
		return "not-owned"
	default:
		return "unknown"
	}
}
