package cloudprovider

import cloud "k8s.io/cloud-provider"

// Routes is not supported: barelb only implements load balancers.
func (p *Provider) Routes() (cloud.Routes, bool) { return nil, false }
