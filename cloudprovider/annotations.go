package cloudprovider

import "github.com/barelb/barelb/internal/svcrequest"

// The Service annotations barelb reads. They are MetalLB's, so Services written for
// MetalLB v0.12 work unchanged.
const (
	// AnnotationAddressPool names the pool to allocate from.
	AnnotationAddressPool = svcrequest.AnnotationAddressPool
	// AnnotationAllowSharedIP is the sharing key: Services with the same key may share an address.
	AnnotationAllowSharedIP = svcrequest.AnnotationAllowSharedIP
	// AnnotationLoadBalancerIPs requests specific addresses: a comma-separated list, at most one per family.
	AnnotationLoadBalancerIPs = svcrequest.AnnotationLoadBalancerIPs
)
