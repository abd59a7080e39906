// Package kubecache holds what barelb's informers share to keep their caches small.
package kubecache

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// StripManagedFields is an informer transform that drops metadata.managedFields,
// which barelb never reads and which are often the largest part of a cached
// Service (one entry per field manager: the user's tool, the service
// controller, the CCM, the node helpers). Objects without metadata pass
// through unchanged.
func StripManagedFields(obj any) (any, error) {
	inner := obj
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		inner = d.Obj
	}
	if m, err := meta.Accessor(inner); err == nil {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

var _ cache.TransformFunc = StripManagedFields

// ByName returns an informer factory whose informers list and watch only the
// objects named name in namespace: barelb's RBAC grants its configuration,
// its record and the gossip-key Secret by name, and a by-name watch caches
// one object instead of the namespace's.
func ByName(client kubernetes.Interface, namespace, name string) informers.SharedInformerFactory {
	return informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) {
			lo.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
		}))
}
