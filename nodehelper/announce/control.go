package announce

import (
	"context"
	"net/netip"
	"time"

	"k8s.io/klog/v2"
)

// joiner joins and leaves IPv6 multicast groups on the interface, so that
// the NIC passes solicitations to the solicited-node groups of owned
// addresses and MLD-snooping switches and bridges forward them to us.
type joiner interface {
	join(group netip.Addr) error
	leave(group netip.Addr) error
}

// groupRefs counts owned addresses per solicited-node group: many addresses
// share one group (only their low 24 bits name it), which is joined for the
// first and left with the last.
type groupRefs struct {
	j    joiner
	refs map[netip.Addr]int
}

// add counts addr and joins its group if it is the first.
func (g *groupRefs) add(addr netip.Addr) error {
	group := solicitedNode(addr)
	g.refs[group]++
	if g.refs[group] > 1 {
		return nil
	}
	return g.j.join(group)
}

// remove uncounts addr and leaves its group if it was the last.
func (g *groupRefs) remove(addr netip.Addr) error {
	group := solicitedNode(addr)
	g.refs[group]--
	if g.refs[group] > 0 {
		return nil
	}
	delete(g.refs, group)
	return g.j.leave(group)
}

// ownedAddr is an address with the generation it was gained in.
type ownedAddr struct {
	addr netip.Addr
	gen  uint64
}

// burst is the announcement schedule of the addresses gained together.
type burst struct {
	start time.Time
	step  int // index of the next offset in the schedule
	addrs []ownedAddr
	// again marks a re-announcement after a conflict: not reported through
	// Options.Announced.
	again bool
}

// groupOp is a pending membership change for one address.
type groupOp struct {
	addr netip.Addr
	join bool
}

// groupChunk bounds the membership changes made between two looks at the
// timers and events: the kernel took 0.15-0.4 ms per membership with 10,000
// groups on a veth in our lab, so a chunk delays a due announcement or an
// owned-set change by at most about 50 ms.
const groupChunk = 128

