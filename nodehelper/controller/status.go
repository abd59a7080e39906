package controller

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/barelb/barelb/internal/contract"
)

// ConditionAnnounced is contract.ConditionAnnounced, the Service status
// condition through which a user sees which node announces the Service's
// addresses and on which interfaces, or why no node does.
//
// A status condition rather than annotations: it is status, not intent; it
// carries a reason and a transition time; it is written with server-side
// apply on the status subresource, so the node helpers own exactly this one
// condition and never touch the Service's spec or metadata. It is written
// only when ownership or its explanation changes, by the owner (True) or by
// the one member that reports an unannounced address (False): one write per
// failover, none per gossip tick.
const ConditionAnnounced = contract.ConditionAnnounced

// Reasons of ConditionAnnounced: those of internal/contract, as strings.
const (
	ConditionReasonAnnounced        = string(contract.ConditionReasonAnnounced)
	ConditionReasonNoEligibleNode   = string(contract.ConditionReasonNoEligibleNode)
	ConditionReasonNoInterface      = string(contract.ConditionReasonNoInterface)
	ConditionReasonAddressNotInPool = string(contract.ConditionReasonAddressNotInPool)
)

// fieldManager is the node helpers' server-side apply identity; all helpers
// share it, so the newest owner's write simply replaces the previous one's.
const fieldManager = contract.ComponentNodeHelper

// condition is the desired ConditionAnnounced of one Service.
type condition struct {
	status  metav1.ConditionStatus
	reason  string
	message string
}

// statusWriter writes conditions off the control loop, latest state per
// Service first-come, so a slow API server never delays a takeover.
type statusWriter struct {
	client kubernetes.Interface

	mu      sync.Mutex
	written map[string]condition // last written per Service key
	pending map[string]condition
	wake    chan struct{}
}

func newStatusWriter(client kubernetes.Interface) *statusWriter {
	return &statusWriter{client: client, written: map[string]condition{}, pending: map[string]condition{}, wake: make(chan struct{}, 1)}
}

// startStatusWriter starts the writer of the Services' conditions and
// returns the function that stops it and waits for it.
func (c *Controller) startStatusWriter(ctx context.Context) (stop func()) {
	reportClient := c.o.ReportClient
	if reportClient == nil {
		reportClient = c.o.Client
	}
	c.status = newStatusWriter(reportClient)
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		defer close(done)
		c.status.run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
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

// set asks for the Service's condition to become c; it does not block.
func (w *statusWriter) set(key string, c condition) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.written[key] == c {
		delete(w.pending, key)
		return
	}
	w.pending[key] = c
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// forget drops what is remembered of Services that no longer exist.
func (w *statusWriter) forget(exists func(key string) bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for key := range w.written {
		if !exists(key) {
			delete(w.written, key)
		}
	}
	for key := range w.pending {
		if !exists(key) {
			delete(w.pending, key)
		}
	}
}

// run writes pending conditions until ctx ends.
func (w *statusWriter) run(ctx context.Context) {
	log := klog.FromContext(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		}
		w.mu.Lock()
		batch := w.pending
		w.pending = map[string]condition{}
		w.mu.Unlock()
		for key, c := range batch {
			if err := w.apply(ctx, key, c); err != nil {
				log.Error(err, "Failed to write the Service condition", "service", key, "condition", ConditionAnnounced)
				continue
			}
			w.mu.Lock()
			w.written[key] = c
			w.mu.Unlock()
		}
	}
}

func (w *statusWriter) apply(ctx context.Context, key string, c condition) error {
	ns, name := splitKey(key)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ac := corev1ac.Service(name, ns).WithStatus(corev1ac.ServiceStatus().WithConditions(
		metav1ac.Condition().
			WithType(ConditionAnnounced).
			WithStatus(c.status).
			WithReason(c.reason).
			WithMessage(c.message).
			WithLastTransitionTime(metav1.Now()),
	))
	_, err := w.client.CoreV1().Services(ns).ApplyStatus(ctx, ac, metav1.ApplyOptions{FieldManager: fieldManager, Force: true})
	return err
}

func splitKey(key string) (namespace, name string) {
	for i := 0; i < len(key); i++ {
		if key[i] == '/' {
			return key[:i], key[i+1:]
		}
	}
	return "", key
}

// conditionFor returns the Service's current ConditionAnnounced, if any.
func conditionFor(s *corev1.Service) (metav1.Condition, bool) {
	for _, c := range s.Status.Conditions {
		if c.Type == ConditionAnnounced {
			return c, true
		}
	}
	return metav1.Condition{}, false
}
