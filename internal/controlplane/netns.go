package controlplane

import (
	"context"
	"fmt"
	"net"

	"github.com/vishvananda/netns"

	"github.com/barelb/barelb/internal/lab"
)

// inNetns runs fn in the named network namespace, on a locked OS thread of its own (see
// lab.InNamespace). Sockets fn creates belong to the namespace.
func inNetns(name string, fn func() error) error {
	target, err := netns.GetFromName(name)
	if err != nil {
		return fmt.Errorf("failed to open network namespace %q: %w", name, err)
	}
	defer target.Close()
	return lab.InNamespace(target, fn)
}

// DialInNetns returns a dial function that opens connections from inside the
// named network namespace, for Options.Dial when the apiserver only listens there.
// addr must be an IP literal with port: no name resolution happens in the namespace.
func DialInNetns(name string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		// FallbackDelay < 0 keeps the dial on fn's goroutine (no Happy Eyeballs
		// race on another thread, which would be outside the namespace).
		d := net.Dialer{FallbackDelay: -1}
		var c net.Conn
		err := inNetns(name, func() error {
			var err error
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		if err != nil {
			if c != nil {
				c.Close()
			}
			return nil, err
		}
		return c, nil
	}
}
