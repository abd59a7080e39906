package controller

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/barelb/barelb/internal/contract"
	"github.com/barelb/barelb/nodehelper/announce"
	"github.com/barelb/barelb/nodehelper/ifaces"
)

// ReasonAddressConflict and ConditionReasonAddressConflict are
// contract.ReasonAddressConflict and contract.ConditionReasonAddressConflict:
// a host whose MAC is not a gossip member's claimed the Service's address on
// the LAN; the message names the address, the MAC and what this node did
// (see announce.Decide).
const (
	ReasonAddressConflict          = string(contract.ReasonAddressConflict)
	ConditionReasonAddressConflict = string(contract.ConditionReasonAddressConflict)
)

// conflictQueue carries the announcers' conflict reports to the control
// loop; push never blocks.
type conflictQueue struct {
	mu    sync.Mutex
	items []announce.Conflict
	wake  chan struct{}
}

func newConflictQueue() *conflictQueue { return &conflictQueue{wake: make(chan struct{}, 1)} }

// push queues one report; it is the announcers' Conflict callback.
func (q *conflictQueue) push(c announce.Conflict) {
	q.mu.Lock()
	q.items = append(q.items, c)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take returns and clears the queued reports.
func (q *conflictQueue) take() []announce.Conflict {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	return items
}

// handleConflicts records the queued conflict reports: a metric, and the
// Events and conditions report.Node.Conflict decides on the Services of the
// address, this node being the address's owner and so its writer.
func (c *Controller) handleConflicts(ctx context.Context, svc func(key string) *corev1.Service) {
	log := klog.FromContext(ctx)
	for _, cf := range c.conflicts.take() {
		c.o.Metrics.observeConflict(cf.Addr, cf.Outcome)
		log.Info("Address conflict", "address", cf.Addr, "mac", cf.MAC.String(), "interface", cf.Interface, "outcome", cf.Outcome.String())
		c.emit(c.reporter().Conflict(cf, c.servicesOf(cf.Addr), c.told.announced), svc)
	}
}

// servicesOf returns the keys of the Services of the group this node owns
// that holds addr.
func (c *Controller) servicesOf(addr netip.Addr) []string {
	for _, k := range c.table.Owned(c.o.NodeName) {
		if g, ok := c.table.Group(k); ok && slices.Contains(g.Addresses, addr) {
			return g.Services
		}
	}
	return nil
}

// eligibleMACs returns the MACs of the links this node may announce on,
// sorted and without duplicates: what it publishes to the gossip.
func eligibleMACs(links []ifaces.Link, f ifaces.Filter) []net.HardwareAddr {
	var out []net.HardwareAddr
	for _, l := range links {
		if len(l.HardwareAddr) != 6 || ifaces.Exclude(l, links, f) != ifaces.Eligible {
			continue
		}
		out = append(out, l.HardwareAddr)
	}
	slices.SortFunc(out, func(a, b net.HardwareAddr) int { return bytes.Compare(a, b) })
	return slices.CompactFunc(out, func(a, b net.HardwareAddr) bool { return bytes.Equal(a, b) })
}

// refreshMembers hands every announcer the live members' MACs.
func (c *Controller) refreshMembers() {
	if c.o.MemberMACs == nil {
		return
	}
	c.memberMACs = c.o.MemberMACs()
	for _, ra := range c.announcers {
		ra.a.SetMembers(c.memberMACs)
	}
}
