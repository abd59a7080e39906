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
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
		if m, err := meta.Accessor(obj); err == nil {
			m.SetManagedFields(nil)
		}
		return d, nil
	}
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

var _ cache.TransformFunc = StripManagedFields
