package announce

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"time"

	"k8s.io/klog/v2"
)

// A gossip partition (the gossip port blocked while the LAN works, a node
// left behind by a key rotation) makes both sides own an address, and two
// MACs answer for it. The LAN breaks the tie: an announcer that sees another
// MAC claim an address it owns (RFC 5227 §2.4 "ongoing address conflict
// detection"; for IPv6 a Neighbor Advertisement, RFC 4861 §7.2.5) applies
// Decide. The lower MAC keeps the address and announces it again; the higher
// withdraws, stops answering and announcing, and probes the address (RFC
// 5227 §2.1.1 ARP probes, RFC 4862 §5.4.2 DAD solicitations) every
// probeInterval, resuming when no other host answers within probeWait.

const (
	// probeInterval is how often a withdrawn address is probed.
	probeInterval = time.Second
	// probeWait is how long a probe's answers are awaited: owners answer
	// within milliseconds on a LAN.
	probeWait = 250 * time.Millisecond
	// reannounceAfter is the shortest time between two re-announcements
	// (and reports) of a kept address, so a host that keeps claiming it
	// cannot make us flood.
	reannounceAfter = time.Second
	// claimQueue bounds the claims waiting for the control loop; claims
	// beyond are dropped, the next one seen is handled.
	claimQueue = 64
	// firstProbeGap is the gap between the two probes sent before an
	// address's first announcement (RFC 5227 §2.1.1 sends PROBE_NUM = 3
	// probes 1-2 s apart; a takeover cannot wait that long, and a LAN
	// answers within milliseconds).
	firstProbeGap = 50 * time.Millisecond
	// firstBackoff and maxBackoff bound the retries of an address whose
	// first probe was answered.
	firstBackoff, maxBackoff = time.Second, time.Minute
)

// Conflict is another MAC claiming an address this announcer owns, and what
// became of it.
type Conflict struct {
	// Interface is the announcer's interface.
	Interface string
	// Addr is the address claimed.
	Addr netip.Addr
	// MAC is the other host's.
	MAC net.HardwareAddr
	// Outcome is what this announcer did: Kept, Withdrawn or Resumed
	// (Tolerated claims are not reported).
	Outcome Outcome
}

// macSet is an immutable set of 6-byte MACs.
type macSet map[[6]byte]struct{}

func newMACSet(macs []net.HardwareAddr) macSet {
	s := make(macSet, len(macs))
	for _, m := range macs {
		if len(m) == 6 {
			s[[6]byte(m)] = struct{}{}
		}
	}
	return s
}

func (s macSet) has(m net.HardwareAddr) bool {
	if len(m) != 6 {
		return false
	}
	_, ok := s[[6]byte(m)]
	return ok
}

// addrSet is an immutable set of addresses.
type addrSet map[netip.Addr]struct{}

// SetMembers replaces the MACs of the live gossip members, whose claims are
// tolerated (see Decide), and re-checks every withdrawn address at once: a
// membership change may have ended the partition. It does not block.
func (a *Announcer) SetMembers(macs []net.HardwareAddr) {
	s := newMACSet(macs)
	a.members.Store(&s)
	select {
	case a.recheck <- struct{}{}:
	default:
	}
}

// ProbeFirst asks that addrs, if SetOwned gains them next, be probed before
// they are first announced or answered: they are new addresses (a Service
// just created, a group that had no owner), not a takeover from another
// member, which must not be slowed. If a host that is no live member answers
// the probes, the address is not announced (Outcome Blocked) and probed
// again after 1 s, doubling up to 1 min. It does not block.
func (a *Announcer) ProbeFirst(addrs []netip.Addr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, addr := range addrs {
		if a.probeFirst == nil {
			a.probeFirst = map[netip.Addr]bool{}
		}
		a.probeFirst[addr.Unmap().WithZone("")] = true
	}
}

