package controller

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/barelb/barelb/internal/config"
	"github.com/barelb/barelb/internal/kubecache"
	"github.com/barelb/barelb/internal/lastapplied"
	"github.com/barelb/barelb/nodehelper/announce"
	"github.com/barelb/barelb/nodehelper/election"
	"github.com/barelb/barelb/nodehelper/ifaces"
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
	reported     map[election.GroupKey]string
	// announced is the message last recorded per Service this node
	// announces.
	announced map[string]string
	status    *statusWriter
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
	skipped []skippedAddress
	outside map[string][]netip.Addr
	// warned holds the skipped addresses already reported (see warnSkipped);
	// outsideReported the condition message last asked for per Service.
	warned          map[skippedAddress]bool
	outsideReported map[string]string
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
		reported:   map[election.GroupKey]string{},
		warned:     map[skippedAddress]bool{},
		view:       newViewCache(),
		conflicts:  newConflictQueue(),
	}
	c.nodesDirty.Store(true)
	return c, nil
}

// Ready reports whether the caches synced and the node joined the gossip.
func (c *Controller) Ready() bool { return c.ready.Load() }

// listers are the informers' caches.
type listers struct {
	svcs   cache.Indexer
	slices cache.Indexer
	nodes  func() []*corev1.Node
	cm     cache.Store
	// record holds the record of the last applied configuration.
	record cache.Store
}

// sliceServiceIndex indexes EndpointSlices by their Service's key.
const sliceServiceIndex = "service"

// Service returns the Service with the key, or nil.
func (l listers) Service(key string) *corev1.Service {
	obj, ok, _ := l.svcs.GetByKey(key)
	if !ok {
		return nil
	}
	s, _ := obj.(*corev1.Service)
	return s
}

// Slices returns the EndpointSlices of the Service with the key.
func (l listers) Slices(key string) []*discoveryv1.EndpointSlice {
	objs, _ := l.slices.ByIndex(sliceServiceIndex, key)
	out := make([]*discoveryv1.EndpointSlice, 0, len(objs))
	for _, o := range objs {
		if sl, ok := o.(*discoveryv1.EndpointSlice); ok {
			out = append(out, sl)
		}
	}
	return out
}

// ServiceKeys returns the keys of all Services.
func (l listers) ServiceKeys() []string { return l.svcs.ListKeys() }

// serviceKeyOf returns the key of the Service an informer event is about:
// the Service's own, or an EndpointSlice's Service's; "" for anything else.
func serviceKeyOf(obj any) string {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	switch o := obj.(type) {
	case *corev1.Service:
		return o.Namespace + "/" + o.Name
	case *discoveryv1.EndpointSlice:
		return sliceService(o)
	}
	return ""
}

