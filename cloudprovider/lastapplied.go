package cloudprovider

import (
	"context"
	"errors"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"

	"github.com/barelb/barelb/internal/config"
	"github.com/barelb/barelb/internal/contract"
	"github.com/barelb/barelb/internal/lastapplied"
)

// saveRetry is how soon a record that could not be written is tried again
// the first time; each failure doubles it, up to saveRetryMax.
const (
	saveRetry    = 10 * time.Second
	saveRetryMax = 5 * time.Minute
)

// errSuperseded means the ConfigMap changed since this replica validated it:
// the record is left to the change's own turn.
var errSuperseded = errors.New("the ConfigMap changed since it was validated")

// saveRecord writes c.unsaved, the configuration just applied, to the record
// barelb-system/barelb-last-applied-config, unless the record already holds
// it. It clears c.unsaved when done or superseded; on failure it keeps it
// for a later try and reports the failure once per configuration.
//
// Who writes: the provider's controller runs in Initialize, which the
// cloud-provider app calls only once the replica leads (OnStartedLeading),
// or in every replica with --leader-elect=false. A deposed leader keeps
// running until it notices (up to the renew deadline) before it exits, so two
// replicas may write at once, and the slower one may hold an older cache.
// Two rules keep an older replica from overwriting a newer record: the
// record is only written with the ConfigMap's content while the ConfigMap
// still is at the resourceVersion this replica validated (a live read, not
// the cache), and the update carries the resourceVersion of the record read
// before that check, so a record written in between makes it conflict and
// start over.
func (c *controller) saveRecord(ctx context.Context, s *state) {
	if c.unsaved == nil {
		return
	}
	want := *c.unsaved
	logger := klog.FromContext(ctx).WithValues("record", lastapplied.Namespace+"/"+lastapplied.Name, "source", want.Source.String())
	err := retry.OnError(retry.DefaultRetry, func(err error) bool {
		return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)
	}, func() error { return c.writeRecord(ctx, want) })
	switch {
	case err == nil:
		logger.V(2).Info("Saved the last applied configuration")
	case errors.Is(err, errSuperseded):
		logger.V(2).Info("Not saving the last applied configuration: the ConfigMap changed since")
	default:
		c.saveBackoff = min(max(2*c.saveBackoff, saveRetry), saveRetryMax)
		logger.Error(err, "Failed to save the last applied configuration; will retry", "retry", c.saveBackoff)
		if c.saveFailed != want.Source {
			c.saveFailed = want.Source
			s.recorder.Event(c.objectRef(), v1.EventTypeWarning, string(contract.ReasonLastAppliedNotSaved),
				fmt.Sprintf("failed to save the applied configuration to %s/%s (a restart while the ConfigMap is invalid would have no configuration to run on): %v",
					lastapplied.Namespace, lastapplied.Name, err))
		}
		return
	}
	c.unsaved, c.saveFailed, c.saveBackoff = nil, lastapplied.Source{}, 0
}

// writeRecord is one attempt of saveRecord.
func (c *controller) writeRecord(ctx context.Context, want lastapplied.Record) error {
	records := c.client.CoreV1().ConfigMaps(lastapplied.Namespace)
	cur, err := records.Get(ctx, lastapplied.Name, metav1.GetOptions{})
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("failed to read the record: %w", err)
	}
	if exists {
		if have, err := lastapplied.Read(cur); err == nil && have.Same(want) {
			return nil
		}
	}
	src, err := c.client.CoreV1().ConfigMaps(want.Source.Namespace).Get(ctx, want.Source.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("failed to read the ConfigMap: %w", err)
	}
	if src.ResourceVersion != want.Source.ResourceVersion || src.UID != want.Source.UID {
		return errSuperseded
	}
	obj := want.ConfigMap()
	if !exists {
		_, err = records.Create(ctx, obj, metav1.CreateOptions{})
		return err
	}
	obj.ResourceVersion = cur.ResourceVersion
	_, err = records.Update(ctx, obj, metav1.UpdateOptions{})
	return err
}

// fromRecord returns the configuration of the record, for a start with an
// invalid or missing ConfigMap, or nil when there is no usable record. It
// says so in a log line and an Event on the ConfigMap.
func (c *controller) fromRecord(ctx context.Context, s *state) *config.Config {
	logger := klog.FromContext(ctx).WithValues("record", lastapplied.Namespace+"/"+lastapplied.Name)
	var obj *v1.ConfigMap
	// The informers synced, so the API server answers; still, a start must not
	// hang on the record: a few tries, then the start goes on without it.
	err := wait.ExponentialBackoffWithContext(ctx, wait.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Steps: 6}, func(ctx context.Context) (bool, error) {
		var err error
		obj, err = c.client.CoreV1().ConfigMaps(lastapplied.Namespace).Get(ctx, lastapplied.Name, metav1.GetOptions{})
		switch {
		case err == nil:
			return true, nil
		case apierrors.IsNotFound(err), apierrors.IsForbidden(err):
			return false, err
		}
		logger.V(2).Info("Failed to read the last applied configuration; retrying", "err", err)
		return false, nil
	})
	if apierrors.IsNotFound(err) {
		logger.Info("No last applied configuration: starting without a configuration")
		return nil
	}
	if err != nil {
		logger.Error(err, "Failed to read the last applied configuration: starting without a configuration")
		return nil
	}
	rec, cfg, err := lastapplied.Load(obj, c.ref.Namespace, c.ref.Name, c.ref.Key)
	if err != nil {
		logger.Error(errors.New(config.Summary(err, logSummaryLimit)), "Unusable last applied configuration: starting without a configuration")
		return nil
	}
	c.p.metrics.configStale.Set(1)
	msg := fmt.Sprintf("the ConfigMap's configuration is not applied; running on %s: %d pools", rec.Describe(), len(cfg.Pools))
	logger.Info("Running on the last applied configuration", "appliedAt", rec.AppliedAt, "resourceVersion", rec.Source.ResourceVersion, "pools", len(cfg.Pools))
	s.recorder.Event(c.objectRef(), v1.EventTypeWarning, string(contract.ReasonConfigFromLastApplied), msg)
	return cfg
}
