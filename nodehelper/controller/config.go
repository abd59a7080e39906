package controller

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/barelb/barelb/internal/config"
	"github.com/barelb/barelb/internal/lastapplied"
)

// logSummaryLimit bounds the configuration errors written in one log line.
const logSummaryLimit = 4096

// configSource is where the configuration in force comes from.
type configSource int

const (
	// sourceNone: neither the ConfigMap nor the record is usable.
	sourceNone configSource = iota
	// sourceConfigMap: the configuration ConfigMap's own content.
	sourceConfigMap
	// sourceRecord: the record of the last configuration the CCM applied.
	sourceRecord
)

func (s configSource) String() string {
	switch s {
	case sourceConfigMap:
		return "ConfigMap"
	case sourceRecord:
		return "last applied record"
	default:
		return "none"
	}
}

// errConfigMapMissing and errNoRecord say why a source is not used.
var (
	errConfigMapMissing = errors.New("the configuration ConfigMap does not exist")
	errNoRecord         = errors.New("no record of the last applied configuration")
)

// effectiveConfig is the configuration to run on and why.
type effectiveConfig struct {
	cfg *config.Config
	// text is cfg's source text, to tell a change from a rewrite.
	text   string
	source configSource
	// warnings are the ConfigMap's, when it is used.
	warnings []config.Warning
	// cmErr says why the ConfigMap is not used (nil when it is); recErr why
	// the record is not (set only when the record was looked at).
	cmErr, recErr error
	// rec is the record used, when source is sourceRecord.
	rec lastapplied.Record
}

// chooseConfig picks the configuration to run on: the ConfigMap's when it is
// valid, else the record's (when it is of the same ConfigMap and key, and
// valid), else none. cm and rec are nil when they do not exist. The record
// holds what the CCM applied last, so with it a helper agrees with the CCM
// even when it starts while the ConfigMap is invalid.
func chooseConfig(cm, rec *corev1.ConfigMap, namespace, name, key string) effectiveConfig {
	var e effectiveConfig
	if cm == nil {
		e.cmErr = errConfigMapMissing
	} else {
		cfg, warnings, err := config.ParseConfigMapData(cm.Data, key)
		if err == nil {
			return effectiveConfig{cfg: cfg, text: cm.Data[key], source: sourceConfigMap, warnings: warnings}
		}
		e.cmErr = err
	}
	if rec == nil {
		e.recErr = errNoRecord
		return e
	}
	r, cfg, err := lastapplied.Load(rec, namespace, name, key)
	if err != nil {
		e.recErr = err
		return e
	}
	e.cfg, e.text, e.source, e.rec = cfg, r.Config, sourceRecord, r
	return e
}

// getConfigMap returns the ConfigMap under key in store, or nil.
func getConfigMap(store cache.Store, key string) *corev1.ConfigMap {
	if store == nil {
		return nil
	}
	obj, ok, _ := store.GetByKey(key)
	if !ok {
		return nil
	}
	cm, _ := obj.(*corev1.ConfigMap)
	return cm
}

// versionOf identifies the version of a possibly missing object.
func versionOf(cm *corev1.ConfigMap) string {
	if cm == nil {
		return "absent"
	}
	return cm.ResourceVersion
}

// readConfig re-reads the configuration when the ConfigMap or the record
// changed, and reports whether another configuration took effect. Without a
// usable ConfigMap or record the last good configuration this helper read
// stays in force (none after a start); the CCM reports an invalid ConfigMap
// on it, so the helpers only log.
func (c *Controller) readConfig(ctx context.Context, l listers) bool {
	cmKey := c.o.ConfigNamespace + "/" + c.o.ConfigName
	cm := getConfigMap(l.cm, cmKey)
	rec := getConfigMap(l.record, lastapplied.Namespace+"/"+lastapplied.Name)
	version := versionOf(cm) + "/" + versionOf(rec)
	if version == c.cfgVersion {
		return false
	}
	c.cfgVersion = version
	log := klog.FromContext(ctx).WithValues("configmap", cmKey, "resourceVersion", versionOf(cm))
	e := chooseConfig(cm, rec, c.o.ConfigNamespace, c.o.ConfigName, c.o.ConfigKey)
	c.o.Metrics.setConfigStale(e.source != sourceConfigMap)
	if e.source == sourceNone {
		log.Error(errors.New(config.Summary(e.cmErr, logSummaryLimit)), "Configuration not usable, and no usable record of the last applied one; keeping the last good configuration",
			"errors", config.ErrorCount(e.cmErr), "record", config.Summary(e.recErr, logSummaryLimit), "haveConfig", c.cfg != nil)
		return false
	}
	if e.source == sourceRecord && c.cfgSource != sourceRecord {
		log.Error(errors.New(config.Summary(e.cmErr, logSummaryLimit)), "Configuration not usable; running on the last applied configuration",
			"errors", config.ErrorCount(e.cmErr), "lastApplied", e.rec.Describe())
	}
	c.cfgSource = e.source
	if c.cfg != nil && e.text == c.cfgText {
		return false
	}
	for _, w := range e.warnings {
		log.Info("Configuration warning", "warning", w.String())
	}
	c.cfg, c.cfgText = e.cfg, e.text
	log.Info("Configuration applied", "from", e.source.String(), "pools", len(e.cfg.Pools))
	return true
}
