//go:build !linux

package announce

import (
	"errors"
	"net"
)

// openLink fails: packet sockets are Linux-only here.
func openLink(*net.Interface) (*link, error) {
	return nil, errors.New("announce: only supported on Linux")
}
