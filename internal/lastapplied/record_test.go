package lastapplied

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const validConfig = `address-pools:
- name: lab
  protocol: layer2
  addresses: [192.0.2.100-192.0.2.149]
`

func source() *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "barelb-system", Name: "config", ResourceVersion: "812", UID: "u-1"},
		Data:       map[string]string{"config": validConfig},
	}
}

func TestFromConfigMapRoundTrip(t *testing.T) {
	now := time.Date(2026, 12, 3, 13, 0, 0, 123456789, time.FixedZone("CET", 3600))
	r, ok := FromConfigMap(source(), "config", now)
	if !ok {
		t.Fatal("FromConfigMap: no key")
	}
	want := Record{
		Source:    Source{Namespace: "barelb-system", Name: "config", Key: "config", ResourceVersion: "812", UID: "u-1"},
		AppliedAt: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC),
		Config:    validConfig,
	}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}
	obj := r.ConfigMap()
	wantObj := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "barelb-system",
			Name:      "barelb-last-applied-config",
			Labels:    map[string]string{"app.kubernetes.io/managed-by": "barelb-ccm"},
			Annotations: map[string]string{
				"barelb.io/source-namespace":        "barelb-system",
				"barelb.io/source-name":             "config",
				"barelb.io/source-key":              "config",
				"barelb.io/source-resource-version": "812",
				"barelb.io/source-uid":              "u-1",
				"barelb.io/applied-at":              "2026-12-03T12:00:00Z",
			},
		},
		Data: map[string]string{"config": validConfig},
	}
	if diff := cmp.Diff(wantObj, obj); diff != "" {
		t.Errorf("object (-want +got):\n%s", diff)
	}
	back, err := Read(obj)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, back); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	if _, ok := FromConfigMap(source(), "other", now); ok {
		t.Error("FromConfigMap of a missing key: ok")
	}
}

func TestReadErrors(t *testing.T) {
	good := Record{Source: Source{Namespace: "ns", Name: "n", Key: "k", ResourceVersion: "1", UID: "u"}, AppliedAt: time.Unix(0, 0), Config: "x"}
	tests := []struct {
		name   string
		mutate func(cm *corev1.ConfigMap)
		want   []string // substrings of the error
	}{
		{"no annotations", func(cm *corev1.ConfigMap) { cm.Annotations = nil }, []string{
			"annotation barelb.io/source-namespace is missing", "annotation barelb.io/applied-at is missing",
		}},
		{"empty resourceVersion", func(cm *corev1.ConfigMap) { cm.Annotations[AnnotationSourceResourceVersion] = "" }, []string{
			"annotation barelb.io/source-resource-version is missing",
		}},
		{"bad time", func(cm *corev1.ConfigMap) { cm.Annotations[AnnotationAppliedAt] = "yesterday" }, []string{
			`annotation barelb.io/applied-at "yesterday": not an RFC 3339 time`,
		}},
		{"no data", func(cm *corev1.ConfigMap) { cm.Data = nil }, []string{`data key "config" is missing`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cm := good.ConfigMap()
			tt.mutate(cm)
			_, err := Read(cm)
			if err == nil {
				t.Fatal("Read: no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestLoad(t *testing.T) {
	at := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	valid, _ := FromConfigMap(source(), "config", at)
	invalid := valid
	invalid.Config = strings.Replace(validConfig, "192.0.2.149", "192.0.2.300", 1)
	tests := []struct {
		name                 string
		rec                  Record
		ns, cmName, key      string
		wantPools            int
		wantErr, wantOtherCM bool
	}{
		{name: "valid", rec: valid, ns: "barelb-system", cmName: "config", key: "config", wantPools: 1},
		{name: "other namespace", rec: valid, ns: "metallb-system", cmName: "config", key: "config", wantErr: true, wantOtherCM: true},
		{name: "other key", rec: valid, ns: "barelb-system", cmName: "config", key: "cfg", wantErr: true, wantOtherCM: true},
		{name: "no longer valid", rec: invalid, ns: "barelb-system", cmName: "config", key: "config", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, cfg, err := Load(tt.rec.ConfigMap(), tt.ns, tt.cmName, tt.key)
			if (err != nil) != tt.wantErr || errors.Is(err, ErrOtherSource) != tt.wantOtherCM {
				t.Fatalf("Load: error %v, want error %t (other source %t)", err, tt.wantErr, tt.wantOtherCM)
			}
			if err != nil {
				return
			}
			if !r.Same(tt.rec) || len(cfg.Pools) != tt.wantPools {
				t.Errorf("Load = %+v with %d pools, want %+v with %d", r, len(cfg.Pools), tt.rec, tt.wantPools)
			}
		})
	}
}

func TestSameAndDescribe(t *testing.T) {
	a, _ := FromConfigMap(source(), "config", time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC))
	b := a
	b.AppliedAt = b.AppliedAt.Add(time.Hour)
	if !a.Same(b) {
		t.Error("records differing only in AppliedAt are not Same")
	}
	b.Source.ResourceVersion = "813"
	if a.Same(b) {
		t.Error("records of two resourceVersions are Same")
	}
	want := "the last applied configuration of 2026-12-03T12:00:00Z (ConfigMap barelb-system/config resourceVersion 812)"
	if got := a.Describe(); got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
}

// FuzzRead: whatever the annotations hold, Read does not panic, and a record
// it accepts is rebuilt into an object that reads back the same.
func FuzzRead(f *testing.F) {
	f.Add("barelb-system", "config", "config", "812", "u", "2026-12-03T12:00:00Z", "x")
	f.Add("", "", "", "", "", "", "")
	f.Add("a", "b", "c", "d", "e", "2026-12-03T12:00:00.5+01:00", "")
	f.Fuzz(func(t *testing.T, ns, name, key, rv, uid, at, text string) {
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: Name, Annotations: map[string]string{
				AnnotationSourceNamespace: ns, AnnotationSourceName: name, AnnotationSourceKey: key,
				AnnotationSourceResourceVersion: rv, AnnotationSourceUID: uid, AnnotationAppliedAt: at,
			}},
			Data: map[string]string{DataKey: text},
		}
		r, err := Read(cm)
		if err != nil {
			return
		}
		back, err := Read(r.ConfigMap())
		if err != nil {
			t.Fatalf("rebuilt record does not read: %v", err)
		}
		if !back.Same(r) || !back.AppliedAt.Equal(r.AppliedAt) {
			t.Fatalf("rebuilt record reads %+v, want %+v", back, r)
		}
	})
}
