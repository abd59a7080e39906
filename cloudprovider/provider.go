package cloudprovider

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/record"
	cloud "k8s.io/cloud-provider"
	"k8s.io/klog/v2"

	"github.com/barelb/barelb/internal/allocator"
	"github.com/barelb/barelb/internal/config"
	"github.com/barelb/barelb/internal/contract"
	"github.com/barelb/barelb/internal/lbclass"
	"github.com/barelb/barelb/internal/svcrequest"
)

// ProviderName is the name barelb registers under: --cloud-provider=barelb.
const ProviderName = "barelb"

// clientName is the user agent of barelb's own API clients (informers, events)
// and the source of its Events.
const clientName = contract.ComponentCCM

// pendingRetry is how soon the service controller retries a Service that got no
// address. See (*loadBalancer).EnsureLoadBalancer for why barelb polls instead of
// letting the controller back off.
const pendingRetry = time.Second

var _ cloud.Interface = (*Provider)(nil)

// errNotReady is returned (wrapped in a retry error) before the provider has adopted
// the existing assignments.
var errNotReady = errors.New("barelb is starting: the existing assignments are not adopted yet")

// NewFactory returns the cloud.Factory of barelb, reporting to m and serving the
// Services served selects. The binary registers it once its flags are parsed:
// cloud.RegisterCloudProvider(ProviderName, NewFactory(m, served)). The factory
// reads the --cloud-config file (see CloudConfig).
func NewFactory(m *Metrics, served lbclass.Selector) cloud.Factory {
	return func(r io.Reader) (cloud.Interface, error) {
		cc, err := ParseCloudConfig(r)
		if err != nil {
			return nil, err
		}
		return New(cc, m, served), nil
	}
}

// Provider is the barelb cloud provider. Only its LoadBalancer is supported.
// New starts nothing; Initialize starts the informers and adopts existing assignments.
type Provider struct {
	cloudConfig CloudConfig
	metrics     *Metrics
	// served are the Services whose addresses the provider adopts and repairs.
	served lbclass.Selector

	// ready is closed once the state below it is set and the existing assignments are adopted.
	ready    chan struct{}
	initOnce sync.Once
	state    *state

	// pendingMu guards pending.
	pendingMu sync.Mutex
	// pending holds the Services that got no address, with the message last reported
	// to them, so that a Service that stays pending is told once, not every retry.
	pending map[string]pendingService

	// writes are the status writes of the service controller that are due (see drift.go).
	writes statusWrites
}

// state is what the provider learns in Initialize; it is set once before ready closes.
type state struct {
	alloc    *allocator.Allocator
	recorder record.EventRecorder
	services serviceGetter
	// cfg is the configuration in use (the last good one).
	cfg atomic.Pointer[config.Config]
}

// New returns a provider for the given cloud config, reporting to m, serving
// the Services served selects (the class-less ones by the stock service
// controller, those of served.Class by package classcontroller).
func New(cc CloudConfig, m *Metrics, served lbclass.Selector) *Provider {
	return &Provider{
		cloudConfig: cc,
		metrics:     m,
		served:      served,
		ready:       make(chan struct{}),
		pending:     make(map[string]pendingService),
	}
}

// Initialize starts the informers for Services and the config ConfigMap, and, once
// they are synced, adopts every address in the status of a class-less LoadBalancer
// Service before anything is allocated. Until then the load balancer methods return a
// retry error. Everything started here ends when stop closes.
func (p *Provider) Initialize(clientBuilder cloud.ControllerClientBuilder, stop <-chan struct{}) {
	p.initOnce.Do(func() {
		ctx := wait.ContextForChannel(stop)
		logger := klog.FromContext(ctx).WithName(ProviderName)
		client, err := clientBuilder.Client(clientName)
		if err != nil {
			logger.Error(err, "Failed to build a client; barelb stays not ready")
			return
		}
		c := newController(p, client)
		go func() {
			if err := c.Run(klog.NewContext(ctx, logger)); err != nil {
				logger.Error(err, "barelb controller stopped")
			}
		}()
	})
}

// LoadBalancer returns the barelb load balancer.
func (p *Provider) LoadBalancer() (cloud.LoadBalancer, bool) {
	return &loadBalancer{p: p}, true
}

// ProviderName returns "barelb".
func (p *Provider) ProviderName() string { return ProviderName }

// HasClusterID returns true: barelb needs no cluster ID, so it never lacks one.
func (p *Provider) HasClusterID() bool { return true }

// readyState returns the state once the provider is ready, or a retry error.
func (p *Provider) readyState() (*state, error) {
	select {
	case <-p.ready:
		return p.state, nil
	default:
		return nil, retryError(errNotReady.Error())
	}
}

// markReady publishes s; the load balancer methods work from now on.
func (p *Provider) markReady(s *state) {
	p.state = s
	p.metrics.pools.setSource(s.alloc)
	close(p.ready)
}

// pendingService is the last failure reported to a Service.
type pendingService struct {
	uid types.UID // a re-created Service is told again
	msg string
}

// notePending records that svc got no address with msg. It returns true when
// msg is news to the Service (first failure, or a different one).
func (p *Provider) notePending(svc *v1.Service, msg string) bool {
	p.pendingMu.Lock()
	defer p.pendingMu.Unlock()
	key := svcrequest.Key(svc)
	last, ok := p.pending[key]
	if ok && last.uid == svc.UID && last.msg == msg {
		return false
	}
	p.pending[key] = pendingService{uid: svc.UID, msg: msg}
	return true
}

// clearPending forgets a Service's failure.
func (p *Provider) clearPending(service string) {
	p.pendingMu.Lock()
	defer p.pendingMu.Unlock()
	delete(p.pending, service)
}
