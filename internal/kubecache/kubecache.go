// Package kubecache holds what barelb's informers share to keep their caches small.
package kubecache

import (
	"k8s.io/apimachinery/pkg/api/meta"
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
