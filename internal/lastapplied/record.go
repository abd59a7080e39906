package lastapplied

import (
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/barelb/barelb/internal/config"
	"github.com/barelb/barelb/internal/contract"
)

// The record is the ConfigMap barelb-system/barelb-last-applied-config. It
// stays in barelb-system wherever the configuration ConfigMap is (the CCM's
// --cloud-config may name another namespace): barelb's own namespace is the
// one its manifests grant it rights in, and every component finds the
// record without being told where.
const (
	Namespace = "barelb-system"
	Name      = "barelb-last-applied-config"
	// DataKey holds the configuration text, byte for byte as the CCM read it.
	DataKey = "config"
)

// The record's metadata.
const (
	// AnnotationSourceNamespace, AnnotationSourceName and AnnotationSourceKey
	// name the ConfigMap and data key the configuration was read from.
	AnnotationSourceNamespace = "barelb.io/source-namespace"
	AnnotationSourceName      = "barelb.io/source-name"
	AnnotationSourceKey       = "barelb.io/source-key"
	// AnnotationSourceResourceVersion and AnnotationSourceUID identify the
	// version of that ConfigMap.
	AnnotationSourceResourceVersion = "barelb.io/source-resource-version"
	AnnotationSourceUID             = "barelb.io/source-uid"
	// AnnotationAppliedAt is when the CCM applied it, RFC 3339 in UTC.
	AnnotationAppliedAt = "barelb.io/applied-at"
	// LabelManagedBy (value ManagedBy) marks the record as the CCM's own.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = contract.ComponentCCM
)

// Source identifies the ConfigMap version a configuration was read from.
type Source struct {
	Namespace, Name, Key string
	ResourceVersion      string
	UID                  types.UID
}

// String is "namespace/name key K resourceVersion N".
func (s Source) String() string {
	return fmt.Sprintf("%s/%s key %q resourceVersion %s", s.Namespace, s.Name, s.Key, s.ResourceVersion)
}

// Record is a valid configuration the CCM applied, and where it came from.
type Record struct {
	Source Source
	// AppliedAt has a precision of one second.
	AppliedAt time.Time
	// Config is the configuration text, exactly as in the source.
	Config string
}

// FromConfigMap returns the record of the configuration under key in cm,
// applied at now. ok is false when cm has no such key.
func FromConfigMap(cm *corev1.ConfigMap, key string, now time.Time) (r Record, ok bool) {
	text, ok := cm.Data[key]
	if !ok {
		return Record{}, false
	}
	return Record{
		Source:    Source{Namespace: cm.Namespace, Name: cm.Name, Key: key, ResourceVersion: cm.ResourceVersion, UID: cm.UID},
		AppliedAt: now.UTC().Truncate(time.Second),
		Config:    text,
	}, true
}

// ConfigMap builds the record object (without a resourceVersion).
func (r Record) ConfigMap() *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: Namespace,
			Name:      Name,
			Labels:    map[string]string{LabelManagedBy: ManagedBy},
			Annotations: map[string]string{
				AnnotationSourceNamespace:       r.Source.Namespace,
				AnnotationSourceName:            r.Source.Name,
				AnnotationSourceKey:             r.Source.Key,
				AnnotationSourceResourceVersion: r.Source.ResourceVersion,
				AnnotationSourceUID:             string(r.Source.UID),
				AnnotationAppliedAt:             r.AppliedAt.UTC().Format(time.RFC3339),
			},
		},
		Data: map[string]string{DataKey: r.Config},
	}
}

// Read reads a record object back. Every annotation and the data key must be
// there; the error names the first that is not, or is malformed.
func Read(cm *corev1.ConfigMap) (Record, error) {
	where := cm.Namespace + "/" + cm.Name
	var errs []error
	get := func(key string) string {
		v, ok := cm.Annotations[key]
		if !ok || v == "" {
			errs = append(errs, fmt.Errorf("record %s: annotation %s is missing", where, key))
		}
		return v
	}
	r := Record{Source: Source{
		Namespace:       get(AnnotationSourceNamespace),
		Name:            get(AnnotationSourceName),
		Key:             get(AnnotationSourceKey),
		ResourceVersion: get(AnnotationSourceResourceVersion),
		UID:             types.UID(get(AnnotationSourceUID)),
	}}
	if at := get(AnnotationAppliedAt); at != "" {
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			errs = append(errs, fmt.Errorf("record %s: annotation %s %q: not an RFC 3339 time", where, AnnotationAppliedAt, at))
		}
		r.AppliedAt = t.UTC().Truncate(time.Second)
	}
	text, ok := cm.Data[DataKey]
	if !ok {
		errs = append(errs, fmt.Errorf("record %s: data key %q is missing", where, DataKey))
	}
	r.Config = text
	if err := errors.Join(errs...); err != nil {
		return Record{}, err
	}
	return r, nil
}

// Same reports whether r and o record the same text from the same version of
// the same ConfigMap, whenever applied.
func (r Record) Same(o Record) bool {
	return r.Source == o.Source && r.Config == o.Config
}

// Describe is how messages name the record: "the last applied configuration
// of 2026-12-03T13:00:00Z (ConfigMap barelb-system/config resourceVersion 812)".
func (r Record) Describe() string {
	return fmt.Sprintf("the last applied configuration of %s (ConfigMap %s/%s resourceVersion %s)",
		r.AppliedAt.UTC().Format(time.RFC3339), r.Source.Namespace, r.Source.Name, r.Source.ResourceVersion)
}

// ErrOtherSource is returned by Load for a record of another ConfigMap or
// key than the reader's: the components would not agree on what it is.
var ErrOtherSource = errors.New("the record is of another configuration ConfigMap")

// Load reads the record object obj and parses its configuration with the
// configuration's own parser. namespace, name and key are the reader's
// configuration ConfigMap: a record taken from another is refused with
// ErrOtherSource.
func Load(obj *corev1.ConfigMap, namespace, name, key string) (Record, *config.Config, error) {
	r, err := Read(obj)
	if err != nil {
		return Record{}, nil, err
	}
	if s := r.Source; s.Namespace != namespace || s.Name != name || s.Key != key {
		return r, nil, fmt.Errorf("%w: it holds %s/%s key %q, the configuration is %s/%s key %q",
			ErrOtherSource, s.Namespace, s.Name, s.Key, namespace, name, key)
	}
	cfg, _, err := config.ParseConfigMapData(map[string]string{DataKey: r.Config}, DataKey)
	if err != nil {
		return r, nil, fmt.Errorf("failed to parse %s: %w", r.Describe(), err)
	}
	return r, cfg, nil
}
