package announce

import "sync/atomic"

// Stats are an Announcer's counters since New.
type Stats struct {
	// IPv4 counts ARP, IPv6 counts NDP.
	IPv4, IPv6 FamilyStats
	// Groups is the number of solicited-node groups joined.
	Groups int
}

// FamilyStats are the counters of one address family.
type FamilyStats struct {
	// Received counts the frames read (after the kernel's filter).
	Received uint64
	// Replies counts the replies sent.
	Replies uint64
	// Gratuitous counts the gratuitous frames sent.
	Gratuitous uint64
	// SendErrors counts replies and announcements the socket refused.
	SendErrors uint64
	// Dropped counts the frames not answered, by reason; reasons with a zero
	// count are absent.
	Dropped map[Reason]uint64
}

// counters are the live counters of one family.
type counters struct {
	received, replies, gratuitous, sendErrors atomic.Uint64
	dropped                                   [numReasons]atomic.Uint64
}

// snapshot copies c.
func (c *counters) snapshot() FamilyStats {
	s := FamilyStats{
		Received:   c.received.Load(),
		Replies:    c.replies.Load(),
		Gratuitous: c.gratuitous.Load(),
		SendErrors: c.sendErrors.Load(),
	}
	for r := range c.dropped {
		if n := c.dropped[r].Load(); n > 0 {
			if s.Dropped == nil {
				s.Dropped = make(map[Reason]uint64)
			}
			s.Dropped[Reason(r)] = n
		}
	}
	return s
}

// Stats returns a snapshot of the counters.
func (a *Announcer) Stats() Stats {
	return Stats{IPv4: a.v4.snapshot(), IPv6: a.v6.snapshot(), Groups: int(a.groups.Load())}
}
