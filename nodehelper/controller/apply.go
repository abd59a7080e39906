package controller

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/klog/v2"

	"github.com/barelb/barelb/internal/contract"
	"github.com/barelb/barelb/nodehelper/election"
	"github.com/barelb/barelb/nodehelper/ifaces"
	"github.com/barelb/barelb/nodehelper/report"
)

// EventSink records Events; k8s.io/client-go/tools/record.EventRecorder is
// one. It must not block.
type EventSink interface {
	Eventf(obj runtime.Object, eventtype, reason, messageFmt string, args ...any)
}

// Event reasons the node helper records on Services: those of
// internal/contract, as the strings EventSink takes.
const (
	ReasonNodeAssigned     = string(contract.ReasonNodeAssigned)
	ReasonNotAnnounced     = string(contract.ReasonNotAnnounced)
	ReasonNoInterface      = string(contract.ReasonNoInterface)
	ReasonBGPNotSupported  = string(contract.ReasonBGPNotSupported)
	ReasonAddressNotInPool = string(contract.ReasonAddressNotInPool)
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
	infos, skipped := c.view.snapshot()
	c.skipped, c.outside = skipped, outsideByService(skipped)
	if nodesChanged {
		k8sNodes := l.nodes()
		c.nodes = c.nodes[:0]
		for _, n := range k8sNodes {
			c.nodes = append(c.nodes, nodeInfo(n, c.o.IgnoreExcludeLabel))
		}
		if c.o.OnNodes != nil {
			c.o.OnNodes(k8sNodes)
		}
	}
	changes := c.table.Recompute(election.View{Nodes: c.nodes, Services: infos, Members: c.members, Reach: c.reach})
	c.apply(ctx, l, changes)
}

// apply hands each announcer the addresses this node owns on its interface,
// starting announcers for new interfaces, and records what changed.
func (c *Controller) apply(ctx context.Context, l listers, changes election.Changes) {
	log := klog.FromContext(ctx)
	c.linksChanged = false
	links := c.o.Links.Snapshot()
	c.retireStale(ctx, links)
	chooser := ifaces.NewChooser(links, c.o.NodeAddr, c.o.Filter)
	if c.publishLinks(links, chooser) {
		// This node's reach changed: it may have to yield groups to a
		// peer with a better link for them, or take some back.
		changes = changes.Then(c.refreshReach(ctx))
	}
	// Groups that get their first owner (new, or ownerless until now) are
	// probed before they are announced; takeovers from a member are not,
	// so that failover is not slowed.
	first := map[election.GroupKey]bool{}
	for _, ch := range changes {
		if ch.To == c.o.NodeName && ch.From == "" {
			first[ch.Group] = true
		}
	}
	probeFirst := map[string][]netip.Addr{}
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
				if first[k] {
					probeFirst[n] = append(probeFirst[n], a)
				}
			}
		}
	}
	for name, addrs := range perLink {
		if _, ok := c.announcers[name]; !ok {
			i := slices.IndexFunc(links, func(l ifaces.Link) bool { return l.Name == name })
			if i < 0 {
				continue // the chooser picks only links of the snapshot
			}
			if err := c.startAnnouncer(ctx, links[i]); err != nil {
				log.Error(err, "Failed to start announcer", "interface", name)
				continue
			}
		}
		if p := probeFirst[name]; len(p) > 0 {
			c.announcers[name].a.ProbeFirst(p)
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
	c.warnSkipped(l.Service)
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
		ann := contract.Announcement{Node: c.o.NodeName}
		for _, a := range g.Addresses {
			if names := chosen[a]; len(names) > 0 {
				ann.Addresses = append(ann.Addresses, contract.AnnouncedAddress{Addr: a, Interfaces: names})
			}
		}
		msg := contract.FormatAnnouncement(ann)
		if len(ann.Addresses) == 0 {
			msg = report.NoInterface(c.o.NodeName, g.Addresses)
		}
		for _, key := range g.Services {
			svcMsg := msg
			if out := c.outside[key]; len(out) > 0 && len(ann.Addresses) > 0 {
				// Its other addresses are in no layer2 pool: say so here,
				// the one condition the Service has.
				svcMsg = contract.FormatAnnouncement(contract.Announcement{Node: ann.Node, Addresses: ann.Addresses, NotInPool: out})
			}
			now[key] = svcMsg
			if c.announced[key] == svcMsg {
				continue
			}
			s := svc(key)
			if s == nil {
				continue
			}
			if len(ann.Addresses) == 0 {
				c.o.Events.Eventf(s, corev1.EventTypeWarning, ReasonNoInterface, "%s", svcMsg)
				c.setCondition(s, condition{status: metav1.ConditionFalse, reason: ConditionReasonNoInterface, message: svcMsg})
				continue
			}
			c.o.Events.Eventf(s, corev1.EventTypeNormal, ReasonNodeAssigned, "%s", svcMsg)
			c.setCondition(s, condition{status: metav1.ConditionTrue, reason: ConditionReasonAnnounced, message: svcMsg})
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
		msg := report.NoEligibleNode(g.Addresses, cand.Excluded)
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

// warnSkipped records, once per Service, address and reason, that an
// assigned address is not announced: BGPNotSupported for a BGP pool's,
// AddressNotInPool for one outside every layer2 pool. One member reports
// each address. A Service none of whose addresses is announced, and with
// some outside every layer2 pool, also gets its Announced condition False,
// written by the member that reports its first such address (a Service with
// some announced address gets the owner's condition, which names the
// others: see recordOwned).
func (c *Controller) warnSkipped(svc func(key string) *corev1.Service) {
	warned := make(map[skippedAddress]bool, len(c.warned))
	for _, sk := range c.skipped {
		if c.warned[sk] {
			warned[sk] = true
			continue
		}
		if reporter(c.members, election.GroupKey(sk.Addr)) != c.o.NodeName {
			continue
		}
		warned[sk] = true
		s := svc(sk.Service)
		if s == nil {
			continue
		}
		if sk.Reason == skipBGP {
			c.o.Events.Eventf(s, corev1.EventTypeWarning, ReasonBGPNotSupported, "%s", contract.BGPNotSupportedMessage(sk.Addr, sk.Pool))
			continue
		}
		c.o.Events.Eventf(s, corev1.EventTypeWarning, ReasonAddressNotInPool, "%s", report.NotInPool(sk.Reason == skipNoConfig, []netip.Addr{sk.Addr}))
	}
	c.warned = warned

	reported := make(map[string]string, len(c.outsideReported))
	for key, out := range c.outside {
		if c.view.has(key) || reporter(c.members, election.GroupKey(out[0])) != c.o.NodeName {
			continue
		}
		msg := report.NotInPool(c.cfg == nil, out)
		reported[key] = msg
		if c.outsideReported[key] == msg {
			continue
		}
		if s := svc(key); s != nil {
			c.setCondition(s, condition{status: metav1.ConditionFalse, reason: ConditionReasonAddressNotInPool, message: msg})
		}
	}
	c.outsideReported = reported
}

// outsideByService returns the addresses of skipped outside every layer2
// pool, per Service, in the order given.
func outsideByService(skipped []skippedAddress) map[string][]netip.Addr {
	out := map[string][]netip.Addr{}
	for _, sk := range skipped {
		if sk.Reason == skipNotInPool || sk.Reason == skipNoConfig {
			out[sk.Service] = append(out[sk.Service], sk.Addr)
		}
	}
	return out
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
