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
	c := a.newControlLoop(ctx, l)
	defer c.close()
	c.reconcile()
	c.fire()
	for {
		var running bool
		if len(c.pending) > 0 {
			running = c.handleReadyOrChangeGroups()
		} else {
			running = c.handleNext()
		}
		if !running {
			return nil
		}
	}
}

// controlLoop is the state of one run of Announcer.control; only its
// goroutine touches it.
type controlLoop struct {
	a   *Announcer
	l   *link
	ctx context.Context
	log klog.Logger

	groups  groupRefs
	seen    ownedSet  // the owned set of the last reconcile
	bursts  []*burst  // announcement schedules still running
	pending []groupOp // membership changes not made yet

	timer   *time.Timer  // fires when the next burst step is due
	ticker  *time.Ticker // nil unless Options.Refresh is positive
	refresh <-chan time.Time
	cs      *contests
}

// newControlLoop arms the timers of a control loop on l.
func (a *Announcer) newControlLoop(ctx context.Context, l *link) *controlLoop {
	c := &controlLoop{
		a:      a,
		l:      l,
		ctx:    ctx,
		log:    klog.FromContext(ctx),
		groups: groupRefs{j: l.groups, refs: make(map[netip.Addr]int)},
		timer:  time.NewTimer(time.Hour),
	}
	if a.opts.Refresh > 0 {
		c.ticker = time.NewTicker(a.opts.Refresh)
		c.refresh = c.ticker.C
	}
	c.cs = newContests(ctx, a, l, c.reannounce)
	return c
}

// close stops the timers and reports no memberships: closing the link drops
// them.
func (c *controlLoop) close() {
	c.cs.timer.Stop()
	if c.ticker != nil {
		c.ticker.Stop()
	}
	c.timer.Stop()
	c.a.groups.Store(0)
}

// handleReadyOrChangeGroups handles an event that is ready, or else makes a
// chunk of the pending membership changes. It reports false once ctx ended.
func (c *controlLoop) handleReadyOrChangeGroups() bool {
	select {
	case <-c.ctx.Done():
		return false
	case <-c.a.changed:
		c.ownedChanged()
	case <-c.timer.C:
		c.fire()
	case <-c.refresh:
		c.refreshAll()
	case cl := <-c.a.claims:
		c.cs.claim(cl, time.Now())
	case <-c.a.recheck:
		c.cs.recheckAll(time.Now())
	case <-c.cs.timer.C:
		c.cs.tick(time.Now())
	default:
		c.changeGroups()
	}
	return true
}

// handleNext waits for the next event and handles it. It reports false once
// ctx ended.
func (c *controlLoop) handleNext() bool {
	select {
	case <-c.ctx.Done():
		return false
	case <-c.a.changed:
		c.ownedChanged()
	case <-c.timer.C:
		c.fire()
	case <-c.refresh:
		c.refreshAll()
	case cl := <-c.a.claims:
		c.cs.claim(cl, time.Now())
	case <-c.a.recheck:
		c.cs.recheckAll(time.Now())
	case <-c.cs.timer.C:
		c.cs.tick(time.Now())
	}
	return true
}

// ownedChanged takes a new owned set and announces what it gained.
func (c *controlLoop) ownedChanged() {
	c.reconcile()
	c.fire()
}

// reconcile compares the owned set with the one last seen: it queues the
// membership changes, starts a burst for the gained addresses and hands the
// owned set to the conflict contests.
func (c *controlLoop) reconcile() {
	cur := *c.a.owned.Load()
	gained, ops := ownedChanges(c.seen, cur)
	c.pending = append(c.pending, ops...)
	c.seen = cur
	if len(gained) > 0 && len(c.a.opts.Schedule) > 0 {
		c.bursts = append(c.bursts, &burst{start: time.Now(), addrs: gained})
	}
	regained := make(map[netip.Addr]bool, len(gained))
	for _, o := range gained {
		regained[o.addr] = true
	}
	c.cs.owned(cur, regained, c.a.takeProbeFirst(regained), time.Now())
}

// ownedChanges returns the addresses of cur that are new or of a new
// generation since seen, and the membership changes of the IPv6 addresses
// that came (joins, first) and went (leaves).
func ownedChanges(seen, cur ownedSet) ([]ownedAddr, []groupOp) {
	var gained []ownedAddr
	var ops []groupOp
	for addr, gen := range cur {
		old, ok := seen[addr]
		if !ok && addr.Is6() {
			ops = append(ops, groupOp{addr: addr, join: true})
		}
		if !ok || old != gen {
			gained = append(gained, ownedAddr{addr: addr, gen: gen})
		}
	}
	for addr := range seen {
		if _, ok := cur[addr]; !ok && addr.Is6() {
			ops = append(ops, groupOp{addr: addr})
		}
	}
	return gained, ops
}

// fire sends the due steps of every burst and re-arms the timer for the next
// one.
func (c *controlLoop) fire() {
	now := time.Now()
	var next time.Time
	kept := c.bursts[:0]
	for _, b := range c.bursts {
		if !c.sendDue(b, now) {
			continue
		}
		kept = append(kept, b)
		if due := b.start.Add(c.a.opts.Schedule[b.step]); next.IsZero() || due.Before(next) {
			next = due
		}
	}
	clear(c.bursts[len(kept):])
	c.bursts = kept
	if !next.IsZero() {
		c.timer.Reset(time.Until(next))
	}
}

// sendDue sends the steps of b due by now, reporting the first through
// Options.Announced unless b is a re-announcement. It reports whether b has
// steps left.
func (c *controlLoop) sendDue(b *burst, now time.Time) bool {
	schedule := c.a.opts.Schedule
	for b.step < len(schedule) && !b.start.Add(schedule[b.step]).After(now) {
		sent := c.a.announce(c.ctx, c.l, b.addrs)
		if b.step == 0 && c.a.opts.Announced != nil && len(sent) > 0 && !b.again {
			c.a.opts.Announced(sent)
		}
		b.step++
	}
	return b.step < len(schedule)
}

// changeGroups applies up to groupChunk pending membership changes.
func (c *controlLoop) changeGroups() {
	n := min(len(c.pending), groupChunk)
	for _, op := range c.pending[:n] {
		var err error
		if op.join {
			err = c.groups.add(op.addr)
		} else {
			err = c.groups.remove(op.addr)
		}
		if err != nil {
			c.log.Error(err, "Failed to change solicited-node group membership", "address", op.addr, "join", op.join)
		}
	}
	c.pending = c.pending[n:]
	if len(c.pending) == 0 {
		c.pending = nil
	}
	c.a.groups.Store(int64(len(c.groups.refs)))
}

// refreshAll announces every owned address once, for Options.Refresh.
func (c *controlLoop) refreshAll() {
	cur := *c.a.owned.Load()
	all := make([]ownedAddr, 0, len(cur))
	for addr, gen := range cur {
		all = append(all, ownedAddr{addr: addr, gen: gen})
	}
	c.a.announce(c.ctx, c.l, all)
}

// reannounce starts a burst for addresses kept or resumed after a conflict,
// at their current generation. The contests call it from the control loop.
func (c *controlLoop) reannounce(addrs []netip.Addr) {
	cur := *c.a.owned.Load()
	b := &burst{start: time.Now(), again: true}
	for _, addr := range addrs {
		if gen, ok := cur[addr]; ok {
			b.addrs = append(b.addrs, ownedAddr{addr: addr, gen: gen})
		}
	}
	if len(b.addrs) > 0 && len(c.a.opts.Schedule) > 0 {
		c.bursts = append(c.bursts, b)
		c.fire()
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
