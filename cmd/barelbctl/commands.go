package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Exit codes shared by every subcommand.
const (
	exitOK      = 0
	exitInvalid = 1 // the input was read but is not acceptable
	exitUsage   = 2 // bad arguments, or the input could not be read
)

// command is one subcommand. run receives the arguments after the
// subcommand's name and returns the process exit code.
type command struct {
	summary string
	run     func(args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

// commands returns the subcommands by name. Add new subcommands here.
func commands() map[string]command {
	return map[string]command{
		"keygen":   {summary: "keygen: print a new random gossip key for the memberlist Secret", run: runKeygen},
		"status":   {summary: "status [--kubeconfig FILE] [--config-map NS/NAME] [-o table|json]: configuration, pools and LoadBalancer Services of a cluster", run: runStatus},
		"validate": {summary: "validate FILE|- [-o text|json]: check a barelb (MetalLB v0.12) configuration", run: runValidate},
		"version":  {summary: "version: print the barelbctl version", run: runVersion},
	}
}

// run dispatches args (without the program name) to a subcommand.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 {
		usage(stderr, cmds)
		return exitUsage
	}
	if args[0] == "help" || isHelp(args) {
		usage(stdout, cmds)
		return exitOK
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "barelbctl: unknown command %q\n", args[0])
		usage(stderr, cmds)
		return exitUsage
	}
	return c.run(args[1:], stdin, stdout, stderr)
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for name := range cmds {
		names = append(names, name)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString("usage: barelbctl COMMAND [ARGS]\n\ncommands:\n")
	for _, name := range names {
		fmt.Fprintf(&b, "  %s\n", cmds[name].summary)
	}
	io.WriteString(w, b.String())
}

// isHelp reports whether args is a lone request for help.
func isHelp(args []string) bool {
	return len(args) == 1 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help")
}

// parseExit is the exit code for a flag parsing error: a request for help
// (the flag package has printed the usage) is not a usage error.
func parseExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}
