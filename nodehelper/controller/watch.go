package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	corev1inf "k8s.io/client-go/informers/core/v1"
	discoveryv1inf "k8s.io/client-go/informers/discovery/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/barelb/barelb/internal/kubecache"
	"github.com/barelb/barelb/internal/lastapplied"
)

// watch is the controller's informers: Services, EndpointSlices and Nodes,
// and by name the configuration ConfigMap and the record of the last
// applied configuration.
type watch struct {
	factory, cmFactory, recFactory informers.SharedInformerFactory

	svcs   corev1inf.ServiceInformer
	slices discoveryv1inf.EndpointSliceInformer
	nodes  corev1inf.NodeInformer
	cm     corev1inf.ConfigMapInformer
	record corev1inf.ConfigMapInformer
}

// newWatch sets up the informers, whose events mark the view cache and send
// to dirty (coalesced); it starts nothing.
func (c *Controller) newWatch(dirty chan struct{}) (*watch, error) {
	w := &watch{
		factory: informers.NewSharedInformerFactoryWithOptions(c.o.Client, 0, informers.WithTransform(kubecache.StripManagedFields)),
		// By name only: the RBAC grants the configuration and the record
		// of the last applied one by name.
		cmFactory:  kubecache.ByName(c.o.Client, c.o.ConfigNamespace, c.o.ConfigName),
		recFactory: kubecache.ByName(c.o.Client, lastapplied.Namespace, lastapplied.Name),
	}
	w.svcs = w.factory.Core().V1().Services()
	w.slices = w.factory.Discovery().V1().EndpointSlices()
	w.nodes = w.factory.Core().V1().Nodes()
	w.cm = w.cmFactory.Core().V1().ConfigMaps()
	w.record = w.recFactory.Core().V1().ConfigMaps()

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
	if err := w.slices.Informer().AddIndexers(cache.Indexers{sliceServiceIndex: func(obj any) ([]string, error) {
		if key := serviceKeyOf(obj); key != "" {
			return []string{key}, nil
		}
		return nil, nil
	}}); err != nil {
		return nil, fmt.Errorf("failed to add the EndpointSlice index: %w", err)
	}
	handlers := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{{w.svcs.Informer(), byService}, {w.slices.Informer(), byService}, {w.nodes.Informer(), byNode}, {w.cm.Informer(), other}, {w.record.Informer(), other}}
	for _, x := range handlers {
		if _, err := x.inf.AddEventHandler(x.h); err != nil {
			return nil, fmt.Errorf("failed to add event handler: %w", err)
		}
	}
	return w, nil
}

// start starts the informers until ctx ends.
func (w *watch) start(ctx context.Context) {
	for _, f := range w.all() {
		f.Start(ctx.Done())
	}
}

// shutdown waits for the informers to stop.
func (w *watch) shutdown() {
	for _, f := range w.all() {
		f.Shutdown()
	}
}

func (w *watch) all() []informers.SharedInformerFactory {
	return []informers.SharedInformerFactory{w.factory, w.cmFactory, w.recFactory}
}

// waitForSync waits for every cache. The record is waited for like the
// rest: a helper that started electing without it, while the ConfigMap is
// invalid, would announce BGP pools' addresses (see serviceEntry).
func (w *watch) waitForSync(ctx context.Context) error {
	for _, f := range w.all() {
		for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
			if !ok {
				return fmt.Errorf("failed to sync the %v cache", typ)
			}
		}
	}
	return nil
}

// listers returns the caches.
func (w *watch) listers() listers {
	return listers{
		svcs:   w.svcs.Informer().GetIndexer(),
		slices: w.slices.Informer().GetIndexer(),
		nodes: func() []*corev1.Node {
			n, _ := w.nodes.Lister().List(labels.Everything())
			return n
		},
		cm:     w.cm.Informer().GetStore(),
		record: w.record.Informer().GetStore(),
	}
}

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
