package cloudprovider

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"

	"github.com/barelb/barelb/internal/controlplane"
	"github.com/barelb/barelb/internal/lastapplied"
	"github.com/barelb/barelb/internal/lbclass"
)

const recordTestConfig = `address-pools:
- name: lab
  protocol: layer2
  addresses: [192.0.2.100-192.0.2.149]
`

// recordEnv is a real API server, the config ConfigMap and a controller
// that has not run.
type recordEnv struct {
	client kubernetes.Interface
	c      *controller
	events *record.FakeRecorder
}

func newRecordEnv(t *testing.T) *recordEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs a control plane")
	}
	cp := controlplane.ForTest(t)
	client, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	ns := &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: lastapplied.Namespace}}
	if _, err := client.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return &recordEnv{
		client: client,
		c:      newController(New(DefaultCloudConfig(), NewMetrics(), lbclass.Selector{}), client),
		events: record.NewFakeRecorder(100),
	}
}

// setConfig writes the config ConfigMap and returns the record of it.
func (e *recordEnv) setConfig(t *testing.T, text string) lastapplied.Record {
	t.Helper()
	ctx := context.Background()
	cms := e.client.CoreV1().ConfigMaps(DefaultConfigMapNamespace)
	cm, err := cms.Get(ctx, DefaultConfigMapName, metav1.GetOptions{})
	if err == nil {
		cm.Data = map[string]string{DefaultConfigMapKey: text}
		cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
	} else {
		cm = &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: DefaultConfigMapNamespace, Name: DefaultConfigMapName}, Data: map[string]string{DefaultConfigMapKey: text}}
		cm, err = cms.Create(ctx, cm, metav1.CreateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
	r, _ := lastapplied.FromConfigMap(cm, DefaultConfigMapKey, time.Now())
	return r
}

// stored returns the record object's resourceVersion and the record it holds.
func (e *recordEnv) stored(t *testing.T) (string, lastapplied.Record) {
	t.Helper()
	obj, err := e.client.CoreV1().ConfigMaps(lastapplied.Namespace).Get(context.Background(), lastapplied.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := lastapplied.Read(obj)
	if err != nil {
		t.Fatal(err)
	}
	return obj.ResourceVersion, r
}

// TestSaveRecordNeverGoesBack: the record is written once per version of the
// ConfigMap, and a replica that validated an older version (a deposed leader
// with a lagging cache) never writes it over a newer record.
func TestSaveRecordNeverGoesBack(t *testing.T) {
	e := newRecordEnv(t)
	ctx := context.Background()
	s := &state{recorder: e.events}
	cmpRecord := cmp.Comparer(func(a, b lastapplied.Record) bool { return a.Same(b) })

	first := e.setConfig(t, recordTestConfig)
	e.c.unsaved = &first
	e.c.saveRecord(ctx, s)
	if e.c.unsaved != nil {
		t.Fatal("the record of the first version is still unsaved")
	}
	rv, got := e.stored(t)
	if diff := cmp.Diff(first, got, cmpRecord); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}

	// The same version again writes nothing.
	if err := e.c.writeRecord(ctx, first); err != nil {
		t.Fatal(err)
	}
	if rv2, _ := e.stored(t); rv2 != rv {
		t.Errorf("rewriting the same version changed the record's resourceVersion from %s to %s", rv, rv2)
	}

	second := e.setConfig(t, strings.Replace(recordTestConfig, "192.0.2.149", "192.0.2.150", 1))
	// A replica still on the first version: the record holds it, nothing to do.
	if err := e.c.writeRecord(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := e.c.writeRecord(ctx, second); err != nil {
		t.Fatal(err)
	}
	if _, got := e.stored(t); !got.Same(second) {
		t.Fatalf("record holds %s, want %s", got.Source, second.Source)
	}
	// Now the lagging replica must not take the record back to the first.
	if err := e.c.writeRecord(ctx, first); !errors.Is(err, errSuperseded) {
		t.Errorf("writing an older version: %v, want errSuperseded", err)
	}
	e.c.unsaved = &first
	e.c.saveRecord(ctx, s)
	if e.c.unsaved != nil {
		t.Error("a superseded record stays pending")
	}
	if _, got := e.stored(t); !got.Same(second) {
		t.Errorf("record went back to %s, want %s", got.Source, second.Source)
	}
	select {
	case ev := <-e.events.Events:
		t.Errorf("unexpected Event %q", ev)
	default:
	}
}

// TestFromRecord: at start the record's configuration is used when it is of
// the CCM's own ConfigMap and valid, with an Event saying which.
func TestFromRecord(t *testing.T) {
	e := newRecordEnv(t)
	ctx := context.Background()
	s := &state{recorder: e.events}
	if cfg := e.c.fromRecord(ctx, s); cfg != nil {
		t.Fatalf("without a record: %d pools, want none", len(cfg.Pools))
	}

	rec := e.setConfig(t, recordTestConfig)
	if err := e.c.writeRecord(ctx, rec); err != nil {
		t.Fatal(err)
	}
	cfg := e.c.fromRecord(ctx, s)
	if cfg == nil || len(cfg.Pools) != 1 || cfg.Pools[0].Name != "lab" {
		t.Fatalf("from the record: %+v, want the pool lab", cfg)
	}
	select {
	case ev := <-e.events.Events:
		want := "Warning ConfigFromLastApplied the ConfigMap's configuration is not applied; running on the last applied configuration of "
		if !strings.HasPrefix(ev, want) || !strings.Contains(ev, "resourceVersion "+rec.Source.ResourceVersion+"): 1 pools") {
			t.Errorf("Event %q, want %q... resourceVersion %s): 1 pools", ev, want, rec.Source.ResourceVersion)
		}
	default:
		t.Error("no ConfigFromLastApplied Event")
	}

	// A record of another ConfigMap is not used.
	other := newController(New(CloudConfig{ConfigMap: ConfigMapRef{Namespace: "metallb-system", Name: "config", Key: "config"}}, NewMetrics(), lbclass.Selector{}), e.client)
	if cfg := other.fromRecord(ctx, s); cfg != nil {
		t.Errorf("a CCM of metallb-system/config runs on the record of barelb-system/config")
	}
}
