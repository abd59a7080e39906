package controller

import (
	"net/netip"
	"time"

	"k8s.io/component-base/metrics"

	"github.com/barelb/barelb/nodehelper/announce"
)

// Metrics are the controller's metrics. A nil *Metrics records nothing.
type Metrics struct {
	members     *metrics.Gauge
	owned       *metrics.Gauge
	changes     *metrics.Counter
	failover    *metrics.Histogram
	configStale *metrics.Gauge
	conflicts   *metrics.CounterVec
	announcers  *announcerCollector
}

// NewMetrics creates the controller's metrics; register them with Register.
func NewMetrics() *Metrics {
	return &Metrics{
		members: metrics.NewGauge(&metrics.GaugeOpts{
			Name: "barelb_nodehelper_members",
			Help: "Number of live gossip members this node helper sees, itself included.",
		}),
		owned: metrics.NewGauge(&metrics.GaugeOpts{
			Name: "barelb_nodehelper_owned_addresses",
			Help: "Number of service addresses this node owns and announces.",
		}),
		changes: metrics.NewCounter(&metrics.CounterOpts{
			Name: "barelb_nodehelper_ownership_changes_total",
			Help: "Number of address groups that changed owner, as seen by this node helper.",
		}),
		failover: metrics.NewHistogram(&metrics.HistogramOpts{
			Name:    "barelb_nodehelper_failover_seconds",
			Help:    "Time from a gossip membership change to this node taking over the addresses it gained, in seconds.",
			Buckets: []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
		}),
		conflicts: metrics.NewCounterVec(&metrics.CounterOpts{
			Name: "barelb_nodehelper_address_conflicts_total",
			Help: "Number of times a MAC that is no gossip member's claimed an address this node owns, per family and outcome (kept, withdrawn, resumed, blocked).",
		}, []string{"family", "outcome"}),
		announcers: newAnnouncerCollector(),
		configStale: metrics.NewGauge(&metrics.GaugeOpts{
			Name: "barelb_nodehelper_config_stale",
			Help: "1 when this helper does not run on the configuration ConfigMap's own content (it is invalid or missing, and the last applied record or the last good configuration is in force), else 0.",
		}),
	}
}

// Register registers the metrics with r.
func (m *Metrics) Register(r metrics.KubeRegistry) {
	r.MustRegister(m.members, m.owned, m.changes, m.failover, m.configStale, m.conflicts)
	r.CustomMustRegister(m.announcers)
}

// announcerSet records the announcer of an interface for the per-interface
// counters; nil removes it.
func (m *Metrics) announcerSet(iface string, s statsSource) {
	if m == nil {
		return
	}
	m.announcers.set(iface, s)
}

func (m *Metrics) observe(members, owned, changes int) {
	if m == nil {
		return
	}
	m.members.Set(float64(members))
	m.owned.Set(float64(owned))
	m.changes.Add(float64(changes))
}

func (m *Metrics) observeFailover(d time.Duration) {
	if m == nil {
		return
	}
	m.failover.Observe(d.Seconds())
}

func (m *Metrics) setConfigStale(stale bool) {
	if m == nil {
		return
	}
	v := 0.0
	if stale {
		v = 1
	}
	m.configStale.Set(v)
}

func (m *Metrics) observeConflict(addr netip.Addr, o announce.Outcome) {
	if m == nil {
		return
	}
	family := "IPv4"
	if addr.Is6() {
		family = "IPv6"
	}
	m.conflicts.WithLabelValues(family, o.String()).Inc()
}
