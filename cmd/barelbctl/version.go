package main

import (
	"fmt"
	"io"

	"github.com/barelb/barelb/internal/version"
)

// runVersion prints the version stamped at build time.
func runVersion(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) != 0 {
		if isHelp(args) {
			fmt.Fprintln(stdout, "usage: barelbctl version")
			return exitOK
		}
		fmt.Fprintln(stderr, "usage: barelbctl version")
		return exitUsage
	}
	fmt.Fprintf(stdout, "barelbctl %s\n", version.Version)
	return exitOK
}
