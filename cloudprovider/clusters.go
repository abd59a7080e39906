package cloudprovider

import cloud "k8s.io/cloud-provider"

// Clusters is not supported: barelb only implements load balancers.
func (p *Provider) Clusters() (cloud.Clusters, bool) { return nil, false }
