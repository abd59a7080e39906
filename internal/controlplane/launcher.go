package controlplane

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// launcher runs functions on one OS thread reserved for the life of a control
// plane, optionally inside a network namespace. Children are forked there:
//   - a child inherits the network namespace of the thread that forks it;
//   - Pdeathsig fires when the forking *thread* ends, not the process, so that
//     thread must outlive the children, and no other goroutine may ever run on it
//     (one that locked it and exited would end it and kill our children with it).
type launcher struct {
	reqs chan func()
	done chan struct{}
}

// startLauncher reserves the thread and enters the named network namespace, if any.
func startLauncher(ns string) (*launcher, error) {
	l := &launcher{reqs: make(chan func()), done: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends with this goroutine, so it is never
		// reused, in a foreign namespace or otherwise.
		runtime.LockOSThread()
		defer close(l.done)
		if ns != "" {
			h, err := netns.GetFromName(ns)
			if err != nil {
				ready <- fmt.Errorf("failed to open network namespace %q: %w", ns, err)
				return
			}
			err = netns.Set(h)
			h.Close()
			if err != nil {
				ready <- fmt.Errorf("failed to enter network namespace %q: %w", ns, err)
				return
			}
		}
		ready <- nil
		for f := range l.reqs {
			f()
		}
	}()
	if err := <-ready; err != nil {
		<-l.done
		return nil, err
	}
	return l, nil
}

// run calls f on the launcher's thread and returns its result.
func (l *launcher) run(f func() error) error {
	res := make(chan error, 1)
	l.reqs <- func() { res <- f() }
	return <-res
}

// stop ends the thread. Children it started get SIGKILL, so stop them first.
func (l *launcher) stop() {
	close(l.reqs)
	<-l.done
}
