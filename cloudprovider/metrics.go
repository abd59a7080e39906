package cloudprovider

import (
	"net/netip"
	"strconv"
	"sync"

	"k8s.io/component-base/metrics"

	"github.com/barelb/barelb/internal/allocator"
)

// Metrics are the provider's metrics. Create them with NewMetrics, register
// Registerables and Collectors (the binary uses the legacy registry the CCM's secure port serves on /metrics),
// and hand them to NewFactory.
type Metrics struct {
	allocationFailures *metrics.CounterVec
	configStale        *metrics.Gauge
	configLastReload   *metrics.Gauge
	statusRepairs      *metrics.CounterVec
	pools              *poolCollector
}

// NewMetrics creates the provider's metrics, unregistered.
func NewMetrics() *Metrics {
	return &Metrics{
		allocationFailures: metrics.NewCounterVec(&metrics.CounterOpts{
			Name:           "barelb_allocation_failures_total",
			Help:           "Number of times a Service was refused an address, by reason; a Service that stays pending for the same reason counts once.",
			StabilityLevel: metrics.ALPHA,
		}, []string{"reason"}),
		configStale: metrics.NewGauge(&metrics.GaugeOpts{
			Name:           "barelb_config_stale",
			Help:           "1 when the configuration in the ConfigMap is invalid and the last good configuration is in use, else 0.",
			StabilityLevel: metrics.ALPHA,
		}),
		configLastReload: metrics.NewGauge(&metrics.GaugeOpts{
			Name:           "barelb_config_last_reload_timestamp_seconds",
			Help:           "Unix time of the last successful load of the configuration.",
			StabilityLevel: metrics.ALPHA,
		}),
		statusRepairs: metrics.NewCounterVec(&metrics.CounterOpts{
			Name:           "barelb_status_repairs_total",
			Help:           "Number of Service statuses barelb corrected to what the allocator holds, by reason: address_conflict (the status showed an address held by another Service) or not_allocated (an address not allocated to the Service).",
			StabilityLevel: metrics.ALPHA,
		}, []string{"reason"}),
		pools: newPoolCollector(),
	}
}

// Registerables returns the plain metrics, for a registry's MustRegister.
func (m *Metrics) Registerables() []metrics.Registerable {
	return []metrics.Registerable{m.allocationFailures, m.configStale, m.configLastReload, m.statusRepairs}
}

// Collectors returns the collectors that read the allocator at scrape time, for a
// registry's CustomMustRegister.
func (m *Metrics) Collectors() []metrics.StableCollector {
	return []metrics.StableCollector{m.pools}
}

// statsSource is what the pool collector reads at scrape time.
type statsSource interface {
	Stats() []allocator.PoolStats
	Orphans() []allocator.Orphan
}

// poolCollector reports the allocator's counts at scrape time, so they are never stale.
type poolCollector struct {
	metrics.BaseStableCollector

	addresses *metrics.Desc
	orphaned  *metrics.Desc

	mu     sync.Mutex
	source statsSource // nil until the provider is initialized
}

func newPoolCollector() *poolCollector {
	return &poolCollector{
		addresses: metrics.NewDesc("barelb_pool_addresses",
			"Number of addresses of a pool and family: state=total is the pool's size (saturating), state=in_use those held by Services.",
			[]string{"pool", "family", "state"}, nil, metrics.ALPHA, ""),
		orphaned: metrics.NewDesc("barelb_orphaned_addresses",
			"Number of addresses held by Services that lie in no configured pool.",
			nil, nil, metrics.ALPHA, ""),
	}
}

func (c *poolCollector) setSource(s statsSource) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.source = s
}

// DescribeWithStability implements metrics.StableCollector.
func (c *poolCollector) DescribeWithStability(ch chan<- *metrics.Desc) {
	ch <- c.addresses
	ch <- c.orphaned
}

// CollectWithStability implements metrics.StableCollector.
func (c *poolCollector) CollectWithStability(ch chan<- metrics.Metric) {
	c.mu.Lock()
	src := c.source
	c.mu.Unlock()
	if src == nil {
		return
	}
	for _, s := range src.Stats() {
		fam := "ipv" + strconv.Itoa(int(s.Family))
		ch <- metrics.NewLazyConstMetric(c.addresses, metrics.GaugeValue, float64(s.Size), s.Pool, fam, "total")
		ch <- metrics.NewLazyConstMetric(c.addresses, metrics.GaugeValue, float64(s.InUse), s.Pool, fam, "in_use")
	}
	// Shared addresses are orphaned once per holder; count each address once.
	addrs := map[netip.Addr]bool{}
	for _, o := range src.Orphans() {
		addrs[o.Address] = true
	}
	ch <- metrics.NewLazyConstMetric(c.orphaned, metrics.GaugeValue, float64(len(addrs)))
}
