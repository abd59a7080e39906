package cloudprovider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/barelb/barelb/internal/allocator"
	"github.com/barelb/barelb/internal/config"
	"github.com/barelb/barelb/internal/contract"
	"github.com/barelb/barelb/internal/kubecache"
	"github.com/barelb/barelb/internal/lastapplied"
	"github.com/barelb/barelb/internal/svcrequest"
)

// serviceGetter finds a Service by namespace and name (an informer's lister).
type serviceGetter interface {
	Get(namespace, name string) (*v1.Service, error)
}

type listerGetter struct{ l corelisters.ServiceLister }

func (g listerGetter) Get(namespace, name string) (*v1.Service, error) {
	return g.l.Services(namespace).Get(name)
}

// controller is the provider's own loop: it watches the config ConfigMap and applies
// it, and at start adopts the existing assignments. It writes Events, and the record of
// the last applied configuration (see saveRecord).
type controller struct {
	p      *Provider
	client kubernetes.Interface
	ref    ConfigMapRef

	// changed is signalled (never blocking) by the ConfigMap informer; the loop then
	// re-reads the ConfigMap from the informer's cache, so no change is lost.
	changed chan struct{}
	// applied is the ConfigMap data last applied or rejected, to skip no-op resyncs.
	applied *string
	// uid is the ConfigMap's UID last seen, for an Event after it is deleted.
	uid types.UID
	// orphans are the orphaned addresses already reported.
	orphans map[allocator.Orphan]bool
	// missingReported is set once a missing ConfigMap has been reported.
	missingReported bool
	// unsaved is the applied configuration not yet in the record, nil when there is none.
	unsaved *lastapplied.Record
	// saveFailed is the source whose failure to be saved was last reported, and
	// saveBackoff how long to wait before the next try.
	saveFailed  lastapplied.Source
	saveBackoff time.Duration
}

// eventMessageLimit bounds the message of barelb's Events on the ConfigMap. The core/v1
// API validates no length, but an Event must fit in one etcd request (1.5 MiB by
// default) and the API server's request body limit (3 MiB): the errors of 40,000 bad
// ranges run to 3.5 MB, and such an Event is refused, so the user saw nothing. 1024
// bytes is the limit events.k8s.io/v1 sets for a note, and what kubectl shows in one
// screen; barelbctl validate lists every error.
const eventMessageLimit = 1024

// logSummaryLimit bounds the errors written in one log line.
const logSummaryLimit = 4096

func newController(p *Provider, client kubernetes.Interface) *controller {
	return &controller{
		p:       p,
		client:  client,
		ref:     p.cloudConfig.ConfigMap,
		changed: make(chan struct{}, 1),
	}
}

func (c *controller) signal() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// Run syncs the informers, loads the configuration, adopts the existing assignments,
// marks the provider ready, and then applies every configuration change until ctx ends.
func (c *controller) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx)

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartStructuredLogging(4)
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	recorder := broadcaster.NewRecorder(scheme.Scheme, v1.EventSource{Component: clientName})

	svcFactory := informers.NewSharedInformerFactoryWithOptions(c.client, 0, informers.WithTransform(kubecache.StripManagedFields))
	services := svcFactory.Core().V1().Services()
	svcInformer := services.Informer()
	cmFactory := kubecache.ByName(c.client, c.ref.Namespace, c.ref.Name)
	configMaps := cmFactory.Core().V1().ConfigMaps()
	if _, err := configMaps.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.signal() },
		UpdateFunc: func(any, any) { c.signal() },
		DeleteFunc: func(any) { c.signal() },
	}); err != nil {
		return fmt.Errorf("failed to watch the config ConfigMap: %w", err)
	}
	svcFactory.Start(ctx.Done())
	cmFactory.Start(ctx.Done())
	defer svcFactory.Shutdown()
	defer cmFactory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), svcInformer.HasSynced, configMaps.Informer().HasSynced) {
		return fmt.Errorf("failed to sync the informers: %w", ctx.Err())
	}

	s := &state{recorder: recorder, services: listerGetter{services.Lister()}}
	cfg := c.load(ctx, s, configMaps.Lister())
	if cfg == nil {
		// The ConfigMap is invalid or missing: the restore below must run with the
		// pools of the last applied configuration, or every address it holds would
		// be orphaned and every new Service refused.
		cfg = c.fromRecord(ctx, s)
	}
	if cfg == nil {
		cfg = &config.Config{}
	}
	s.cfg.Store(cfg)
	s.alloc = allocator.New(cfg)
	svcs, err := services.Lister().List(labels.Everything())
	if err != nil {
		return fmt.Errorf("failed to list Services: %w", err)
	}
	c.restore(ctx, s, svcs)
	c.reportOrphans(ctx, s, s.alloc.Orphans())
	c.p.markReady(s)
	logger.Info("barelb is ready", "services", len(svcs))
	c.saveRecord(ctx, s)
	defer startDrift(ctx, c.p, c.client, s, svcInformer)()

	for {
		var retrySave <-chan time.Time
		if c.unsaved != nil {
			retrySave = time.After(c.saveBackoff)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.changed:
		case <-retrySave:
		}
		if cfg := c.load(ctx, s, configMaps.Lister()); cfg != nil {
			s.cfg.Store(cfg)
			c.reportOrphans(ctx, s, s.alloc.SetConfig(cfg))
		}
		c.saveRecord(ctx, s)
	}
}

