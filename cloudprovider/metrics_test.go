package cloudprovider

import (
	"net/netip"
	"strings"
	"testing"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/testutil"

	"github.com/barelb/barelb/internal/allocator"
	"github.com/barelb/barelb/internal/config"
)

func TestMetrics(t *testing.T) {
	cfg := &config.Config{Pools: []config.Pool{{
		Name: "my-ip-space", Protocol: config.Layer2, AutoAssign: true,
		Ranges: []config.Range{
			{First: netip.MustParseAddr("198.51.100.0"), Last: netip.MustParseAddr("198.51.100.15"), Prefix: netip.MustParsePrefix("198.51.100.0/28")},
			{First: netip.MustParseAddr("2001:db8::"), Last: netip.MustParseAddr("2001:db8::ff"), Prefix: netip.MustParsePrefix("2001:db8::/120")},
		},
	}}}
	alloc := allocator.New(cfg)
	if _, err := alloc.Allocate(allocator.Request{Service: "default/web", Families: []allocator.Family{allocator.IPv4}}); err != nil {
		t.Fatalf("Allocate() error = %v", err)
	}
	m := NewMetrics()
	reg := metrics.NewKubeRegistry()
	reg.MustRegister(m.Registerables()...)
	reg.CustomMustRegister(m.Collectors()...)
	m.pools.setSource(alloc)
	m.configStale.Set(1)
	m.allocationFailures.WithLabelValues(allocator.ReasonPoolExhausted.String()).Inc()

	want := `
# HELP barelb_allocation_failures_total [ALPHA] Number of times a Service was refused an address, by reason; a Service that stays pending for the same reason counts once.
# TYPE barelb_allocation_failures_total counter
barelb_allocation_failures_total{reason="pool_exhausted"} 1
# HELP barelb_config_stale [ALPHA] 1 when the configuration in the ConfigMap is invalid and the last good configuration is in use, else 0.
# TYPE barelb_config_stale gauge
barelb_config_stale 1
# HELP barelb_orphaned_addresses [ALPHA] Number of addresses held by Services that lie in no configured pool.
# TYPE barelb_orphaned_addresses gauge
barelb_orphaned_addresses 0
# HELP barelb_pool_addresses [ALPHA] Number of addresses of a pool and family: state=total is the pool's size (saturating), state=in_use those held by Services.
# TYPE barelb_pool_addresses gauge
barelb_pool_addresses{family="ipv4",pool="my-ip-space",state="in_use"} 1
barelb_pool_addresses{family="ipv4",pool="my-ip-space",state="total"} 16
barelb_pool_addresses{family="ipv6",pool="my-ip-space",state="in_use"} 0
barelb_pool_addresses{family="ipv6",pool="my-ip-space",state="total"} 256
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"barelb_allocation_failures_total", "barelb_config_stale", "barelb_orphaned_addresses", "barelb_pool_addresses"); err != nil {
		t.Error(err)
	}
}
