package controlplane

import (
	"context"
	"fmt"
	"net"
	"runtime"

	"github.com/vishvananda/netns"
)

// inNetns runs fn on the calling goroutine, locked to its OS thread, while that
// thread is in the named network namespace. Sockets fn creates belong to it.
func inNetns(name string, fn func() error) error {
	target, err := netns.GetFromName(name)
	if err != nil {
		return fmt.Errorf("failed to open network namespace %q: %w", name, err)
	}
	defer target.Close()

	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("failed to open the current network namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("failed to enter network namespace %q: %w", name, err)
	}
	fnErr := fn()
	if err := netns.Set(orig); err != nil {
		// The thread stays locked, so the runtime discards it when this
		// goroutine ends instead of reusing it in the wrong namespace.
		return fmt.Errorf("failed to leave network namespace %q: %w", name, err)
	}
	runtime.UnlockOSThread()
	return fnErr
}

// DialInNetns returns a dial function that opens connections from inside the
// named network namespace, for Options.Dial when the apiserver only listens there.
// addr must be an IP literal with port: no name resolution happens in the namespace.
func DialInNetns(name string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		// FallbackDelay < 0 keeps the dial on this goroutine (no Happy Eyeballs
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
