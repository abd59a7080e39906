package cloudprovider

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/barelb/barelb/internal/allocator"
	"github.com/barelb/barelb/internal/contract"
	"github.com/barelb/barelb/internal/lbclass"
	"github.com/barelb/barelb/internal/svcrequest"
)

// The status drift repair.
//
// After start-up the allocator, not the Services' status, is the record of who holds
// which address: Restore adopted every status once, and from then on only
// EnsureLoadBalancer changes an assignment, before the service controller writes it
// into the status. A status can still drift from it: an admin's kubectl patch
// --subresource=status, or a late status write of a deposed CCM leader. The service
// controller does not re-sync a Service on a status-only change, so such a status
// would stay, and two Services could show one address for ever (the node helpers
// announce what the status says). The repair makes every class-less LoadBalancer
// Service's status show exactly what the allocator holds for it:
//
//   - An address in the status that the allocator gives to another Service this one
//     may not share it with (the allow-shared-ip rules of the allocator) is a conflict.
//     The Service that does not hold it is corrected; the holder is never touched.
//   - An address the allocator does not hold for the Service, free or not, is
//     corrected too: the allocator would hand a free address to the next Service that
//     asks, and the two would then show one address. The allocator is the only record
//     that is checked before an address is handed out, so it is the one that wins.
//
// The status becomes the Service's own allocation, or no address when it holds none
// (a Service that lost its address to an older one at start-up, which gets another at
// its next sync). An empty status is left alone: the service controller writes the
// first status of every Service, and a status without an address conflicts with
// nobody.
//
// Races with the service controller's own status write after EnsureLoadBalancer:
//
//   - The wanted status is computed from the allocator when the work item is
//     processed, never from the informer event, so it is never older than what the
//     allocator holds at that moment.
//   - The write is an UpdateStatus with the Service's resourceVersion as read from the
//     informer cache: it fails with a conflict (and the Service is requeued) when
//     anything wrote the Service since, such as the service controller's status patch,
//     so a repair never overwrites a newer status. If the service controller's write
//     comes after the repair, it writes the allocator's addresses too: when the repair
//     read the allocator before EnsureLoadBalancer changed it, the service controller's
//     later write is the newer one and stays.
//   - Between EnsureLoadBalancer moving a Service (a changed pool or requested address)
//     and the service controller writing the new status, the status legitimately shows
//     the old address. EnsureLoadBalancer notes the addresses it returned
//     (statusWrites); until an informer event shows them in the status, for at most
//     statusWriteGrace, the repair waits for the service controller's write instead
//     of writing the same thing with a Warning. Other writes in between (the node
//     helpers' condition, which bumps the resourceVersion within milliseconds) do not
//     end the wait: the first version of this rule did, and recorded a spurious
//     StatusRepaired for a move in one full make test.
//
// Leadership: the cloud-provider app calls Provider.Initialize, which starts the
// provider's controller and with it this repair, from its controller start-up, which
// with --leader-elect runs only in the OnStartedLeading callback, with a context that
// ends when the lease is lost (and the process then exits). So only the leader ever
// writes a repair and no further gate is needed; a deposed leader's last write still in
// flight is a conditional one and fails if the new leader wrote the Service since.

const (
	// driftResync is how often every Service is checked, besides on every change.
	driftResync = 30 * time.Second
	// statusWriteGrace is how long the repair leaves a Service alone whose status the
	// service controller is about to write after EnsureLoadBalancer.
	statusWriteGrace = 5 * time.Second
)

// The values of the reason label of barelb_status_repairs_total.
const (
	repairAddressConflict = "address_conflict"
	repairNotAllocated    = "not_allocated"
)

// allocView is what the repair reads of the allocator.
type allocView interface {
	Assignment(service string) (allocator.Assignment, bool)
	Conflict(req allocator.Request, addr netip.Addr) (holder string, why *allocator.RefusalError)
}

// heldElsewhere is a status address held by another Service this one may not share it with.
type heldElsewhere struct {
	Address netip.Addr
	Holder  string
}

// statusRepair is how a Service's status must change.
type statusRepair struct {
	// Want are the addresses the status must show: the Service's own allocation, or none.
	Want []netip.Addr
	// Conflicts are the status addresses held by Services this one may not share them with.
	Conflicts []heldElsewhere
	// NotAllocated are the other status addresses the allocator does not hold for it.
	NotAllocated []netip.Addr
}

// reason is the metric label of the repair.
func (r statusRepair) reason() string {
	if len(r.Conflicts) > 0 {
		return repairAddressConflict
	}
	return repairNotAllocated
}

