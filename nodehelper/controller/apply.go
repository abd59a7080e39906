package controller

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"time"

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
	c.skipped, c.outside = skipped, report.Outside(skipped)
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

func keysString(ks []election.GroupKey) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = k.String()
	}
	return strings.Join(s, ",")
}
