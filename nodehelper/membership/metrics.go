package membership

import "k8s.io/component-base/metrics"

// Metrics are the membership metrics. Create them with NewMetrics, register
// Registerables with the binary's registry, and pass them in Config.
type Metrics struct {
	keyMismatches *metrics.Counter
	members       *metrics.Gauge
	events        *metrics.CounterVec
	dropped       *metrics.CounterVec
	soloStarts    *metrics.Counter
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
		dropped: metrics.NewCounterVec(&metrics.CounterOpts{
			Name: "barelb_gossip_dropped_total",
			Help: "Number of packets and streams the gossip port dropped before memberlist read them, by kind (packet or stream) and reason: " +
				"not-a-node (the source is no Node's InternalIP), too-many-streams (the cap of concurrent inbound streams was reached) " +
				"or too-large (the stream went past its size cap).",
			StabilityLevel: metrics.ALPHA,
		}, []string{"kind", "reason"}),
		soloStarts: metrics.NewCounter(&metrics.CounterOpts{
			Name:           "barelb_gossip_solo_starts_total",
			Help:           "Number of times this node found no gossip peer reachable within --solo-after and began serving as a cluster of one.",
			StabilityLevel: metrics.ALPHA,
		}),
	}
}

// Registerables returns the metrics, for a registry's MustRegister.
func (m *Metrics) Registerables() []metrics.Registerable {
	return []metrics.Registerable{m.keyMismatches, m.members, m.events, m.dropped, m.soloStarts}
}
