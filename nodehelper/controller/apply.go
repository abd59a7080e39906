package controller

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/klog/v2"

	"github.com/barelb/barelb/nodehelper/election"
	"github.com/barelb/barelb/nodehelper/ifaces"
)

// EventSink records Events; k8s.io/client-go/tools/record.EventRecorder is
// one. It must not block.
type EventSink interface {
	Eventf(obj runtime.Object, eventtype, reason, messageFmt string, args ...any)
}

// Event reasons the node helper records on Services.
const (
	// ReasonNodeAssigned: this node announces the Service's address.
	ReasonNodeAssigned = "nodeAssigned"
	// ReasonNotAnnounced: no node can announce the address; the message says
	// why, per class of node.
	ReasonNotAnnounced = "NotAnnounced"
	// ReasonNoInterface: the owner found no interface to answer on.
	ReasonNoInterface = "NoInterface"
	// ReasonBGPNotSupported: the address is from a BGP pool and is not
	// announced.
	ReasonBGPNotSupported = "BGPNotSupported"
)

// recompute reads the caches and elects every group afresh.
// Nothing is recomputed when nothing the election reads changed: most
// Service updates (finalizers, status conditions, annotations barelb does not
// read) arrive on every helper and change no entry of the view.
func (c *Controller) recompute(ctx context.Context, l listers) {
	if c.readConfig(ctx, l) {
		c.view.markAll()
	}
	viewChanged := c.view.refresh(l, c.cfg)
	nodesChanged := c.nodesDirty.Swap(false)
	if c.computed && !viewChanged && !nodesChanged {
		return
	}
	c.computed = true
	infos, bgp := c.view.snapshot()
	c.bgp = bgp
	if nodesChanged {
		k8sNodes := l.nodes()
		c.nodes = c.nodes[:0]
		for _, n := range k8sNodes {
			c.nodes = append(c.nodes, nodeInfo(n))
		}
		if c.o.OnNodes != nil {
			c.o.OnNodes(k8sNodes)
		}
	}
	changes := c.table.Recompute(election.View{Nodes: c.nodes, Services: infos, Members: c.members})
	c.apply(ctx, l, changes)
}

// apply hands each announcer the addresses this node owns on its interface,
// starting announcers for new interfaces, and records what changed.
func (c *Controller) apply(ctx context.Context, l listers, changes election.Changes) {
	log := klog.FromContext(ctx)
	chooser := ifaces.NewChooser(c.o.Links.Snapshot(), c.o.NodeAddr, c.o.Filter)
	perLink := map[string][]netip.Addr{}
	chosen := map[netip.Addr][]string{}
	var owned int
	for _, k := range c.table.Owned(c.o.NodeName) {
		g, _ := c.table.Group(k)
		for _, a := range g.Addresses {
			owned++
			names, reason := chooser.Choose(a)
			if !reason.OK() {
				log.Info("No interface to announce on", "address", a, "reason", reason.String())
				continue
			}
			chosen[a] = names
			for _, n := range names {
				perLink[n] = append(perLink[n], a)
			}
		}
	}
	for name, addrs := range perLink {
		if _, ok := c.announcers[name]; !ok {
			if err := c.startAnnouncer(ctx, name); err != nil {
				log.Error(err, "Failed to start announcer", "interface", name)
				continue
			}
		}
		c.announcers[name].a.SetOwned(addrs)
	}
	for name, ra := range c.announcers {
		if _, ok := perLink[name]; !ok {
			ra.a.SetOwned(nil)
		}
	}
	c.o.Metrics.observe(len(c.members), owned, len(changes))

	gained, lost := changes.For(c.o.NodeName)
	if len(gained) > 0 && !c.memberChangeAt.IsZero() {
		c.o.Metrics.observeFailover(time.Since(c.memberChangeAt))
	}
	c.memberChangeAt = time.Time{}
	if len(gained)+len(lost) > 0 {
		log.Info("Ownership changed", "gained", keysString(gained), "lost", keysString(lost))
	}
	c.recordOwned(chosen, l.Service)
	c.reportOwnerless(l.Service)
	c.warnBGP(l.Service)
	if c.status != nil && len(changes) > 0 {
		c.status.forget(func(key string) bool { return l.Service(key) != nil })
	}
}

