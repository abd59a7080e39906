// Package allocator assigns addresses from the configured pools to services: pure Go over netip, with no Kubernetes imports.
package allocator
