// Package manifests holds barelb's Kubernetes manifests (kubectl apply -k) and
// the tests that build them with kustomize, apply them to a real kube-apiserver
// and prove that each identity has the rights it needs and no others.
package manifests
