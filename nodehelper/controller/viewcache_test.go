package controller

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/barelb/barelb/internal/config"
	"github.com/barelb/barelb/internal/lbclass"
	"github.com/barelb/barelb/nodehelper/election"
	"github.com/barelb/barelb/nodehelper/report"
)

// memSource is a viewSource over maps, standing in for the informers.
type memSource struct {
	svcs   map[string]*corev1.Service
	slices map[string][]*discoveryv1.EndpointSlice // by Service key
}

func (m *memSource) Service(key string) *corev1.Service             { return m.svcs[key] }
func (m *memSource) Slices(key string) []*discoveryv1.EndpointSlice { return m.slices[key] }
func (m *memSource) ServiceKeys() []string {
	var keys []string
	for k := range m.svcs {
		keys = append(keys, k)
	}
	return keys
}

func (m *memSource) all() ([]*corev1.Service, []*discoveryv1.EndpointSlice) {
	var svcs []*corev1.Service
	var sls []*discoveryv1.EndpointSlice
	for _, s := range m.svcs {
		svcs = append(svcs, s)
	}
	for _, ss := range m.slices {
		sls = append(sls, ss...)
	}
	return svcs, sls
}

// The cache, refreshed after any sequence of marked changes, equals the view
// built from scratch.
func TestViewCacheMatchesFullView(t *testing.T) {
	parse := func(s string) *config.Config {
		cfg, _, err := config.Parse([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	cfgs := []*config.Config{
		nil,
		parse("address-pools:\n- {name: l2, protocol: layer2, addresses: [198.51.100.0/24]}\n- {name: r, protocol: bgp, addresses: [203.0.113.0/24]}\n"),
		parse("address-pools:\n- {name: l2, protocol: layer2, addresses: [198.51.100.0/24, 203.0.113.0/24]}\n"),
	}
	cmpAddr := cmp.Comparer(func(a, b netip.Addr) bool { return a == b })
	sortSkipped := func(b []report.Skipped) []report.Skipped {
		sort.Slice(b, func(i, j int) bool {
			return b[i].Service < b[j].Service || (b[i].Service == b[j].Service && b[i].Addr.Less(b[j].Addr))
		})
		return b
	}
	for seed := uint64(0); seed < 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 1))
		src := &memSource{svcs: map[string]*corev1.Service{}, slices: map[string][]*discoveryv1.EndpointSlice{}}
		v := newViewCache()
		cfg := cfgs[0]
		for step := 0; step < 300; step++ {
			name := fmt.Sprintf("s%d", rng.IntN(12))
			key := "default/" + name
			switch op := rng.IntN(10); {
			case op < 4: // create or update the Service with random addresses
				var ips []string
				for i := rng.IntN(3); i > 0; i-- {
					prefix := []string{"198.51.100.", "203.0.113.", "192.0.2."}[rng.IntN(3)]
					ips = append(ips, fmt.Sprintf("%s%d", prefix, 1+rng.IntN(50)))
				}
				policy := corev1.ServiceExternalTrafficPolicyCluster
				if rng.IntN(2) == 0 {
					policy = corev1.ServiceExternalTrafficPolicyLocal
				}
				src.svcs[key] = lbService("default", name, policy, ips...)
				v.markService(key)
			case op < 5:
				delete(src.svcs, key)
				v.markService(key)
			case op < 8: // replace the Service's slices
				var sls []*discoveryv1.EndpointSlice
				for i := rng.IntN(3); i > 0; i-- {
					sls = append(sls, slice("default", name, ep(fmt.Sprintf("n%d", rng.IntN(4)), rng.IntN(3) > 0)))
				}
				src.slices[key] = sls
				v.markService(key)
			case op < 9:
				cfg = cfgs[rng.IntN(len(cfgs))]
				v.markAll()
			default: // refresh with nothing marked
			}
			if rng.IntN(3) > 0 {
				continue
			}
			v.refresh(src, cfg)
			gotInfos, gotSkipped := v.snapshot()
			svcs, sls := src.all()
			wantInfos, wantSkipped := serviceView(svcs, sls, cfg)
			if diff := cmp.Diff(wantInfos, gotInfos, cmpAddr, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("seed %d step %d: infos (-full +cached):\n%s", seed, step, diff)
			}
			if diff := cmp.Diff(sortSkipped(wantSkipped), sortSkipped(gotSkipped), cmpAddr, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("seed %d step %d: skipped (-full +cached):\n%s", seed, step, diff)
			}
		}
	}
}

