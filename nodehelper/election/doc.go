// Package election decides, purely and identically on every node, which node announces each group of load-balancer addresses, using rendezvous hashing over the nodes that are fit to serve it.
package election
