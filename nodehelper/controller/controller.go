package controller

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sort"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/barelb/barelb/internal/config"
	"github.com/barelb/barelb/internal/lbclass"
	"github.com/barelb/barelb/nodehelper/announce"
	"github.com/barelb/barelb/nodehelper/election"
	"github.com/barelb/barelb/nodehelper/ifaces"
	"github.com/barelb/barelb/nodehelper/report"
)

// recomputeInterval is the shortest time between two recomputes caused by
// Kubernetes changes.
const recomputeInterval = 50 * time.Millisecond

// Membership is the gossip membership the controller follows. Its methods
// must not block.
type Membership interface {
	// Joined is closed once the first join completed; nothing is claimed
	// before.
	Joined() <-chan struct{}
	// Members returns the names of the live members, the local node included.
	Members() []string
	// Changes receives a value, coalesced, after the member list changed.
	Changes() <-chan struct{}
}

// Links is the node's view of its network interfaces. Its methods must not
// block.
type Links interface {
	// Snapshot returns the current links.
	Snapshot() []ifaces.Link
	// Changes receives a value, coalesced, after links or addresses changed.
	Changes() <-chan struct{}
}

// Announcer serves the owned addresses on one interface (see package
// announce). SetOwned must not block and is called from one goroutine.
type Announcer interface {
	SetOwned(addrs []netip.Addr)
	// SetMembers gives the live gossip members' MACs, whose claims on an
	// address are not conflicts; it must not block.
	SetMembers(macs []net.HardwareAddr)
	// ProbeFirst asks that addresses the next SetOwned gains be probed
	// before they are announced; it must not block.
	ProbeFirst(addrs []netip.Addr)
	Run(ctx context.Context) error
	// Stats returns the announcer's counters; it must not block.
	Stats() announce.Stats
}

// Options are the controller's settings and dependencies.
type Options struct {
	// NodeName is this node's Kubernetes name and gossip member name.
	NodeName string
	// NodeAddr is the node's own address, the fallback for choosing links.
	NodeAddr netip.Addr
	// ConfigMap is the configuration's namespace, name and data key.
	ConfigNamespace, ConfigName, ConfigKey string
	// Filter holds the operator's interface allow and deny lists.
	Filter ifaces.Filter
	// IgnoreExcludeLabel makes Nodes labelled ExcludeLabel candidates like any
	// other: for single-node and control-plane-only clusters, where kubeadm or
	// Talos label every node and no node could announce otherwise.
	IgnoreExcludeLabel bool
	// Served are the Services announced, by type and loadBalancerClass; the
	// zero value announces the class-less LoadBalancer Services. It must be
	// the CCM's (the same --load-balancer-class and --serve-classless).
	Served lbclass.Selector

	Client kubernetes.Interface
	// ReportClient writes the Services' Announced conditions; default
	// Client. Give it a rate limit of its own so that reports never hold up
	// the rest.
	ReportClient kubernetes.Interface
	Members      Membership
	Links        Links
	// NewAnnouncer makes the announcer of an interface; it reports address
	// conflicts to onConflict, which does not block.
	NewAnnouncer func(ifi *net.Interface, onConflict func(announce.Conflict)) Announcer
	// MemberMACs, if set, returns the MACs the live gossip members publish
	// (see PublishLinks); it must not block.
	MemberMACs func() []net.HardwareAddr
	// MemberReach, if set, returns the reach the live gossip members
	// publish, this node's included (see PublishLinks); the election
	// prefers the nodes that can announce an address on its subnet. It
	// must not block.
	MemberReach func() map[string]ifaces.Reach
	// PublishLinks, if set, publishes to the gossip the MACs of the links
	// this node may announce on and its reach (what it can announce on);
	// MemberReach returns the latter at once. It must not block.
	PublishLinks func(macs []net.HardwareAddr, reach ifaces.Reach)
	// Events records Events on Services and the ConfigMap.
	Events EventSink
	// Metrics may be nil.
	Metrics *Metrics
	// OnNodes, if set, receives the Node list once the caches synced (before
	// the controller waits for the gossip join) and after every change: the
	// gossip joins through the Nodes' addresses. It must not block.
	OnNodes func(nodes []*corev1.Node)
}