// message is the StatusRepaired Event's message, e.g. "status showed 192.0.2.100, held
// by ns/first: wrote 192.0.2.101, the Service's own address".
func (r statusRepair) message() string {
	var parts []string
	for _, c := range r.Conflicts {
		parts = append(parts, fmt.Sprintf("%s, held by %s", c.Address, c.Holder))
	}
	for _, a := range r.NotAllocated {
		parts = append(parts, fmt.Sprintf("%s, not allocated to this Service", a))
	}
	wrote := "no address: the Service holds none, it gets one at its next sync"
	if len(r.Want) == 1 {
		wrote = r.Want[0].String() + ", the Service's own address"
	} else if len(r.Want) > 1 {
		wrote = joinAddrs(r.Want) + ", the Service's own addresses"
	}
	return fmt.Sprintf("status showed %s: wrote %s", strings.Join(parts, "; "), wrote)
}

func joinAddrs(as []netip.Addr) string {
	ss := make([]string, len(as))
	for i, a := range as {
		ss[i] = a.String()
	}
	return strings.Join(ss, " and ")
}

// decideStatus returns how svc's status must change to show what the allocator holds
// for it; ok is false when it needs no change, or is not the repair's to change (not a
// class-less LoadBalancer Service, being deleted, or without an address in its status).
func decideStatus(svc *v1.Service, view allocView, served lbclass.Selector) (r statusRepair, ok bool) {
	if !served.Serves(svc) || svc.DeletionTimestamp != nil {
		return statusRepair{}, false
	}
	claim, ok := svcrequest.Claim(svc, served)
	if !ok {
		return statusRepair{}, false
	}
	shown := svcrequest.IngressAddresses(svc)
	own, _ := view.Assignment(claim.Request.Service)
	if svcrequest.SameAddresses(own.Addresses, shown) {
		return statusRepair{}, false
	}
	r.Want = slices.Clone(own.Addresses)
	for _, a := range shown {
		switch holder, _ := view.Conflict(claim.Request, a); {
		case slices.Contains(own.Addresses, a):
		case holder != "":
			r.Conflicts = append(r.Conflicts, heldElsewhere{Address: a, Holder: holder})
		default:
			r.NotAllocated = append(r.NotAllocated, a)
		}
	}
	return r, true
}

// statusWrites remembers the status writes of the service controller that are due:
// per Service, the addresses EnsureLoadBalancer returned, until the Service's status
// shows them (landed) or statusWriteGrace passed. Other writes to the Service in
// between (the node helpers' Announced condition, an annotation) do not end the wait:
// the service controller's write is still coming. The zero value is ready.
type statusWrites struct {
	mu sync.Mutex
	m  map[string]statusWrite
}

type statusWrite struct {
	addrs []netip.Addr
	at    time.Time
}

// expect notes that the service controller is about to write addrs into svc's status.
func (w *statusWrites) expect(svc *v1.Service, addrs []netip.Addr) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[string]statusWrite{}
	}
	w.m[svcrequest.Key(svc)] = statusWrite{addrs: slices.Clone(addrs), at: time.Now()}
}

// due returns how long to wait for the service controller to write want into svc's
// status; 0 when no such write is due.
func (w *statusWrites) due(svc *v1.Service, want []netip.Addr, now time.Time) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	e, ok := w.m[svcrequest.Key(svc)]
	if !ok || !svcrequest.SameAddresses(e.addrs, want) {
		return 0
	}
	return max(0, e.at.Add(statusWriteGrace).Sub(now))
}

// landed forgets the write due for svc once its status shows the addresses: from
// then on a status that differs is drift, repaired at once.
func (w *statusWrites) landed(svc *v1.Service) {
	w.mu.Lock()
	defer w.mu.Unlock()
	key := svcrequest.Key(svc)
	if e, ok := w.m[key]; ok && svcrequest.SameAddresses(e.addrs, svcrequest.IngressAddresses(svc)) {
		delete(w.m, key)
	}
}

// prune forgets the writes older than statusWriteGrace.
func (w *statusWrites) prune(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, e := range w.m {
		if now.Sub(e.at) >= statusWriteGrace {
			delete(w.m, k)
		}
	}
}

// drift repairs the status of Services, one at a time through a rate-limited queue of
// Service keys ("namespace/name").
type drift struct {
	p        *Provider
	client   kubernetes.Interface
	s        *state
	informer cache.SharedIndexInformer
	queue    workqueue.TypedRateLimitingInterface[string]
}