// restore adopts the addresses in the status of every LoadBalancer Service the provider serves.
// On a conflict the older Service keeps the address; the other gets an Event and, at its
// next sync, another address. Services being deleted are adopted last, so they never
// win a conflict: one of them may still show an address in its status that a live
// Service got after the deleting one released it (the service controller removes the
// finalizer after EnsureLoadBalancerDeleted, and a crash can fall in between).
func (c *controller) restore(ctx context.Context, s *state, svcs []*v1.Service) {
	logger := klog.FromContext(ctx)
	var live, deleting []allocator.Claim
	for _, svc := range svcs {
		claim, ok := svcrequest.Claim(svc, c.p.served)
		switch {
		case !ok:
		case svc.DeletionTimestamp != nil:
			deleting = append(deleting, claim)
		default:
			live = append(live, claim)
		}
	}
	errs := append(s.alloc.Restore(live), s.alloc.Restore(deleting)...)
	for _, err := range errs {
		logger.Error(err, "Failed to adopt an address")
		var ce *allocator.ClaimError
		if errors.As(err, &ce) {
			ns, name, _ := strings.Cut(ce.Service, "/")
			if svc, gerr := s.services.Get(ns, name); gerr == nil {
				s.recorder.Event(svc, v1.EventTypeWarning, string(contract.ReasonAddressConflict), err.Error())
			}
		}
	}
	logger.Info("Adopted existing assignments", "claims", len(live)+len(deleting), "conflicts", len(errs))
}

// reportOrphans records AddressOrphaned on each Service that holds an address that
// has become orphaned since the last report.
func (c *controller) reportOrphans(ctx context.Context, s *state, orphans []allocator.Orphan) {
	reported := c.orphans
	c.orphans = make(map[allocator.Orphan]bool, len(orphans))
	for _, o := range orphans {
		c.orphans[o] = true
		if reported[o] {
			continue
		}
		klog.FromContext(ctx).Info("Address orphaned", "service", o.Service, "address", o.Address)
		ns, name, _ := strings.Cut(o.Service, "/")
		if svc, err := s.services.Get(ns, name); err == nil {
			s.recorder.Event(svc, v1.EventTypeWarning, string(contract.ReasonAddressOrphaned), orphanMessage(o.Address))
		}
	}
}

// load reads and parses the ConfigMap. It returns the configuration to apply, or nil
// when there is nothing new to apply (unchanged, missing, or invalid: then the last
// good configuration stays, with an Event and barelb_config_stale set).
func (c *controller) load(ctx context.Context, s *state, lister corelisters.ConfigMapLister) *config.Config {
	logger := klog.FromContext(ctx).WithValues("configmap", c.ref.Namespace+"/"+c.ref.Name, "key", c.ref.Key)
	cm, err := lister.ConfigMaps(c.ref.Namespace).Get(c.ref.Name)
	if apierrors.IsNotFound(err) {
		if !c.missingReported {
			msg := fmt.Sprintf("ConfigMap %s/%s not found: the last good configuration stays in use", c.ref.Namespace, c.ref.Name)
			logger.Info("Config ConfigMap missing; keeping the last good configuration")
			s.recorder.Event(c.objectRef(), v1.EventTypeWarning, string(contract.ReasonConfigMissing), msg)
			c.missingReported = true
		}
		c.applied = nil
		return nil
	}
	if err != nil {
		logger.Error(err, "Failed to read the config ConfigMap")
		return nil
	}
	c.uid = cm.UID
	c.missingReported = false
	data, ok := cm.Data[c.ref.Key]
	if c.applied != nil && ok && *c.applied == data {
		return nil
	}
	if !ok {
		c.applied = nil
		msg := fmt.Sprintf("ConfigMap has no key %q: the last good configuration stays in use", c.ref.Key)
		logger.Info("Config key missing; keeping the last good configuration")
		s.recorder.Event(cm, v1.EventTypeWarning, string(contract.ReasonConfigMissing), msg)
		return nil
	}
	c.applied = &data
	cfg, warnings, err := config.ParseConfigMapData(cm.Data, c.ref.Key)
	if err != nil {
		c.p.metrics.configStale.Set(1)
		logger.Error(errors.New(config.Summary(err, logSummaryLimit)), "Invalid configuration, not applied; the last good configuration stays in use",
			"errors", config.ErrorCount(err))
		s.recorder.Event(cm, v1.EventTypeWarning, string(contract.ReasonInvalidConfig), invalidMessage(err))
		return nil
	}
	for _, w := range warnings {
		logger.Info("Configuration warning", "warning", w)
		s.recorder.Event(cm, v1.EventTypeWarning, string(contract.ReasonConfigWarning), fmt.Sprint(w))
	}
	c.p.metrics.configStale.Set(0)
	now := time.Now()
	c.p.metrics.configLastReload.Set(float64(now.Unix()))
	if rec, ok := lastapplied.FromConfigMap(cm, c.ref.Key, now); ok {
		c.unsaved = &rec
	}
	logger.Info("Configuration loaded", "pools", len(cfg.Pools))
	s.recorder.Event(cm, v1.EventTypeNormal, string(contract.ReasonConfigLoaded), fmt.Sprintf("configuration applied: %d pools", len(cfg.Pools)))
	return cfg
}

// invalidMessagePrefix starts the InvalidConfig Event's message.
const invalidMessagePrefix = "configuration not applied, the last good one stays in use: "

// invalidMessage is the InvalidConfig Event's message for err: as many errors as fit
// in eventMessageLimit, then how many more there are.
func invalidMessage(err error) string {
	return invalidMessagePrefix + config.Summary(err, eventMessageLimit-len(invalidMessagePrefix))
}

// objectRef refers to the config ConfigMap when the object itself is gone.
func (c *controller) objectRef() *v1.ObjectReference {
	return &v1.ObjectReference{Kind: "ConfigMap", APIVersion: "v1", Namespace: c.ref.Namespace, Name: c.ref.Name, UID: c.uid}
}