// Controller is the node helper's control loop. Create it with New and run it
// with Run.
type Controller struct {
	o     Options
	ready atomic.Bool

	table   election.Table
	members []string
	cfg     *config.Config
	// cfgText is cfg's source text, cfgSource where it came from, and
	// cfgVersion the resourceVersions of the ConfigMap and the record last
	// read (see readConfig).
	cfgText    string
	cfgSource  configSource
	cfgVersion string
	announcers map[string]*runningAnnouncer
	// stopping are announcers retired by retireStale, until they finish.
	stopping []*runningAnnouncer
	// linksChanged is set when the links changed and cleared by apply,
	// which reads them.
	linksChanged bool
	// told is what this node last told users (see reporting.go); status
	// writes the Services' conditions.
	told   told
	status *statusWriter
	// view is the election input of every Service, rebuilt per change.
	view *viewCache
	// nodesDirty is set by the Node informer; nodes is the election's view
	// of the Nodes, rebuilt when it is set.
	nodesDirty atomic.Bool
	nodes      []election.NodeInfo
	// computed is set after the first recompute; until then one always runs.
	computed bool
	// skipped are the assigned but unannounced addresses found by the last
	// recompute; outside are those of them in no layer2 pool, per Service.
	skipped []report.Skipped
	outside map[string][]netip.Addr
	// memberChangeAt is when the last membership change was noticed, for the
	// failover-time histogram.
	memberChangeAt time.Time
	// conflicts are the announcers' conflict reports (conflict.go);
	// memberMACs the members' MACs last handed to the announcers, and
	// published the MACs and reach last published.
	conflicts  *conflictQueue
	memberMACs []net.HardwareAddr
	published  string
	// reach is the members' reach last given to the election.
	reach map[string]ifaces.Reach
	// interfaceByName is net.InterfaceByName; a test replaces it to run
	// announcers on links that do not exist.
	interfaceByName func(name string) (*net.Interface, error)
}