// takeProbeFirst returns, and forgets, those of the gained addresses that
// were asked to be probed first.
func (a *Announcer) takeProbeFirst(gained map[netip.Addr]bool) map[netip.Addr]bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[netip.Addr]bool{}
	for addr := range a.probeFirst {
		if gained[addr] {
			out[addr] = true
			delete(a.probeFirst, addr)
		}
	}
	return out
}

// isMember reports whether m is a live member's MAC.
func (a *Announcer) isMember(m net.HardwareAddr) bool {
	s := a.members.Load()
	return s != nil && (*s).has(m)
}

// isWithdrawn reports whether addr is withdrawn after a conflict.
func (a *Announcer) isWithdrawn(addr netip.Addr) bool {
	s := a.withdrawn.Load()
	if s == nil || len(*s) == 0 {
		return false
	}
	_, ok := (*s)[addr]
	return ok
}

// noticeClaim hands a claim seen by a responder to the control loop if it is
// about an owned address (withdrawn or not). The MAC is copied: it points
// into the read buffer. It never blocks.
func (a *Announcer) noticeClaim(c Claim) {
	if !a.owned.Load().owns(c.Addr) {
		return
	}
	c.MAC = bytes.Clone(c.MAC)
	select {
	case a.claims <- c:
	default:
	}
}

// contest is the control loop's state of one address another MAC claimed.
type contest struct {
	other      net.HardwareAddr
	withdrawn  bool
	lastReport time.Time // of a Kept address: last re-announcement
	// Of a withdrawn address: when the next probe is due, or, while one is
	// out (probing), when its answers are no longer awaited.
	due      time.Time
	probing  bool
	answered bool
	// first marks an address probed before its first announcement: sent
	// counts the probes of this round, backoff is the next retry's wait.
	first   bool
	sent    int
	backoff time.Duration
}

// contests is the control loop's conflict state; it is used from the
// control loop only.
type contests struct {
	a     *Announcer
	l     *link
	log   klog.Logger
	byA   map[netip.Addr]*contest
	timer *time.Timer
	// reannounce starts a burst for the addresses (the control loop's).
	reannounce func(addrs []netip.Addr)
}

func newContests(ctx context.Context, a *Announcer, l *link, reannounce func([]netip.Addr)) *contests {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &contests{a: a, l: l, log: klog.FromContext(ctx), byA: map[netip.Addr]*contest{}, timer: t, reannounce: reannounce}
}

// report calls the Conflict callback.
func (cs *contests) report(addr netip.Addr, other net.HardwareAddr, o Outcome) {
	cs.log.V(1).Info("Address conflict", "address", addr, "mac", other.String(), "outcome", o.String())
	if cs.a.opts.Conflict != nil {
		cs.a.opts.Conflict(Conflict{Interface: cs.a.ifi.Name, Addr: addr, MAC: other, Outcome: o})
	}
}

// claim handles one claim another host made.
func (cs *contests) claim(c Claim, now time.Time) {
	if !cs.a.owned.Load().owns(c.Addr) {
		return
	}
	member := cs.a.isMember(c.MAC)
	st := cs.byA[c.Addr]
	if st != nil && st.withdrawn {
		if st.probing && !member {
			st.answered, st.other = true, c.MAC
		}
		return
	}
	switch Decide(cs.a.ifi.HardwareAddr, c.MAC, member) {
	case Tolerated:
		cs.log.V(2).Info("Address claimed by a gossip member; the gossip resolves it", "address", c.Addr, "mac", c.MAC.String())
	case Kept:
		if st == nil {
			st = &contest{}
			cs.byA[c.Addr] = st
		}
		if !st.lastReport.IsZero() && now.Sub(st.lastReport) < reannounceAfter {
			return
		}
		st.other, st.lastReport = c.MAC, now
		cs.reannounce([]netip.Addr{c.Addr})
		cs.report(c.Addr, c.MAC, Kept)
	case Withdrawn:
		cs.byA[c.Addr] = &contest{other: c.MAC, withdrawn: true, due: now.Add(probeInterval)}
		cs.storeWithdrawn()
		cs.report(c.Addr, c.MAC, Withdrawn)
		cs.arm(now)
	}
}

