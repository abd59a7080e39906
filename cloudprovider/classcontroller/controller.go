package classcontroller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	cloud "k8s.io/cloud-provider"
	"k8s.io/cloud-provider/api"
	servicehelper "k8s.io/cloud-provider/service/helpers"
	"k8s.io/klog/v2"

	"github.com/barelb/barelb/internal/lbclass"
)

// Finalizer is the finalizer the controller puts on a Service before it asks
// for a load balancer and removes once the load balancer is deleted. It is not
// the stock service controller's service.kubernetes.io/load-balancer-cleanup:
// that controller cleans up every Service carrying its finalizer whatever the
// class, so with the same name both controllers would race on the deletion of
// every Service of our class.
const Finalizer = "barelb.io/load-balancer-cleanup"

// The reasons of the Events on Services: those of the stock service controller,
// so that what users and tools read stays the same.
const (
	ReasonEnsuring     = "EnsuringLoadBalancer"
	ReasonEnsured      = "EnsuredLoadBalancer"
	ReasonSyncFailed   = "SyncLoadBalancerFailed"
	ReasonDeleting     = "DeletingLoadBalancer"
	ReasonDeleted      = "DeletedLoadBalancer"
	ReasonDeleteFailed = "DeleteLoadBalancerFailed"
)

// Options are the controller's settings and dependencies.
type Options struct {
	// Class is the spec.loadBalancerClass served; it must not be empty.
	Class string
	// ClusterName is passed to the load balancer (--cluster-name).
	ClusterName string
	// Client reads Services and Nodes and writes Services and Events.
	Client kubernetes.Interface
	// Balancer is the provider's load balancer; its methods are called
	// concurrently, never twice at once for one Service.
	Balancer cloud.LoadBalancer
	// Workers is the number of Services synced at once; at least 1.
	Workers int
	// EventSource is the source component of the Events.
	EventSource string
}

// Controller serves the Services of one class. Create it with New and run
// it with Run.
type Controller struct {
	o     Options
	sel   lbclass.Selector
	queue workqueue.TypedRateLimitingInterface[string]
}

// New returns a controller; it starts nothing.
func New(o Options) (*Controller, error) {
	sel := lbclass.Selector{Class: o.Class, SkipClassless: true}
	if o.Class == "" {
		return nil, errors.New("failed to create the class controller: no class")
	}
	if err := sel.Validate(); err != nil {
		return nil, fmt.Errorf("failed to create the class controller: %w", err)
	}
	if o.Workers < 1 {
		o.Workers = 1
	}
	return &Controller{
		o:   o,
		sel: sel,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Second, 5*time.Minute),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "barelb-class"}),
	}, nil
}

// wanted reports whether the controller has to look at svc at all: it is of
// the class, or carries the controller's finalizer (a Service whose type
// changed away from LoadBalancer loses its class and must be cleaned up).
func (c *Controller) wanted(svc *v1.Service) bool {
	return c.sel.Serves(svc) || slices.Contains(svc.Finalizers, Finalizer)
}

// needsSync reports whether an update from old to cur can change what the
// load balancer is asked: not a change of status only (the controller's own
// status write, the node helpers' condition).
func needsSync(old, cur *v1.Service) bool {
	return old.UID != cur.UID ||
		!apiequality.Semantic.DeepEqual(old.Spec, cur.Spec) ||
		!apiequality.Semantic.DeepEqual(old.Annotations, cur.Annotations) ||
		!slices.Equal(old.Finalizers, cur.Finalizers) ||
		(old.DeletionTimestamp == nil) != (cur.DeletionTimestamp == nil)
}

// Run watches Services and Nodes and syncs the Services of the class until
// ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx).WithName("class").WithValues("class", c.o.Class)
	ctx = klog.NewContext(ctx, logger)
	defer c.queue.ShutDown()

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartStructuredLogging(4)
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.o.Client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	recorder := broadcaster.NewRecorder(scheme.Scheme, v1.EventSource{Component: c.o.EventSource})

	factory := informers.NewSharedInformerFactory(c.o.Client, 0)
	services := factory.Core().V1().Services()
	nodes := factory.Core().V1().Nodes()
	if _, err := services.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if svc, ok := obj.(*v1.Service); ok && c.wanted(svc) {
				c.enqueue(svc)
			}
		},
		UpdateFunc: func(old, cur any) {
			o, ok1 := old.(*v1.Service)
			s, ok2 := cur.(*v1.Service)
			if ok1 && ok2 && (c.wanted(o) || c.wanted(s)) && needsSync(o, s) {
				c.enqueue(s)
			}
		},
	}); err != nil {
		return fmt.Errorf("failed to watch Services: %w", err)
	}
	nodes.Informer() // registered before Start
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), services.Informer().HasSynced, nodes.Informer().HasSynced) {
		return fmt.Errorf("failed to sync the informers: %w", ctx.Err())
	}
	logger.Info("Serving the LoadBalancer Services of the class")

	s := &syncer{c: c, recorder: recorder, services: services.Lister(), nodes: nodes.Lister()}
	var wg sync.WaitGroup
	for range c.o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s.processNext(ctx) {
			}
		}()
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
	return nil
}

func (c *Controller) enqueue(svc *v1.Service) {
	c.queue.Add(svc.Namespace + "/" + svc.Name)
}

