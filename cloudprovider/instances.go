package cloudprovider

import cloud "k8s.io/cloud-provider"

// Instances is not supported: barelb only implements load balancers.
func (p *Provider) Instances() (cloud.Instances, bool) { return nil, false }

// InstancesV2 is not supported: barelb only implements load balancers.
func (p *Provider) InstancesV2() (cloud.InstancesV2, bool) { return nil, false }