// startDrift starts the status drift repair over the provider's Service informer and
// returns a function that waits until it has stopped, after ctx ends. The controller
// starts it once the existing assignments are adopted.
func startDrift(ctx context.Context, p *Provider, client kubernetes.Interface, s *state, informer cache.SharedIndexInformer) (stopped func()) {
	d := &drift{
		p:        p,
		client:   client,
		s:        s,
		informer: informer,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "barelb-status-drift"}),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := d.Run(ctx); err != nil {
			klog.FromContext(ctx).Error(err, "Status drift repair stopped")
		}
	}()
	return func() { <-done }
}

// Run checks every Service on each add and update and every driftResync, and repairs
// the status of those that drifted, until ctx ends.
func (d *drift) Run(ctx context.Context) error {
	defer d.queue.ShutDown()
	reg, err := d.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    d.enqueue,
		UpdateFunc: func(_, obj any) { d.enqueue(obj) },
	})
	if err != nil {
		return fmt.Errorf("failed to watch Services for status drift: %w", err)
	}
	defer func() { _ = d.informer.RemoveEventHandler(reg) }()
	var workers sync.WaitGroup
	workers.Add(2)
	go func() {
		defer workers.Done()
		wait.UntilWithContext(ctx, d.enqueueAll, driftResync)
	}()
	go func() {
		defer workers.Done()
		for d.processNext(ctx) {
		}
	}()
	<-ctx.Done()
	d.queue.ShutDown()
	workers.Wait()
	return nil
}

// enqueue queues a Service that may have drifted: a class-less LoadBalancer Service
// with an address in its status.
func (d *drift) enqueue(obj any) {
	svc, ok := obj.(*v1.Service)
	if !ok || !d.p.served.Serves(svc) || len(svc.Status.LoadBalancer.Ingress) == 0 {
		return
	}
	// Here, in the informer's order of events, not in sync: the queue merges
	// events, and sync may see only a later hand edit.
	d.p.writes.landed(svc)
	d.queue.Add(svcrequest.Key(svc))
}

// enqueueAll queues every Service: the safety net for a change no event shows.
func (d *drift) enqueueAll(context.Context) {
	d.p.writes.prune(time.Now())
	for _, obj := range d.informer.GetStore().List() {
		d.enqueue(obj)
	}
}

func (d *drift) processNext(ctx context.Context) bool {
	key, quit := d.queue.Get()
	if quit {
		return false
	}
	defer d.queue.Done(key)
	if err := d.sync(ctx, key); err != nil {
		klog.FromContext(ctx).V(2).Info("Status repair failed, retrying", "service", key, "err", err)
		d.queue.AddRateLimited(key)
		return true
	}
	d.queue.Forget(key)
	return true
}

// sync repairs the status of the Service key if it drifted.
func (d *drift) sync(ctx context.Context, key string) error {
	obj, exists, err := d.informer.GetStore().GetByKey(key)
	if err != nil || !exists {
		return err
	}
	svc, ok := obj.(*v1.Service)
	if !ok {
		return nil
	}
	r, ok := decideStatus(svc, d.s.alloc, d.p.served)
	if !ok {
		return nil
	}
	if left := d.p.writes.due(svc, r.Want, time.Now()); left > 0 {
		d.queue.AddAfter(key, left)
		return nil
	}
	fams, err := svcrequest.Families(svc)
	if err != nil {
		fams = []allocator.Family{allocator.IPv4, allocator.IPv6}
	}
	repaired := svc.DeepCopy()
	repaired.Status.LoadBalancer = *svcrequest.Status(fams, r.Want)
	// The resourceVersion of the cached Service makes this conditional: see the top of the file.
	_, err = d.client.CoreV1().Services(svc.Namespace).UpdateStatus(ctx, repaired, metav1.UpdateOptions{FieldManager: clientName})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case apierrors.IsConflict(err):
		return fmt.Errorf("failed to repair the status, the Service changed: %w", err)
	case err != nil:
		return fmt.Errorf("failed to repair the status: %w", err)
	}
	msg := r.message()
	d.p.metrics.statusRepairs.WithLabelValues(r.reason()).Inc()
	klog.FromContext(ctx).Info("Repaired a drifted Service status", "service", key, "shown", svcrequest.IngressAddresses(svc), "wrote", r.Want, "reason", r.reason())
	d.s.recorder.Event(svc, v1.EventTypeWarning, string(contract.ReasonStatusRepaired), msg)
	return nil
}