// storeWithdrawn publishes the withdrawn addresses to the responders.
func (cs *contests) storeWithdrawn() {
	s := addrSet{}
	for addr, st := range cs.byA {
		if st.withdrawn {
			s[addr] = struct{}{}
		}
	}
	cs.a.withdrawn.Store(&s)
}

// owned drops the state of addresses no longer owned, or regained anew, and
// holds back the gained addresses that are to be probed first.
func (cs *contests) owned(cur ownedSet, gained map[netip.Addr]bool, probeFirst map[netip.Addr]bool, now time.Time) {
	changed := false
	for addr, st := range cs.byA {
		if _, ok := cur[addr]; !ok || gained[addr] {
			delete(cs.byA, addr)
			changed = changed || st.withdrawn
		}
	}
	for addr := range gained {
		if probeFirst[addr] {
			cs.byA[addr] = &contest{withdrawn: true, first: true, due: now, backoff: firstBackoff}
			changed = true
		}
	}
	if changed {
		cs.storeWithdrawn()
		cs.arm(now)
	}
}

// recheckAll makes every withdrawn address due for a probe now.
func (cs *contests) recheckAll(now time.Time) {
	for _, st := range cs.byA {
		if st.withdrawn && !st.probing {
			st.due = now
		}
	}
	cs.tick(now)
}

// tick sends due probes and resumes addresses whose probes went
// unanswered.
func (cs *contests) tick(now time.Time) {
	var resumed []netip.Addr
	for addr, st := range cs.byA {
		if !st.withdrawn || now.Before(st.due) {
			continue
		}
		if !st.probing {
			cs.probe(addr)
			st.probing, st.answered, st.sent, st.due = true, false, 1, now.Add(probeWait)
			if st.first {
				st.due = now.Add(firstProbeGap)
			}
			continue
		}
		if st.first && st.sent == 1 {
			cs.probe(addr)
			st.sent, st.due = 2, now.Add(probeWait)
			continue
		}
		if st.answered && st.first {
			// A host outside the gossip uses the address: do not announce.
			cs.report(addr, st.other, Blocked)
			st.probing, st.due = false, now.Add(st.backoff)
			st.backoff = min(2*st.backoff, maxBackoff)
			continue
		}
		if st.answered {
			st.probing, st.due = false, now.Add(probeInterval-probeWait)
			continue
		}
		// RFC 5227 §2.1.1: no conflicting reply within the wait, the address
		// may be used; announce it at once, as §2.3 does.
		resumed = append(resumed, addr)
		if !st.first || st.other != nil {
			cs.report(addr, st.other, Resumed)
		}
		delete(cs.byA, addr)
	}
	if len(resumed) > 0 {
		cs.storeWithdrawn()
		cs.reannounce(resumed)
	}
	cs.arm(now)
}

// arm sets the timer for the next due probe or wait.
func (cs *contests) arm(now time.Time) {
	var next time.Time
	for _, st := range cs.byA {
		if st.withdrawn && (next.IsZero() || st.due.Before(next)) {
			next = st.due
		}
	}
	cs.timer.Stop()
	if !next.IsZero() {
		cs.timer.Reset(max(next.Sub(now), 0))
	}
}

// probe sends one probe for addr.
func (cs *contests) probe(addr netip.Addr) {
	mac := cs.a.ifi.HardwareAddr
	p, frame := cs.l.ndp, []byte(nil)
	if addr.Is4() {
		p, frame = cs.l.arp, ARPProbe(mac, addr)
	} else {
		frame = DADProbe(mac, addr)
	}
	if _, err := p.conn.WriteTo(frame, p.to); err != nil {
		cs.log.V(2).Info("Failed to send probe", "address", addr, "err", err)
	}
}
