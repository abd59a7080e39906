package controller

import (
	"slices"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/barelb/barelb/internal/config"
	"github.com/barelb/barelb/internal/lbclass"
	"github.com/barelb/barelb/nodehelper/election"
	"github.com/barelb/barelb/nodehelper/report"
)

// viewSource is what the view cache reads: the informers' caches.
type viewSource interface {
	// Service returns the Service with the key, or nil.
	Service(key string) *corev1.Service
	// Slices returns the EndpointSlices of the Service with the key.
	Slices(key string) []*discoveryv1.EndpointSlice
	// ServiceKeys returns the keys of all Services.
	ServiceKeys() []string
}

// viewCache keeps the election input of every Service and rebuilds only the
// entries of Services marked as changed. During a burst (a thousand Services
// created at once, each then updated several times) a recompute costs the
// Services that changed since the last one, not all of them. The informers'
// event handlers mark; the control loop refreshes.
type viewCache struct {
	mu    sync.Mutex
	dirty map[string]bool
	all   bool // every entry is to be rebuilt (start, configuration change)

	// served decides which Services are barelb's (Options.Served); set once
	// before the first refresh.
	served lbclass.Selector

	// Owned by the control loop.
	infos   map[string]election.ServiceInfo
	skipped map[string][]report.Skipped
}

func newViewCache() *viewCache {
	return &viewCache{
		dirty:   map[string]bool{},
		all:     true,
		infos:   map[string]election.ServiceInfo{},
		skipped: map[string][]report.Skipped{},
	}
}

// markService notes that the Service with the key, or one of its
// EndpointSlices, changed. It is safe for concurrent use.
func (v *viewCache) markService(key string) {
	if key == "" {
		return
	}
	v.mu.Lock()
	v.dirty[key] = true
	v.mu.Unlock()
}

// markAll notes that every entry must be rebuilt. It is safe for concurrent
// use.
func (v *viewCache) markAll() {
	v.mu.Lock()
	v.all = true
	v.mu.Unlock()
}

// refresh rebuilds the marked entries from src with cfg and reports whether
// any entry differs from before: most Service updates (a finalizer, a status
// condition, an annotation barelb does not read) change nothing here.
func (v *viewCache) refresh(src viewSource, cfg *config.Config) (changed bool) {
	v.mu.Lock()
	dirty, all := v.dirty, v.all
	v.dirty, v.all = map[string]bool{}, false
	v.mu.Unlock()

	if all {
		for key := range v.infos {
			dirty[key] = true
		}
		for key := range v.skipped {
			dirty[key] = true
		}
		for _, key := range src.ServiceKeys() {
			dirty[key] = true
		}
	}
	for key := range dirty {
		oldInfo, hadInfo := v.infos[key]
		oldSkipped := v.skipped[key]
		delete(v.infos, key)
		delete(v.skipped, key)
		var info election.ServiceInfo
		var ok bool
		var b []report.Skipped
		if s := src.Service(key); s != nil {
			info, ok, b = serviceEntry(s, src.Slices(key), cfg, v.served)
		}
		if ok {
			v.infos[key] = info
		}
		if len(b) > 0 {
			v.skipped[key] = b
		}
		if hadInfo != ok || (ok && !sameInfo(oldInfo, info)) || !slices.Equal(oldSkipped, b) {
			changed = true
		}
	}
	return changed
}

// has reports whether the Service with the key has addresses to announce,
// as refresh last left it.
func (v *viewCache) has(key string) bool {
	_, ok := v.infos[key]
	return ok
}

// snapshot returns the whole view as refresh last left it, sorted as
// serviceView sorts it.
func (v *viewCache) snapshot() (infos []election.ServiceInfo, skipped []report.Skipped) {
	infos = make([]election.ServiceInfo, 0, len(v.infos))
	for _, info := range v.infos {
		infos = append(infos, info)
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Key < infos[j].Key })
	keys := make([]string, 0, len(v.skipped))
	for key := range v.skipped {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		skipped = append(skipped, v.skipped[key]...)
	}
	return infos, skipped
}

// sameInfo reports whether two election inputs are equal.
func sameInfo(a, b election.ServiceInfo) bool {
	return a.Key == b.Key && slices.Equal(a.Addresses, b.Addresses) &&
		a.TrafficPolicyLocal == b.TrafficPolicyLocal && a.HasReadyEndpoints == b.HasReadyEndpoints &&
		slices.Equal(a.LocalEndpointNodes, b.LocalEndpointNodes)
}