// recordOwned records nodeAssigned, and sets the Announced condition, on
// every Service this node newly announces: those of gained groups and those
// that joined an owned group (a Service sharing an address already
// announced here).
func (c *Controller) recordOwned(chosen map[netip.Addr][]string, svc func(key string) *corev1.Service) {
	now := map[string]string{}
	for _, k := range c.table.Owned(c.o.NodeName) {
		g, ok := c.table.Group(k)
		if !ok {
			continue
		}
		var parts []string
		for _, a := range g.Addresses {
			if names := chosen[a]; len(names) > 0 {
				parts = append(parts, fmt.Sprintf("%s on %s", a, strings.Join(names, ",")))
			}
		}
		msg := fmt.Sprintf("announcing %s from node %s", strings.Join(parts, ", "), c.o.NodeName)
		if len(parts) == 0 {
			msg = fmt.Sprintf("node %s owns %s but has no interface to announce it on", c.o.NodeName, addrsString(g.Addresses))
		}
		for _, key := range g.Services {
			now[key] = msg
			if c.announced[key] == msg {
				continue
			}
			s := svc(key)
			if s == nil {
				continue
			}
			if len(parts) == 0 {
				c.o.Events.Eventf(s, corev1.EventTypeWarning, ReasonNoInterface, "%s", msg)
				c.setCondition(s, condition{status: metav1.ConditionFalse, reason: ConditionReasonNoInterface, message: msg})
				continue
			}
			c.o.Events.Eventf(s, corev1.EventTypeNormal, ReasonNodeAssigned, "%s", msg)
			c.setCondition(s, condition{status: metav1.ConditionTrue, reason: ConditionReasonAnnounced, message: msg})
		}
	}
	c.announced = now
}

// setCondition asks for s's ConditionAnnounced to become cond, unless it
// already is.
func (c *Controller) setCondition(s *corev1.Service, cond condition) {
	if c.status == nil {
		return
	}
	if cur, ok := conditionFor(s); ok && cur.Status == cond.status && cur.Reason == cond.reason && cur.Message == cond.message {
		return
	}
	c.status.set(s.Namespace+"/"+s.Name, cond)
}

// reportOwnerless records, once per change of explanation, why no node can
// announce a group. Only one member reports each group (the one with the
// highest weight for it among the live members), so N helpers do not write N
// copies of the same Event.
func (c *Controller) reportOwnerless(svc func(key string) *corev1.Service) {
	seen := map[election.GroupKey]bool{}
	for _, g := range c.table.Groups() {
		if c.table.Owner(g.Key) != "" || reporter(c.members, g.Key) != c.o.NodeName {
			continue
		}
		seen[g.Key] = true
		cand, _ := c.table.Explain(g.Key)
		msg := explain(g, cand)
		if c.reported[g.Key] == msg {
			continue
		}
		c.reported[g.Key] = msg
		for _, key := range g.Services {
			if s := svc(key); s != nil {
				c.o.Events.Eventf(s, corev1.EventTypeWarning, ReasonNotAnnounced, "%s", msg)
				c.setCondition(s, condition{status: metav1.ConditionFalse, reason: ConditionReasonNoEligibleNode, message: msg})
			}
		}
	}
	for k := range c.reported {
		if !seen[k] {
			delete(c.reported, k)
		}
	}
}

// explain states why no node announces g, per class of node.
func explain(g election.Group, cand election.GroupCandidates) string {
	var reasons []election.Exclusion
	for r := range cand.Excluded {
		reasons = append(reasons, r)
	}
	sort.Slice(reasons, func(i, j int) bool { return reasons[i] < reasons[j] })
	var parts []string
	for _, r := range reasons {
		parts = append(parts, fmt.Sprintf("%s: %s", r, strings.Join(cand.Excluded[r], ", ")))
	}
	if len(parts) == 0 {
		parts = append(parts, "no nodes")
	}
	return fmt.Sprintf("no node can announce %s: %s", addrsString(g.Addresses), strings.Join(parts, "; "))
}

// warnBGP records, once per Service and address, that a BGP pool's address
// is not announced. One member reports each address.
func (c *Controller) warnBGP(svc func(key string) *corev1.Service) {
	for _, b := range c.bgp {
		id := b.Service + "|" + b.Addr.String()
		if c.bgpWarned[id] || reporter(c.members, election.GroupKey(b.Addr)) != c.o.NodeName {
			continue
		}
		c.bgpWarned[id] = true
		if s := svc(b.Service); s != nil {
			c.o.Events.Eventf(s, corev1.EventTypeWarning, ReasonBGPNotSupported, "%s is from BGP pool %q: BGP is not supported by barelb, the address is assigned but not announced", b.Addr, b.Pool)
		}
	}
}

// reporter is the member that reports on group k: the one with the highest
// rendezvous weight, ties to the name that sorts first.
func reporter(members []string, k election.GroupKey) string {
	best, bestW := "", uint64(0)
	for _, m := range members {
		if w := election.Weight(m, k); best == "" || w > bestW || (w == bestW && m < best) {
			best, bestW = m, w
		}
	}
	return best
}

func keysString(ks []election.GroupKey) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = k.String()
	}
	return strings.Join(s, ",")
}

func addrsString(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}
