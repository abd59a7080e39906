// Package controller follows Kubernetes and the gossip membership, elects the owner of every service address, and keeps this node's announcers serving exactly the addresses it owns.
package controller
