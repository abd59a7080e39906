// Package config parses and validates barelb's configuration, the MetalLB v0.12 legacy ConfigMap format, into one typed value shared by both binaries.
package config
