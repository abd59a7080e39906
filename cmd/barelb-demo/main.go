// Command barelb-demo is make demo: a local lab cluster with a LoadBalancer
// Service reachable through barelb. It needs root (network namespaces).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/barelb/barelb/internal/demo"
)

func main() {
	var o demo.Options
	flag.IntVar(&o.Nodes, "nodes", 3, "number of lab nodes")
	flag.BoolVar(&o.Wait, "wait", true, "keep the lab up until Ctrl-C")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "make demo needs root: it builds network namespaces, a bridge and veth pairs (run: sudo make demo).")
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := demo.Run(ctx, os.Stdout, o); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}
