package cloudprovider_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/barelb/barelb/internal/lastapplied"
	"github.com/barelb/barelb/internal/poll"
)

// badRanges is a configuration with n invalid CIDRs: n errors.
func badRanges(n int) string {
	var b strings.Builder
	b.WriteString("address-pools:\n- name: broken\n  protocol: layer2\n  addresses:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - 198.51.100.%d/33\n", i%256)
	}
	return b.String()
}

// TestHugeInvalidConfigEvent: the errors of 40,000 bad ranges run to 3.5 MB,
// more than an Event may hold; the InvalidConfig Event is still recorded,
// with the first errors and the count of the others.
func TestHugeInvalidConfigEvent(t *testing.T) {
	c := newCluster(t)
	c.setConfig(t, badRanges(40000))
	c.startCCM(t, ccmOptions{})
	ev := c.waitEvent(t, "barelb-system", "config", "InvalidConfig", "", 30*time.Second)
	if len(ev.Message) > 1024 || !strings.Contains(ev.Message, `addresses[0] "198.51.100.0/33"`) || !strings.HasSuffix(ev.Message, "more errors; run barelbctl validate for all") {
		t.Errorf("InvalidConfig message of %d bytes: %.300q..., want ≤ 1024 bytes from the first error to the count of the others", len(ev.Message), ev.Message)
	}
}

// TestRestartOnLastApplied: the CCM records every configuration it applies;
// restarted while the ConfigMap is invalid, it runs on the record: existing Services keep their
// pools (no AddressOrphaned) and new ones are served.
func TestRestartOnLastApplied(t *testing.T) {
	c := newCluster(t)
	ctx := context.Background()
	c.setConfig(t, testConfig)
	p := c.startCCM(t, ccmOptions{securePort: true})
	c.create(t, lbService("before", nil))
	before := c.waitAddresses(t, "before", 10*time.Second)

	cm, err := c.client.CoreV1().ConfigMaps("barelb-system").Get(ctx, "config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var rec lastapplied.Record
	poll.For(t, 10*time.Second, "the record of the applied configuration", func() error {
		obj, err := c.client.CoreV1().ConfigMaps(lastapplied.Namespace).Get(ctx, lastapplied.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if rec, err = lastapplied.Read(obj); err != nil {
			return err
		}
		if rec.Source.ResourceVersion != cm.ResourceVersion {
			return fmt.Errorf("the record is of resourceVersion %s", rec.Source.ResourceVersion)
		}
		return nil
	})
	want := lastapplied.Source{Namespace: "barelb-system", Name: "config", Key: "config", ResourceVersion: cm.ResourceVersion, UID: cm.UID}
	if diff := cmp.Diff(want, rec.Source); diff != "" || rec.Config != testConfig {
		t.Errorf("record source (-want +got):\n%s\nconfig %q, want %q", diff, rec.Config, testConfig)
	}

	c.setConfig(t, badRanges(40000))
	c.waitEvent(t, "barelb-system", "config", "InvalidConfig", "more errors", 30*time.Second)

	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	p = c.startCCM(t, ccmOptions{securePort: true})
	c.waitEvent(t, "barelb-system", "config", "ConfigFromLastApplied", "(ConfigMap barelb-system/config resourceVersion "+cm.ResourceVersion+")", 30*time.Second)
	c.create(t, lbService("after", nil))
	if got := c.waitAddresses(t, "after", 10*time.Second); len(got) == 0 {
		t.Error("no address after the restart")
	}
	if diff := cmp.Diff(before, c.addresses(t, "before")); diff != "" {
		t.Errorf("address changed over the restart (-want +got):\n%s", diff)
	}
	poll.For(t, 5*time.Second, "barelb_config_stale 1", func() error { return metricsContain(t, p, "barelb_config_stale 1") })
	evs, err := c.client.CoreV1().Events("test").List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("reason", "AddressOrphaned").String()})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs.Items {
		t.Errorf("AddressOrphaned on %s: %s", e.InvolvedObject.Name, e.Message)
	}

	// A valid configuration again: applied, and recorded.
	next := testConfig + "- name: next\n  protocol: layer2\n  auto-assign: false\n  addresses: [198.51.100.160/28]\n"
	c.setConfig(t, next)
	poll.For(t, 10*time.Second, "the record of the new configuration", func() error {
		obj, err := c.client.CoreV1().ConfigMaps(lastapplied.Namespace).Get(ctx, lastapplied.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		r, err := lastapplied.Read(obj)
		if err != nil {
			return err
		}
		if r.Config != next {
			return fmt.Errorf("the record holds %q", r.Config)
		}
		return nil
	})
}
