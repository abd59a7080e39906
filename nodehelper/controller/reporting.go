package controller

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"

	"github.com/barelb/barelb/nodehelper/election"
	"github.com/barelb/barelb/nodehelper/report"
)

// told is what this node last told users, as package report decided it, so
// that each thing is told once.
type told struct {
	// announced is the message last told per Service this node announces.
	announced map[string]string
	// ownerless is the explanation last told per group no node owns.
	ownerless map[election.GroupKey]string
	// skipped is what was told of the addresses assigned but not announced.
	skipped report.SkippedState
}

// reporter is this node among the live members, as package report sees it.
func (c *Controller) reporter() report.Node {
	return report.Node{Name: c.o.NodeName, Members: c.members}
}

// recordOwned tells of every Service this node newly announces (see
// report.Node.Owned): those of gained groups and those that joined an owned
// group (a Service sharing an address already announced here). chosen holds
// the interfaces each owned address is announced on.
func (c *Controller) recordOwned(chosen map[netip.Addr][]string, svc func(key string) *corev1.Service) {
	var groups []election.Group
	for _, k := range c.table.Owned(c.o.NodeName) {
		if g, ok := c.table.Group(k); ok {
			groups = append(groups, g)
		}
	}
	var out report.Output
	out, c.told.announced = c.reporter().Owned(groups, chosen, c.outside, c.told.announced)
	c.emit(out, svc)
}

// reportOwnerless tells, once per change of explanation, why no node can
// announce a group; only one member reports each group (see
// report.Node.Ownerless).
func (c *Controller) reportOwnerless(svc func(key string) *corev1.Service) {
	var ownerless []election.Group
	for _, g := range c.table.Groups() {
		if c.table.Owner(g.Key) == "" {
			ownerless = append(ownerless, g)
		}
	}
	excluded := func(k election.GroupKey) map[election.Exclusion][]string {
		cand, _ := c.table.Explain(k)
		return cand.Excluded
	}
	var out report.Output
	out, c.told.ownerless = c.reporter().Ownerless(ownerless, excluded, c.told.ownerless)
	c.emit(out, svc)
}

// warnSkipped tells, once per Service, address and reason, that an assigned
// address is not announced, and sets the condition of a Service none of
// whose addresses is announced (see report.Node.Skipped).
func (c *Controller) warnSkipped(svc func(key string) *corev1.Service) {
	var out report.Output
	out, c.told.skipped = c.reporter().Skipped(c.skipped, c.view.has, c.cfg == nil, c.told.skipped)
	c.emit(out, svc)
}

// emit records out's Events and asks for its conditions, on the Services
// that still exist.
func (c *Controller) emit(out report.Output, svc func(key string) *corev1.Service) {
	for _, e := range out.Events {
		if s := svc(e.Service); s != nil {
			c.o.Events.Eventf(s, e.Type, string(e.Reason), "%s", e.Message)
		}
	}
	for _, cd := range out.Conditions {
		if s := svc(cd.Service); s != nil {
			c.setCondition(s, condition{status: cd.Status, reason: string(cd.Reason), message: cd.Message})
		}
	}
}
