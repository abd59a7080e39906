package cloudprovider

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	v1 "k8s.io/api/core/v1"
	cloud "k8s.io/cloud-provider"
	"k8s.io/cloud-provider/api"
	"k8s.io/klog/v2"

	"github.com/barelb/barelb/internal/allocator"
	"github.com/barelb/barelb/internal/config"
	"github.com/barelb/barelb/internal/contract"
	"github.com/barelb/barelb/internal/svcrequest"
)

var _ cloud.LoadBalancer = (*loadBalancer)(nil)

// loadBalancer implements cloud.LoadBalancer over the allocator. Its methods are
// called by the service controller's workers concurrently (never twice at once for
// one Service); the allocator serialises what they share.
type loadBalancer struct {
	p *Provider
}

// retryError asks the service controller to retry after pendingRetry rather than
// with its exponential backoff.
func retryError(msg string) error {
	return api.NewRetryError(msg, pendingRetry)
}

// GetLoadBalancer reports the addresses the allocator holds for the Service: it
// exists exactly when it holds some. The service controller only deletes a load
// balancer that exists, so this must not guess.
func (lb *loadBalancer) GetLoadBalancer(ctx context.Context, clusterName string, svc *v1.Service) (*v1.LoadBalancerStatus, bool, error) {
	s, err := lb.p.readyState()
	if err != nil {
		return nil, false, err
	}
	a, ok := s.alloc.Assignment(svcrequest.Key(svc))
	if !ok || len(a.Addresses) == 0 {
		// The service controller asks before it cleans up: a Service that was
		// pending needs no more reports.
		lb.p.clearPending(svcrequest.Key(svc))
		return nil, false, nil
	}
	fams, err := svcrequest.Families(svc)
	if err != nil {
		fams = []allocator.Family{allocator.IPv4, allocator.IPv6}
	}
	return svcrequest.Status(fams, a.Addresses), true, nil
}

// GetLoadBalancerName returns the upstream default name; barelb creates no named object.
func (lb *loadBalancer) GetLoadBalancerName(ctx context.Context, clusterName string, svc *v1.Service) string {
	return cloud.DefaultLoadBalancerName(svc)
}

// EnsureLoadBalancer allocates the Service's addresses (or confirms those it holds,
// or moves it when its request changed) and returns its status.
//
// A Service that gets no address is retried every pendingRetry through a retry
// error. The service controller only re-syncs a Service when the Service changes or
// its retry comes due, and its default retry backs off exponentially from 5 s to
// 5 min; a pool being added or another Service being deleted does not touch this
// Service. Polling the allocator once a second is cheap (a refused attempt does not
// scan the pool) and needs neither a write to the user's Service nor a second writer
// of its status, so the service controller stays the only owner of both.
func (lb *loadBalancer) EnsureLoadBalancer(ctx context.Context, clusterName string, svc *v1.Service, nodes []*v1.Node) (*v1.LoadBalancerStatus, error) {
	s, err := lb.p.readyState()
	if err != nil {
		return nil, err
	}
	key := svcrequest.Key(svc)
	logger := klog.FromContext(ctx).WithValues("service", key)
	req, err := svcrequest.For(svc)
	if err != nil {
		// Only an edit of the Service can fix this, and an edit re-syncs it.
		lb.refused(svc, s, "InvalidService", err.Error())
		return nil, err
	}
	a, err := s.alloc.Allocate(req)
	if err != nil {
		var re *allocator.RefusalError
		reason := "Unknown"
		if errors.As(err, &re) {
			reason = re.Reason.String()
		}
		lb.refused(svc, s, reason, err.Error())
		logger.V(2).Info("No address for Service", "reason", reason, "err", err)
		return nil, retryError(err.Error())
	}
	lb.p.clearPending(key)
	if !svcrequest.SameAddresses(a.Addresses, svcrequest.IngressAddresses(svc)) {
		lb.allocated(svc, s, a)
		lb.p.writes.expect(svc, a.Addresses)
		logger.Info("Assigned addresses", "pool", a.Pool, "addresses", a.Addresses)
	}
	return svcrequest.Status(req.Families, a.Addresses), nil
}

// UpdateLoadBalancer re-validates the Service against what it holds. barelb has no
// per-node state: the node helpers answer for the addresses on their own.
func (lb *loadBalancer) UpdateLoadBalancer(ctx context.Context, clusterName string, svc *v1.Service, nodes []*v1.Node) error {
	s, err := lb.p.readyState()
	if err != nil {
		return err
	}
	if _, err := svcrequest.For(svc); err != nil {
		return err
	}
	if _, ok := s.alloc.Assignment(svcrequest.Key(svc)); !ok {
		return retryError(fmt.Sprintf("%s holds no address", svcrequest.Key(svc)))
	}
	return nil
}

// EnsureLoadBalancerDeleted releases the Service's addresses. Services waiting for an
// address get a released one at their next retry.
func (lb *loadBalancer) EnsureLoadBalancerDeleted(ctx context.Context, clusterName string, svc *v1.Service) error {
	s, err := lb.p.readyState()
	if err != nil {
		return err
	}
	key := svcrequest.Key(svc)
	lb.p.clearPending(key)
	if s.alloc.Release(key) {
		klog.FromContext(ctx).Info("Released addresses", "service", key)
	}
	return nil
}

// refused reports a failed allocation once per distinct message: a Warning Event
// AllocationFailed on the Service and the failure counter.
func (lb *loadBalancer) refused(svc *v1.Service, s *state, reason, msg string) {
	if !lb.p.notePending(svc, msg) {
		return
	}
	lb.p.metrics.allocationFailures.WithLabelValues(reason).Inc()
	s.recorder.Event(svc, v1.EventTypeWarning, string(contract.ReasonAllocationFailed), msg)
}

// allocated records IPAllocated on the Service; a Warning for a BGP pool, whose
// addresses nothing announces.
func (lb *loadBalancer) allocated(svc *v1.Service, s *state, a allocator.Assignment) {
	msg := allocatedMessage(a, poolProtocol(s.cfg.Load(), a.Pool))
	typ := v1.EventTypeNormal
	if poolProtocol(s.cfg.Load(), a.Pool) == config.BGP {
		typ = v1.EventTypeWarning
	}
	s.recorder.Event(svc, typ, string(contract.ReasonIPAllocated), msg)
}

// allocatedMessage is the IPAllocated message: "assigned 198.51.100.3 from pool my-ip-space".
func allocatedMessage(a allocator.Assignment, proto config.Protocol) string {
	addrs := make([]string, len(a.Addresses))
	for i, x := range a.Addresses {
		addrs[i] = x.String()
	}
	if proto == config.BGP {
		return fmt.Sprintf("assigned %s from BGP pool %s: BGP is not supported, the address is not announced", strings.Join(addrs, " and "), a.Pool)
	}
	return fmt.Sprintf("assigned %s from pool %s", strings.Join(addrs, " and "), a.Pool)
}

// poolProtocol returns the protocol of the named pool; empty when cfg has no such pool.
func poolProtocol(cfg *config.Config, pool string) config.Protocol {
	if cfg == nil {
		return ""
	}
	for _, p := range cfg.Pools {
		if p.Name == pool {
			return p.Protocol
		}
	}
	return ""
}

// orphanMessage is the AddressOrphaned message.
func orphanMessage(a netip.Addr) string {
	return fmt.Sprintf("%s is in no pool of the configuration any more: the Service keeps it until it is deleted, it is never handed to another Service, and the node helpers no longer announce it", a)
}
