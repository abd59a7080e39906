// Command barelbctl is the barelb command-line tool: it validates configurations
// and, through further subcommands, inspects a running installation.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
