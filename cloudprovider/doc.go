// Package cloudprovider is the barelb adapter to k8s.io/cloud-provider: a LoadBalancer implementation that hands out addresses from the configured pools.
package cloudprovider