// syncer is what the workers share once the caches synced.
type syncer struct {
	c        *Controller
	recorder record.EventRecorder
	services corelisters.ServiceLister
	nodes    corelisters.NodeLister
}

func (s *syncer) processNext(ctx context.Context) bool {
	key, quit := s.c.queue.Get()
	if quit {
		return false
	}
	defer s.c.queue.Done(key)
	err := s.sync(ctx, key)
	var re *api.RetryError
	switch {
	case err == nil:
		s.c.queue.Forget(key)
	case errors.As(err, &re):
		klog.FromContext(ctx).V(2).Info("Retrying Service", "service", key, "after", re.RetryAfter(), "err", err)
		s.c.queue.AddAfter(key, re.RetryAfter())
	default:
		klog.FromContext(ctx).Error(err, "Failed to sync Service; retrying with backoff", "service", key)
		s.c.queue.AddRateLimited(key)
	}
	return true
}

// sync brings one Service's load balancer, finalizer and status in line
// with its spec. A Service gone from the cache needs nothing: while the
// controller served it, it carried the finalizer, so its deletion came
// through here first.
func (s *syncer) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := s.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("failed to read Service %s: %w", key, err)
	}
	svc := cached.DeepCopy()
	hasFinalizer := slices.Contains(svc.Finalizers, Finalizer)
	switch {
	case hasFinalizer && (svc.DeletionTimestamp != nil || !s.c.sel.Serves(svc)):
		return s.cleanUp(ctx, svc)
	case s.c.sel.Serves(svc) && svc.DeletionTimestamp == nil:
		return s.ensure(ctx, svc)
	default:
		return nil
	}
}

// ensure adds the finalizer, asks for the load balancer and writes its status.
func (s *syncer) ensure(ctx context.Context, svc *v1.Service) error {
	s.recorder.Event(svc, v1.EventTypeNormal, ReasonEnsuring, "ensuring the load balancer")
	if !slices.Contains(svc.Finalizers, Finalizer) {
		updated := svc.DeepCopy()
		updated.Finalizers = append(updated.Finalizers, Finalizer)
		if _, err := servicehelper.PatchService(s.c.o.Client.CoreV1(), svc, updated); err != nil {
			return s.failed(svc, fmt.Errorf("failed to add the finalizer %s: %w", Finalizer, err))
		}
	}
	status, err := s.c.o.Balancer.EnsureLoadBalancer(ctx, s.c.o.ClusterName, svc, s.nodeList())
	if err != nil {
		return s.failed(svc, fmt.Errorf("failed to ensure the load balancer: %w", err))
	}
	if status == nil {
		return s.failed(svc, errors.New("failed to ensure the load balancer: the provider returned no status"))
	}
	s.recorder.Event(svc, v1.EventTypeNormal, ReasonEnsured, "the load balancer is ensured")
	if servicehelper.LoadBalancerStatusEqual(&svc.Status.LoadBalancer, status) {
		return nil
	}
	updated := svc.DeepCopy()
	updated.Status.LoadBalancer = *status
	if _, err := servicehelper.PatchService(s.c.o.Client.CoreV1(), svc, updated); err != nil && !apierrors.IsNotFound(err) {
		return s.failed(svc, fmt.Errorf("failed to write the load balancer status: %w", err))
	}
	return nil
}

// cleanUp deletes the load balancer, then clears the status and removes
// the finalizer.
func (s *syncer) cleanUp(ctx context.Context, svc *v1.Service) error {
	_, exists, err := s.c.o.Balancer.GetLoadBalancer(ctx, s.c.o.ClusterName, svc)
	if err != nil {
		return s.failed(svc, fmt.Errorf("failed to look up the load balancer before deleting it: %w", err))
	}
	if exists {
		s.recorder.Event(svc, v1.EventTypeNormal, ReasonDeleting, "deleting the load balancer")
		if err := s.c.o.Balancer.EnsureLoadBalancerDeleted(ctx, s.c.o.ClusterName, svc); err != nil {
			err = fmt.Errorf("failed to delete the load balancer: %w", err)
			s.recorder.Event(svc, v1.EventTypeWarning, ReasonDeleteFailed, err.Error())
			return err
		}
	}
	updated := svc.DeepCopy()
	updated.Finalizers = slices.DeleteFunc(updated.Finalizers, func(f string) bool { return f == Finalizer })
	updated.Status.LoadBalancer = v1.LoadBalancerStatus{}
	if _, err := servicehelper.PatchService(s.c.o.Client.CoreV1(), svc, updated); err != nil && !apierrors.IsNotFound(err) {
		return s.failed(svc, fmt.Errorf("failed to remove the finalizer %s: %w", Finalizer, err))
	}
	s.recorder.Event(svc, v1.EventTypeNormal, ReasonDeleted, "the load balancer is deleted")
	return nil
}

// failed records SyncLoadBalancerFailed and returns err.
func (s *syncer) failed(svc *v1.Service, err error) error {
	s.recorder.Event(svc, v1.EventTypeWarning, ReasonSyncFailed, err.Error())
	return err
}

// nodeList is the Nodes given to the load balancer: not being deleted and
// not excluded by the exclusion label (lbclass.ExcludedNode).
func (s *syncer) nodeList() []*v1.Node {
	all, err := s.nodes.List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*v1.Node
	for _, n := range all {
		if n.DeletionTimestamp != nil || lbclass.ExcludedNode(n.Labels) {
			continue
		}
		out = append(out, n)
	}
	return out
}
