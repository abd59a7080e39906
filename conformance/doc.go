// Package conformance is barelb's end-to-end suite: the real binaries on a real control plane and a real layer-2 network of namespaces, and the source of barelb's headline figures.
package conformance