// A refresh rebuilds only marked entries, and reports a change only when an
// entry differs.
func TestViewCacheChanged(t *testing.T) {
	cfg, _, err := config.Parse([]byte("address-pools:\n- {name: l2, protocol: layer2, addresses: [198.51.100.0/24]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	src := &memSource{svcs: map[string]*corev1.Service{
		"default/a": lbService("default", "a", corev1.ServiceExternalTrafficPolicyCluster, "198.51.100.1"),
	}}
	v := newViewCache()
	steps := []struct {
		name        string
		do          func()
		wantChanged bool
		wantInfos   int
	}{
		{name: "first refresh", do: func() {}, wantChanged: true, wantInfos: 1},
		{name: "nothing marked", do: func() {}, wantChanged: false, wantInfos: 1},
		{name: "unmarked new Service is not seen", do: func() {
			src.svcs["default/b"] = lbService("default", "b", corev1.ServiceExternalTrafficPolicyCluster, "198.51.100.2")
		}, wantChanged: false, wantInfos: 1},
		{name: "marked new Service", do: func() { v.markService("default/b") }, wantChanged: true, wantInfos: 2},
		{name: "update that changes nothing read", do: func() {
			s := src.svcs["default/b"].DeepCopy()
			s.Finalizers = []string{"service.kubernetes.io/load-balancer-cleanup"}
			src.svcs["default/b"] = s
			v.markService("default/b")
		}, wantChanged: false, wantInfos: 2},
		{name: "Service without an address yet", do: func() {
			src.svcs["default/c"] = lbService("default", "c", corev1.ServiceExternalTrafficPolicyCluster)
			v.markService("default/c")
		}, wantChanged: false, wantInfos: 2},
		{name: "endpoints change", do: func() {
			src.slices = map[string][]*discoveryv1.EndpointSlice{"default/a": {slice("default", "a", ep("n1", true))}}
			v.markService("default/a")
		}, wantChanged: true, wantInfos: 2},
		{name: "deleted", do: func() { delete(src.svcs, "default/b"); v.markService("default/b") }, wantChanged: true, wantInfos: 1},
		{name: "all marked, nothing differs", do: v.markAll, wantChanged: false, wantInfos: 1},
	}
	for _, st := range steps {
		st.do()
		changed := v.refresh(src, cfg)
		infos, _ := v.snapshot()
		if changed != st.wantChanged || len(infos) != st.wantInfos {
			t.Errorf("%s: changed %v, %d infos; want %v, %d", st.name, changed, len(infos), st.wantChanged, st.wantInfos)
		}
	}
}

// serviceView builds the election input of all Services from scratch,
// sorted by key: the entries of serviceEntry, the EndpointSlices matched to
// their Service. It is the oracle the view cache is checked against.
func serviceView(svcs []*corev1.Service, sls []*discoveryv1.EndpointSlice, cfg *config.Config) ([]election.ServiceInfo, []report.Skipped) {
	bySvc := map[string][]*discoveryv1.EndpointSlice{}
	for _, sl := range sls {
		if key := sliceService(sl); key != "" {
			bySvc[key] = append(bySvc[key], sl)
		}
	}
	var infos []election.ServiceInfo
	var skipped []report.Skipped
	for _, s := range svcs {
		info, ok, b := serviceEntry(s, bySvc[s.Namespace+"/"+s.Name], cfg, lbclass.Selector{})
		skipped = append(skipped, b...)
		if ok {
			infos = append(infos, info)
		}
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Key < infos[j].Key })
	return infos, skipped
}
