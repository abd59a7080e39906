// Package labcluster runs barelb end to end on one machine: a real etcd and kube-apiserver, the barelb-ccm and barelb-nodehelper binaries with exactly the RBAC of manifests/, in a lab of network namespaces; for the conformance suite and make demo.
package labcluster
