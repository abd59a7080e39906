package controller

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/barelb/barelb/internal/config"
	"github.com/barelb/barelb/internal/lastapplied"
	"github.com/barelb/barelb/internal/lbclass"
	"github.com/barelb/barelb/nodehelper/report"
)

const (
	layer2Config = "address-pools:\n- name: lab\n  protocol: layer2\n  addresses: [192.0.2.100-192.0.2.149]\n"
	bgpConfig    = layer2Config + "- name: routed\n  protocol: bgp\n  addresses: [198.51.100.0/24]\npeers:\n- peer-address: 192.0.2.1\n  peer-asn: 64501\n  my-asn: 64500\n"
	badConfig    = "address-pools:\n- name: lab\n  protocol: layer2\n  addresses: [192.0.2.100/33]\n"
)

func configMap(rv, text string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "barelb-system", Name: "config", ResourceVersion: rv, UID: "u"},
		Data:       map[string]string{"config": text},
	}
}

// recordOf is the record the CCM writes of cm, as the API server returns it.
func recordOf(cm *corev1.ConfigMap, rv string) *corev1.ConfigMap {
	r, _ := lastapplied.FromConfigMap(cm, "config", time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC))
	obj := r.ConfigMap()
	obj.ResourceVersion = rv
	return obj
}

func TestChooseConfig(t *testing.T) {
	good := configMap("10", bgpConfig)
	bad := configMap("11", badConfig)
	otherSource := recordOf(good, "20")
	otherSource.Annotations[lastapplied.AnnotationSourceNamespace] = "metallb-system"
	tests := []struct {
		name       string
		cm, rec    *corev1.ConfigMap
		wantSource configSource
		wantPools  []string
		wantRecErr error // errors.Is; nil: no record error expected
	}{
		{name: "valid ConfigMap wins over its record", cm: good, rec: recordOf(configMap("9", layer2Config), "20"), wantSource: sourceConfigMap, wantPools: []string{"lab", "routed"}},
		{name: "valid ConfigMap without record", cm: good, wantSource: sourceConfigMap, wantPools: []string{"lab", "routed"}},
		{name: "invalid ConfigMap, record", cm: bad, rec: recordOf(good, "20"), wantSource: sourceRecord, wantPools: []string{"lab", "routed"}},
		{name: "missing ConfigMap, record", rec: recordOf(good, "20"), wantSource: sourceRecord, wantPools: []string{"lab", "routed"}},
		{name: "invalid ConfigMap, no record", cm: bad, wantSource: sourceNone, wantRecErr: errNoRecord},
		{name: "invalid ConfigMap, record of another ConfigMap", cm: bad, rec: otherSource, wantSource: sourceNone, wantRecErr: lastapplied.ErrOtherSource},
		{name: "nothing", wantSource: sourceNone, wantRecErr: errNoRecord},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := chooseConfig(tt.cm, tt.rec, "barelb-system", "config", "config")
			if e.source != tt.wantSource {
				t.Fatalf("source %v, want %v (ConfigMap: %v, record: %v)", e.source, tt.wantSource, e.cmErr, e.recErr)
			}
			var pools []string
			if e.cfg != nil {
				for _, p := range e.cfg.Pools {
					pools = append(pools, p.Name)
				}
			}
			if diff := cmp.Diff(tt.wantPools, pools); diff != "" {
				t.Errorf("pools (-want +got):\n%s", diff)
			}
			if (e.source == sourceConfigMap) != (e.cmErr == nil) {
				t.Errorf("source %v with ConfigMap error %v", e.source, e.cmErr)
			}
			if tt.wantRecErr != nil && !errors.Is(e.recErr, tt.wantRecErr) {
				t.Errorf("record error %v, want %v", e.recErr, tt.wantRecErr)
			}
		})
	}
}

// TestReadConfigSequence follows a helper through restarts and edits.
func TestReadConfigSequence(t *testing.T) {
	good := configMap("10", bgpConfig)
	steps := []struct {
		name        string
		cm, rec     *corev1.ConfigMap
		wantChanged bool
		wantPools   int // -1: no configuration
		wantSource  configSource
	}{
		{name: "start with an invalid ConfigMap and no record", cm: configMap("11", badConfig), wantPools: -1, wantSource: sourceNone},
		{name: "the record appears", cm: configMap("11", badConfig), rec: recordOf(good, "20"), wantChanged: true, wantPools: 2, wantSource: sourceRecord},
		{name: "fixed to the recorded text", cm: configMap("12", bgpConfig), rec: recordOf(good, "20"), wantPools: 2, wantSource: sourceConfigMap},
		{name: "the record is rewritten", cm: configMap("12", bgpConfig), rec: recordOf(configMap("12", bgpConfig), "21"), wantPools: 2, wantSource: sourceConfigMap},
		{name: "a new valid configuration", cm: configMap("13", layer2Config), rec: recordOf(configMap("12", bgpConfig), "21"), wantChanged: true, wantPools: 1, wantSource: sourceConfigMap},
		{name: "broken again, the record lags", cm: configMap("14", badConfig), rec: recordOf(configMap("12", bgpConfig), "21"), wantChanged: true, wantPools: 2, wantSource: sourceRecord},
		{name: "deleted, the record gone too: the last good stays", wantPools: 2, wantSource: sourceNone},
	}
	c := &Controller{o: Options{ConfigNamespace: "barelb-system", ConfigName: "config", ConfigKey: "config"}}
	for _, st := range steps {
		cmStore, recStore := cache.NewStore(cache.MetaNamespaceKeyFunc), cache.NewStore(cache.MetaNamespaceKeyFunc)
		if st.cm != nil {
			_ = cmStore.Add(st.cm)
		}
		if st.rec != nil {
			_ = recStore.Add(st.rec)
		}
		changed := c.readConfig(context.Background(), listers{cm: cmStore, record: recStore})
		pools := -1
		if c.cfg != nil {
			pools = len(c.cfg.Pools)
		}
		if changed != st.wantChanged || pools != st.wantPools || c.cfgSource != st.wantSource && st.wantSource != sourceNone {
			t.Errorf("%s: changed %t, %d pools from %v; want %t, %d from %v", st.name, changed, pools, c.cfgSource, st.wantChanged, st.wantPools, st.wantSource)
		}
	}
}

// TestRecordKeepsBGPUnannounced: a helper started on the record leaves a BGP
// pool's address alone, and says why (a BGP pool, not "no configuration").
func TestRecordKeepsBGPUnannounced(t *testing.T) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "routed"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer},
		Status:     corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "198.51.100.2"}}}},
	}
	e := chooseConfig(configMap("11", badConfig), recordOf(configMap("10", bgpConfig), "20"), "barelb-system", "config", "config")
	if _, ok, skipped := serviceEntry(svc, nil, e.cfg, lbclass.Selector{}); ok || len(skipped) != 1 || skipped[0].Reason != report.SkipBGP {
		t.Errorf("on the record: announced %t, skipped %+v; want not announced, one address skipped as BGP", ok, skipped)
	}
	var none *config.Config
	if _, ok, skipped := serviceEntry(svc, nil, none, lbclass.Selector{}); ok || len(skipped) != 1 || skipped[0].Reason != report.SkipNoConfig {
		t.Errorf("without any configuration: announced %t, skipped %+v; want not announced, skipped for no configuration", ok, skipped)
	}
}