// Run watches Kubernetes, the membership and the links and keeps the
// announcers current until ctx ends. It waits for the caches and for the
// first gossip join before it claims anything, and on return every announcer
// has stopped.
func (c *Controller) Run(ctx context.Context) error {
	log := klog.FromContext(ctx).WithValues("node", c.o.NodeName)
	ctx = klog.NewContext(ctx, log)

	factory := informers.NewSharedInformerFactoryWithOptions(c.o.Client, 0, informers.WithTransform(kubecache.StripManagedFields))
	// By name only: the RBAC grants the configuration and the record of the
	// last applied one by name.
	cmFactory := kubecache.ByName(c.o.Client, c.o.ConfigNamespace, c.o.ConfigName)
	recFactory := kubecache.ByName(c.o.Client, lastapplied.Namespace, lastapplied.Name)
	svcInf := factory.Core().V1().Services()
	sliceInf := factory.Discovery().V1().EndpointSlices()
	nodeInf := factory.Core().V1().Nodes()
	cmInf := cmFactory.Core().V1().ConfigMaps()
	recInf := recFactory.Core().V1().ConfigMaps()

	dirty := make(chan struct{}, 1)
	mark := func() {
		select {
		case dirty <- struct{}{}:
		default:
		}
	}
	// Service and EndpointSlice events mark their Service for the view
	// cache, Node events the Nodes; ConfigMap events only ask for a
	// recompute, which reads the ConfigMap.
	byService := cache.ResourceEventHandlerFuncs{
		AddFunc: func(o any) { c.view.markService(serviceKeyOf(o)); mark() },
		UpdateFunc: func(old, o any) {
			// Both: an EndpointSlice may be relabelled to another Service.
			c.view.markService(serviceKeyOf(old))
			c.view.markService(serviceKeyOf(o))
			mark()
		},
		DeleteFunc: func(o any) { c.view.markService(serviceKeyOf(o)); mark() },
	}
	byNode := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.nodesDirty.Store(true); mark() },
		UpdateFunc: func(any, any) { c.nodesDirty.Store(true); mark() },
		DeleteFunc: func(any) { c.nodesDirty.Store(true); mark() },
	}
	other := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { mark() },
		UpdateFunc: func(any, any) { mark() },
		DeleteFunc: func(any) { mark() },
	}
	if err := sliceInf.Informer().AddIndexers(cache.Indexers{sliceServiceIndex: func(obj any) ([]string, error) {
		if key := serviceKeyOf(obj); key != "" {
			return []string{key}, nil
		}
		return nil, nil
	}}); err != nil {
		return fmt.Errorf("failed to add the EndpointSlice index: %w", err)
	}
	handlers := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{{svcInf.Informer(), byService}, {sliceInf.Informer(), byService}, {nodeInf.Informer(), byNode}, {cmInf.Informer(), other}, {recInf.Informer(), other}}
	for _, x := range handlers {
		if _, err := x.inf.AddEventHandler(x.h); err != nil {
			return fmt.Errorf("failed to add event handler: %w", err)
		}
	}
	factory.Start(ctx.Done())
	cmFactory.Start(ctx.Done())
	recFactory.Start(ctx.Done())
	defer factory.Shutdown()
	defer cmFactory.Shutdown()
	defer recFactory.Shutdown()
	defer c.stopAnnouncers()

	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("failed to sync the %v cache", typ)
		}
	}
	// The record is waited for like the rest: a helper that started electing
	// without it, while the ConfigMap is invalid, would announce BGP pools'
	// addresses (see serviceEntry).
	for _, f := range []informers.SharedInformerFactory{cmFactory, recFactory} {
		for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
			if !ok {
				return fmt.Errorf("failed to sync the %v cache", typ)
			}
		}
	}
	if c.o.OnNodes != nil {
		nodes, _ := nodeInf.Lister().List(labels.Everything())
		c.o.OnNodes(nodes)
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
	reportClient := c.o.ReportClient
	if reportClient == nil {
		reportClient = c.o.Client
	}
	c.status = newStatusWriter(reportClient)
	statusDone := make(chan struct{})
	statusCtx, stopStatus := context.WithCancel(ctx)
	go func() {
		defer close(statusDone)
		c.status.run(statusCtx)
	}()
	defer func() {
		stopStatus()
		<-statusDone
	}()

	l := listers{
		svcs:   svcInf.Informer().GetIndexer(),
		slices: sliceInf.Informer().GetIndexer(),
		nodes: func() []*corev1.Node {
			n, _ := nodeInf.Lister().List(labels.Everything())
			return n
		},
		cm:     cmInf.Informer().GetStore(),
		record: recInf.Informer().GetStore(),
	}
	c.members = c.o.Members.Members()
	c.refreshMembers()
	c.refreshReach(ctx)
	c.recompute(ctx, l)
	// Kubernetes changes are batched: a recompute reads every cache, and
	// during a burst (a thousand Services created at once) recomputing per
	// event would spend the node's CPU for nothing. Membership changes,
	// the failover path, are never delayed.
	last := time.Now()
	batch := time.NewTimer(0)
	<-batch.C
	batching := false
	// due reports whether a change may be handled now; if it is too soon
	// after the last one, it arms the batch timer (once) instead.
	due := func() bool {
		wait := recomputeInterval - time.Since(last)
		if wait <= 0 {
			return true
		}
		if !batching {
			batch.Reset(wait)
			batching = true
		}
		return false
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-dirty:
			if due() {
				c.recompute(ctx, l)
				last = time.Now()
			}
		case <-batch.C:
			batching = false
			c.recompute(ctx, l)
			if c.linksChanged {
				// The view did not change, so recompute applied nothing.
				c.apply(ctx, l, nil)
			}
			last = time.Now()
		case <-c.o.Members.Changes():
			c.memberChangeAt = time.Now()
			c.refreshMembers()
			c.membersChanged(ctx, l)
		case <-c.conflicts.wake:
			c.handleConflicts(ctx, l.Service)
		case <-c.o.Links.Changes():
			// Addresses added to lo or kube-ipvs0 by kube-proxy change
			// nothing here but arrive by the thousand: batch them too.
			c.linksChanged = true
			if due() {
				c.apply(ctx, l, nil)
				last = time.Now()
			}
		}
		c.reapAnnouncers(ctx)
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
