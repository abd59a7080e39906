package lbclass

import (
	"strconv"

	v1 "k8s.io/api/core/v1"
)

// ExcludedNode reads a Node's labels as the stock service controller does
// (k8s.io/cloud-provider's node predicate): the label
// node.kubernetes.io/exclude-from-external-load-balancers excludes the Node
// when its value is true or not a boolean; "false" does not. The CCM's class
// controller and the node helpers read it here, so barelb and the service
// controller agree on every node.
func ExcludedNode(labels map[string]string) bool {
	v, ok := labels[v1.LabelNodeExcludeBalancers]
	if !ok {
		return false
	}
	b, err := strconv.ParseBool(v)
	return err != nil || b
}
