package controller

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// conflictMessage states what happened, for the Event and the condition.
func conflictMessage(node string, c announce.Conflict) string {
	switch c.Outcome {
	case announce.Kept:
		return fmt.Sprintf("%s is also claimed on %s by MAC %s, which is no gossip member's: node %s has the lower MAC, keeps the address and announced it again", c.Addr, c.Interface, c.MAC, node)
	case announce.Withdrawn:
		return fmt.Sprintf("%s is also claimed on %s by MAC %s, which is no gossip member's: it has the lower MAC, so node %s withdrew the address and probes it every second", c.Addr, c.Interface, c.MAC, node)
	case announce.Blocked:
		return fmt.Sprintf("%s is in use on %s by MAC %s, which is no gossip member's: node %s does not announce it and probes it again later (1 s doubling to 1 min)", c.Addr, c.Interface, c.MAC, node)
	default:
		return fmt.Sprintf("%s, withdrawn after MAC %s claimed it on %s, is announced again by node %s: nobody else answered its probe", c.Addr, c.MAC, c.Interface, node)
	}
}

// handleConflicts records the queued conflict reports: a metric, a Warning
// Event on the Services of the address (Normal when it resumed) and their
// condition, this node being the address's owner and so its writer.
func (c *Controller) handleConflicts(ctx context.Context, svc func(key string) *corev1.Service) {
	log := klog.FromContext(ctx)
	for _, cf := range c.conflicts.take() {
		c.o.Metrics.observeConflict(cf.Addr, cf.Outcome)
		msg := conflictMessage(c.o.NodeName, cf)
		log.Info("Address conflict", "address", cf.Addr, "mac", cf.MAC.String(), "interface", cf.Interface, "outcome", cf.Outcome.String())
		for _, key := range c.servicesOf(cf.Addr) {
			s := svc(key)
			if s == nil {
				continue
			}
			switch cf.Outcome {
			case announce.Kept:
				c.o.Events.Eventf(s, corev1.EventTypeWarning, ReasonAddressConflict, "%s", msg)
				c.setCondition(s, condition{status: metav1.ConditionTrue, reason: ConditionReasonAddressConflict, message: msg})
			case announce.Withdrawn, announce.Blocked:
				c.o.Events.Eventf(s, corev1.EventTypeWarning, ReasonAddressConflict, "%s", msg)
				c.setCondition(s, condition{status: metav1.ConditionFalse, reason: ConditionReasonAddressConflict, message: msg})
			case announce.Resumed:
				c.o.Events.Eventf(s, corev1.EventTypeNormal, ReasonNodeAssigned, "%s", msg)
				if m, ok := c.announced[key]; ok {
					c.setCondition(s, condition{status: metav1.ConditionTrue, reason: ConditionReasonAnnounced, message: m})
				}
			}
		}
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