// New checks the options; it starts nothing.
func New(o Options) (*Controller, error) {
	var errs []error
	if o.NodeName == "" {
		errs = append(errs, errors.New("node name is required"))
	}
	if o.Client == nil || o.Members == nil || o.Links == nil || o.NewAnnouncer == nil || o.Events == nil {
		errs = append(errs, errors.New("client, members, links, announcer factory and event sink are required"))
	}
	if o.ConfigNamespace == "" || o.ConfigName == "" || o.ConfigKey == "" {
		errs = append(errs, errors.New("config map namespace, name and key are required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c := &Controller{
		o:          o,
		announcers: map[string]*runningAnnouncer{},
		view:       newViewCache(),
		conflicts:  newConflictQueue(),

		interfaceByName: net.InterfaceByName,
	}
	c.view.served = o.Served
	c.nodesDirty.Store(true)
	return c, nil
}

// Ready reports whether the caches synced and the node joined the gossip.
func (c *Controller) Ready() bool { return c.ready.Load() }

// Run watches Kubernetes, the membership and the links and keeps the
// announcers current until ctx ends. It waits for the caches and for the
// first gossip join before it claims anything, and on return every announcer
// has stopped.
func (c *Controller) Run(ctx context.Context) error {
	log := klog.FromContext(ctx).WithValues("node", c.o.NodeName)
	ctx = klog.NewContext(ctx, log)

	dirty := make(chan struct{}, 1)
	w, err := c.newWatch(dirty)
	if err != nil {
		return err
	}
	w.start(ctx)
	defer w.shutdown()
	defer c.stopAnnouncers()
	if err := w.waitForSync(ctx); err != nil {
		return err
	}
	l := w.listers()
	if c.o.OnNodes != nil {
		c.o.OnNodes(l.nodes())
	}
	// The MACs and reach go with the join, so that no peer takes a
	// stranger's claim for a conflict or elects this node for an address
	// it cannot announce.
	links := c.o.Links.Snapshot()
	c.publishLinks(links, ifaces.NewChooser(links, c.o.NodeAddr, c.o.Filter))
	log.Info("Caches synced; waiting for the first gossip join")
	select {
	case <-ctx.Done():
		return nil
	case <-c.o.Members.Joined():
	}
	log.Info("Joined the gossip; electing")
	c.ready.Store(true)
	defer c.ready.Store(false)
	defer c.startStatusWriter(ctx)()

	c.members = c.o.Members.Members()
	c.refreshMembers()
	c.refreshReach(ctx)
	c.recompute(ctx, l)
	c.loop(ctx, l, dirty)
	return nil
}

// loop handles the changes until ctx ends. Kubernetes and link changes are
// batched (see batcher); membership changes, the failover path, are never
// delayed.
func (c *Controller) loop(ctx context.Context, l listers, dirty <-chan struct{}) {
	timer := time.NewTimer(0)
	<-timer.C
	defer timer.Stop()
	b := newBatcher(recomputeInterval, time.Now, func(wait time.Duration) { timer.Reset(wait) })
	for {
		select {
		case <-ctx.Done():
			return
		case <-dirty:
			c.kubernetesChanged(ctx, l, b)
		case <-timer.C:
			c.batchDue(ctx, l, b)
		case <-c.o.Members.Changes():
			c.memberChangeAt = time.Now()
			c.refreshMembers()
			c.membersChanged(ctx, l)
		case <-c.conflicts.wake:
			c.handleConflicts(ctx, l.Service)
		case <-c.o.Links.Changes():
			c.linksChangedNow(ctx, l, b)
		}
		c.reapAnnouncers(ctx)
	}
}

// kubernetesChanged recomputes after a change of the caches, unless b holds
// it for later.
func (c *Controller) kubernetesChanged(ctx context.Context, l listers, b *batcher) {
	if b.due() {
		c.recompute(ctx, l)
		b.handled()
	}
}

// batchDue handles the changes b held: a recompute, and an apply for the
// links when the view did not change (then recompute applied nothing).
func (c *Controller) batchDue(ctx context.Context, l listers, b *batcher) {
	b.fired()
	c.recompute(ctx, l)
	if c.linksChanged {
		c.apply(ctx, l, nil)
	}
	b.handled()
}

// linksChangedNow applies the new links, unless b holds them for later:
// addresses added to lo or kube-ipvs0 by kube-proxy change nothing here but
// arrive by the thousand.
func (c *Controller) linksChangedNow(ctx context.Context, l listers, b *batcher) {
	c.linksChanged = true
	if b.due() {
		c.apply(ctx, l, nil)
		b.handled()
	}
}

// membersChanged feeds the membership difference to the table, which moves
// only the groups that must move.
func (c *Controller) membersChanged(ctx context.Context, l listers) {
	now := c.o.Members.Members()
	sort.Strings(now)
	joined, left := diffSorted(c.members, now)
	c.members = now
	var changes election.Changes
	for _, m := range left {
		changes = append(changes, c.table.MemberLeft(m)...)
	}
	for _, m := range joined {
		changes = append(changes, c.table.MemberJoined(m)...)
	}
	// A member's reach changed (a link of its went down or up), or one
	// that left took its reach along.
	changes = changes.Then(c.refreshReach(ctx))
	klog.FromContext(ctx).V(2).Info("Membership changed", "joined", joined, "left", left, "changes", len(changes))
	c.apply(ctx, l, changes)
}

// diffSorted returns what b has that a lacks, and what a has that b lacks.
func diffSorted(a, b []string) (added, removed []string) {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i] < b[j]):
			removed = append(removed, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			added = append(added, b[j])
			j++
		default:
			i++
			j++
		}
	}
	return added, removed
}
