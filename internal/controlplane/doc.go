// Package controlplane runs a real etcd and kube-apiserver as child processes, for tests and the lab.
package controlplane
