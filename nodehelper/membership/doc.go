// Package membership keeps this node in the cluster's encrypted memberlist gossip and tells the node helper, quickly and without false alarms, which nodes are alive.
package membership
