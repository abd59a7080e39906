package cloudprovider

import "github.com/barelb/barelb/internal/svcrequest"

// The Service annotations barelb reads. They are MetalLB's, under its current
// prefix metallb.io/ and its legacy prefix metallb.universe.tf/, so Services
// written for MetalLB v0.12 and for current MetalLB work unchanged. A setting
// may be given under both prefixes only with the same value (see svcrequest).
const (
	// AnnotationAddressPool names the pool to allocate from.
	AnnotationAddressPool = svcrequest.AnnotationAddressPool
	// AnnotationAllowSharedIP is the sharing key: Services with the same key may share an address.
	AnnotationAllowSharedIP = svcrequest.AnnotationAllowSharedIP
	// AnnotationLoadBalancerIPs requests specific addresses: a comma-separated list, at most one per family.
	AnnotationLoadBalancerIPs = svcrequest.AnnotationLoadBalancerIPs

	// LegacyAnnotationAddressPool is AnnotationAddressPool under the legacy prefix.
	LegacyAnnotationAddressPool = svcrequest.LegacyAnnotationAddressPool
	// LegacyAnnotationAllowSharedIP is AnnotationAllowSharedIP under the legacy prefix.
	LegacyAnnotationAllowSharedIP = svcrequest.LegacyAnnotationAllowSharedIP
	// LegacyAnnotationLoadBalancerIPs is AnnotationLoadBalancerIPs under the legacy prefix.
	LegacyAnnotationLoadBalancerIPs = svcrequest.LegacyAnnotationLoadBalancerIPs
)
