package membership

import "k8s.io/component-base/metrics"

// Metrics are the membership metrics. Create them with NewMetrics, register
// Registerables with the binary's registry, and pass them in Config.
type Metrics struct {
	keyMismatches *metrics.Counter
	members       *metrics.Gauge
	events        *metrics.CounterVec
}

// NewMetrics creates the membership metrics, unregistered.
func NewMetrics() *Metrics {
	return &Metrics{
		keyMismatches: metrics.NewCounter(&metrics.CounterOpts{
			Name:           "barelb_gossip_key_mismatches_total",
			Help:           "Number of gossip messages that no installed gossip key could decrypt: a node with a wrong or stale key is trying to talk to this one.",
			StabilityLevel: metrics.ALPHA,
		}),
		members: metrics.NewGauge(&metrics.GaugeOpts{
			Name:           "barelb_gossip_members",
			Help:           "Number of live gossip members this node knows, itself included.",
			StabilityLevel: metrics.ALPHA,
		}),
		events: metrics.NewCounterVec(&metrics.CounterOpts{
			Name:           "barelb_gossip_member_events_total",
			Help:           "Number of gossip membership changes seen, by event: join or leave (a leave is graceful or a failure).",
			StabilityLevel: metrics.ALPHA,
		}, []string{"event"}),
	}
}

// Registerables returns the metrics, for a registry's MustRegister.
func (m *Metrics) Registerables() []metrics.Registerable {
	return []metrics.Registerable{m.keyMismatches, m.members, m.events}
}
