// Package version holds the build version, stamped at link time with -ldflags -X.
package version

// Version is set by the Makefile with -ldflags "-X github.com/barelb/barelb/internal/version.Version=...".
var Version = "dev"
