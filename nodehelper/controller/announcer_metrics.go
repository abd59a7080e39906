package controller

import (
	"sync"

	"k8s.io/component-base/metrics"

	"github.com/barelb/barelb/nodehelper/announce"
)

// statsSource is what the collector reads of an announcer.
type statsSource interface {
	Stats() announce.Stats
}

// announcerCollector reports the announcers' counters at scrape time, per
// family and interface. Interfaces come and go with the links; their counts
// start again from zero when their announcer is restarted, which Prometheus
// counters' reset handling covers.
type announcerCollector struct {
	metrics.BaseStableCollector

	requests, replies, gratuitous *metrics.Desc

	mu      sync.Mutex
	sources map[string]statsSource
}

func newAnnouncerCollector() *announcerCollector {
	labels := []string{"family", "interface"}
	return &announcerCollector{
		requests: metrics.NewDesc("barelb_nodehelper_requests_received_total",
			"Number of ARP requests (IPv4) and neighbor solicitations (IPv6) received, per family and interface.",
			labels, nil, metrics.ALPHA, ""),
		replies: metrics.NewDesc("barelb_nodehelper_replies_sent_total",
			"Number of ARP replies (IPv4) and neighbor advertisements (IPv6) sent for owned addresses, per family and interface.",
			labels, nil, metrics.ALPHA, ""),
		gratuitous: metrics.NewDesc("barelb_nodehelper_gratuitous_sent_total",
			"Number of gratuitous ARP packets (IPv4) and unsolicited neighbor advertisements (IPv6) sent on gaining addresses, per family and interface.",
			labels, nil, metrics.ALPHA, ""),
		sources: map[string]statsSource{},
	}
}

// set records the announcer of an interface; nil removes it.
func (c *announcerCollector) set(iface string, s statsSource) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s == nil {
		delete(c.sources, iface)
		return
	}
	c.sources[iface] = s
}

// DescribeWithStability implements metrics.StableCollector.
func (c *announcerCollector) DescribeWithStability(ch chan<- *metrics.Desc) {
	ch <- c.requests
	ch <- c.replies
	ch <- c.gratuitous
}

// CollectWithStability implements metrics.StableCollector.
func (c *announcerCollector) CollectWithStability(ch chan<- metrics.Metric) {
	c.mu.Lock()
	sources := make(map[string]statsSource, len(c.sources))
	for k, v := range c.sources {
		sources[k] = v
	}
	c.mu.Unlock()
	for iface, src := range sources {
		st := src.Stats()
		for _, f := range []struct {
			family string
			s      announce.FamilyStats
		}{{"IPv4", st.IPv4}, {"IPv6", st.IPv6}} {
			ch <- metrics.NewLazyConstMetric(c.requests, metrics.CounterValue, float64(f.s.Received), f.family, iface)
			ch <- metrics.NewLazyConstMetric(c.replies, metrics.CounterValue, float64(f.s.Replies), f.family, iface)
			ch <- metrics.NewLazyConstMetric(c.gratuitous, metrics.CounterValue, float64(f.s.Gratuitous), f.family, iface)
		}
	}
}
