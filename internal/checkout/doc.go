// Package checkout finds the barelb checkout a test runs in and the binaries that make build and make controlplane put in its bin directory.
package checkout
