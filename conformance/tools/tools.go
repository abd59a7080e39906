//go:build tools

// Package tools pins the control-plane binaries the tests run: kube-apiserver and etcd.
//
// It is never compiled; the imports keep both main packages in this module's build
// list. hack/build-controlplane.sh builds them into bin/.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
