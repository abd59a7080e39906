package kubecache

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

func TestStripManagedFields(t *testing.T) {
	svc := func(managed bool) *corev1.Service {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Annotations: map[string]string{"a": "b"}},
			Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "192.0.2.1"}}}}}
		if managed {
			s.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}}
		}
		return s
	}
	tests := []struct {
		name string
		in   any
		want any
	}{
		{name: "object", in: svc(true), want: svc(false)},
		{name: "tombstone", in: cache.DeletedFinalStateUnknown{Key: "default/web", Obj: svc(true)}, want: cache.DeletedFinalStateUnknown{Key: "default/web", Obj: svc(false)}},
		{name: "not an object", in: "text", want: "text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := StripManagedFields(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("StripManagedFields() (-want +got):\n%s", diff)
			}
		})
	}
}
