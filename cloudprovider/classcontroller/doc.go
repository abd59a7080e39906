// Package classcontroller serves the LoadBalancer Services of one spec.loadBalancerClass through a cloud.LoadBalancer, keeping their finalizer, status and Events as the stock service controller keeps those of class-less Services.
package classcontroller
