package main

import (
	"fmt"
	"io"

	"github.com/barelb/barelb/internal/gossipkey"
)

// runKeygen prints a new random gossip key, ready for the memberlist Secret:
//
//	kubectl -n barelb-system create secret generic memberlist \
//	  --from-literal=secretkey="$(barelbctl keygen)"
func runKeygen(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) != 0 {
		if isHelp(args) {
			fmt.Fprintln(stdout, "usage: barelbctl keygen")
			return exitOK
		}
		fmt.Fprintln(stderr, "usage: barelbctl keygen")
		return exitUsage
	}
	key, err := gossipkey.Generate()
	if err != nil {
		fmt.Fprintf(stderr, "barelbctl keygen: %v\n", err)
		return exitUsage
	}
	fmt.Fprintln(stdout, key)
	return exitOK
}
