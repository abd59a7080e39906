package cloudprovider

import cloud "k8s.io/cloud-provider"

// Zones is not supported: barelb only implements load balancers.
func (p *Provider) Zones() (cloud.Zones, bool) { return nil, false }
