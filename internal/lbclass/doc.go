// Package lbclass decides, from a Service's type and spec.loadBalancerClass, whether barelb serves it: one rule for the CCM and the node helpers.
package lbclass
