package conformance

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/barelb/barelb/internal/labcluster"
	"github.com/barelb/barelb/internal/poll"
)

// waitEvent waits for an Event with reason on the named object whose
// message contains substr, and returns its message.
func waitEvent(t *testing.T, c *labcluster.Cluster, namespace, object, reason, substr string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sel := fields.Set{"involvedObject.name": object, "reason": reason}.AsSelector().String()
	var msg string
	err := poll.Until(ctx, 100*time.Millisecond, func() (bool, error) {
		evs, err := c.Admin.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{FieldSelector: sel})
		if err != nil {
			return false, nil
		}
		for _, e := range evs.Items {
			if strings.Contains(e.Message, substr) {
				msg = e.Message
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no %s Event on %s/%s containing %q: %v", reason, namespace, object, substr, err)
	}
	return msg
}

// waitCondition waits until the Service's barelb.io/Announced condition has
// status and its message contains substr.
func waitCondition(t *testing.T, c *labcluster.Cluster, namespace, name string, status metav1.ConditionStatus, substr string) metav1.Condition {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got metav1.Condition
	err := poll.Until(ctx, 100*time.Millisecond, func() (bool, error) {
		s, err := c.Admin.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, cond := range s.Status.Conditions {
			if cond.Type == "barelb.io/Announced" {
				got = cond
				return cond.Status == status && strings.Contains(cond.Message, substr), nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("Service %s/%s condition barelb.io/Announced is %+v, want %s containing %q: %v", namespace, name, got, status, substr, err)
	}
	return got
}

// holdFor checks cond every interval for d; it fails at the first false.
func holdFor(t *testing.T, d, interval time.Duration, what string, cond func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_ = poll.Until(ctx, interval, func() (bool, error) {
		if err := cond(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return false, nil
	})
}

func annotate(s *corev1.Service, kv ...string) *corev1.Service {
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		s.Annotations[kv[i]] = kv[i+1]
	}
	return s
}