// control reconciles group memberships with the owned set and sends the
// scheduled and periodic announcements until ctx ends. Announcements go out
// before memberships change: a failover that gains thousands of addresses
// announces them at once and joins their groups in chunks afterwards.
func (a *Announcer) control(ctx context.Context, l *link) error {
	log := klog.FromContext(ctx)
	groups := groupRefs{j: l.groups, refs: make(map[netip.Addr]int)}
	defer a.groups.Store(0) // closing the link drops the memberships
	var (
		seen    ownedSet
		bursts  []*burst
		pending []groupOp
	)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var refresh <-chan time.Time
	if a.opts.Refresh > 0 {
		t := time.NewTicker(a.opts.Refresh)
		defer t.Stop()
		refresh = t.C
	}

	var cs *contests
	reconcile := func() {
		cur := *a.owned.Load()
		var gained []ownedAddr
		defer func() {
			regained := make(map[netip.Addr]bool, len(gained))
			for _, o := range gained {
				regained[o.addr] = true
			}
			cs.owned(cur, regained, a.takeProbeFirst(regained), time.Now())
		}()
		for addr, gen := range cur {
			old, ok := seen[addr]
			if !ok && addr.Is6() {
				pending = append(pending, groupOp{addr: addr, join: true})
			}
			if !ok || old != gen {
				gained = append(gained, ownedAddr{addr: addr, gen: gen})
			}
		}
		for addr := range seen {
			if _, ok := cur[addr]; !ok && addr.Is6() {
				pending = append(pending, groupOp{addr: addr})
			}
		}
		seen = cur
		if len(gained) > 0 && len(a.opts.Schedule) > 0 {
			bursts = append(bursts, &burst{start: time.Now(), addrs: gained})
		}
	}

	// fire sends the due steps of every burst and re-arms the timer for the
	// next one.
	fire := func() {
		now := time.Now()
		var next time.Time
		kept := bursts[:0]
		for _, b := range bursts {
			for b.step < len(a.opts.Schedule) && !b.start.Add(a.opts.Schedule[b.step]).After(now) {
				sent := a.announce(ctx, l, b.addrs)
				if b.step == 0 && a.opts.Announced != nil && len(sent) > 0 && !b.again {
					a.opts.Announced(sent)
				}
				b.step++
			}
			if b.step == len(a.opts.Schedule) {
				continue
			}
			kept = append(kept, b)
			if due := b.start.Add(a.opts.Schedule[b.step]); next.IsZero() || due.Before(next) {
				next = due
			}
		}
		clear(bursts[len(kept):])
		bursts = kept
		if !next.IsZero() {
			timer.Reset(time.Until(next))
		}
	}

	// changeGroups applies up to groupChunk pending membership changes.
	changeGroups := func() {
		n := min(len(pending), groupChunk)
		for _, op := range pending[:n] {
			var err error
			if op.join {
				err = groups.add(op.addr)
			} else {
				err = groups.remove(op.addr)
			}
			if err != nil {
				log.Error(err, "Failed to change solicited-node group membership", "address", op.addr, "join", op.join)
			}
		}
		pending = pending[n:]
		if len(pending) == 0 {
			pending = nil
		}
		a.groups.Store(int64(len(groups.refs)))
	}

	refreshAll := func() {
		cur := *a.owned.Load()
		all := make([]ownedAddr, 0, len(cur))
		for addr, gen := range cur {
			all = append(all, ownedAddr{addr: addr, gen: gen})
		}
		a.announce(ctx, l, all)
	}

	// reannounce starts a burst for addresses kept or resumed after a
	// conflict, at their current generation.
	cs = newContests(ctx, a, l, func(addrs []netip.Addr) {
		cur := *a.owned.Load()
		b := &burst{start: time.Now(), again: true}
		for _, addr := range addrs {
			if gen, ok := cur[addr]; ok {
				b.addrs = append(b.addrs, ownedAddr{addr: addr, gen: gen})
			}
		}
		if len(b.addrs) > 0 && len(a.opts.Schedule) > 0 {
			bursts = append(bursts, b)
			fire()
		}
	})
	defer cs.timer.Stop()

	reconcile()
	fire()
	for {
		if len(pending) > 0 {
			// Membership work is pending: take events that are ready,
			// otherwise do a chunk of it.
			select {
			case <-ctx.Done():
				return nil
			case <-a.changed:
				reconcile()
				fire()
			case <-timer.C:
				fire()
			case <-refresh:
				refreshAll()
			case c := <-a.claims:
				cs.claim(c, time.Now())
			case <-a.recheck:
				cs.recheckAll(time.Now())
			case <-cs.timer.C:
				cs.tick(time.Now())
			default:
				changeGroups()
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-a.changed:
			reconcile()
			fire()
		case <-timer.C:
			fire()
		case <-refresh:
			refreshAll()
		case c := <-a.claims:
			cs.claim(c, time.Now())
		case <-a.recheck:
			cs.recheckAll(time.Now())
		case <-cs.timer.C:
			cs.tick(time.Now())
		}
	}
}

// announce sends the gratuitous frames for each address that is still owned
// in the generation it was scheduled for: a lost address is not announced,
// and one lost and regained is announced by its newer burst. It returns the
// addresses announced.
func (a *Announcer) announce(ctx context.Context, l *link, addrs []ownedAddr) []netip.Addr {
	log := klog.FromContext(ctx)
	mac := a.ifi.HardwareAddr
	var sent []netip.Addr
	for _, o := range addrs {
		if gen, ok := (*a.owned.Load())[o.addr]; !ok || gen != o.gen || a.isWithdrawn(o.addr) {
			continue
		}
		sent = append(sent, o.addr)
		if o.addr.Is4() {
			for _, f := range GratuitousARP(mac, o.addr) {
				a.send(log, l.arp, &a.v4, f)
			}
			continue
		}
		a.send(log, l.ndp, &a.v6, UnsolicitedNA(mac, o.addr))
	}
	return sent
}

// send writes one gratuitous frame and counts it.
func (a *Announcer) send(log klog.Logger, p port, c *counters, frame []byte) {
	if _, err := p.conn.WriteTo(frame, p.to); err != nil {
		c.sendErrors.Add(1)
		log.V(2).Info("Failed to send announcement", "err", err)
		return
	}
	c.gratuitous.Add(1)
}
