package controller

import (
	"context"
	"fmt"
	"net"

	"k8s.io/klog/v2"
)

// runningAnnouncer is an announcer and the means to stop it.
type runningAnnouncer struct {
	a      Announcer
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// startAnnouncer starts an announcer for the named interface.
func (c *Controller) startAnnouncer(ctx context.Context, name string) error {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return fmt.Errorf("failed to look up interface %s: %w", name, err)
	}
	actx, cancel := context.WithCancel(ctx)
	ra := &runningAnnouncer{a: c.o.NewAnnouncer(ifi, c.conflicts.push), cancel: cancel, done: make(chan struct{})}
	if c.o.MemberMACs != nil {
		ra.a.SetMembers(c.memberMACs)
	}
	go func() {
		defer close(ra.done)
		ra.err = ra.a.Run(actx)
	}()
	c.announcers[name] = ra
	c.o.Metrics.announcerSet(name, ra.a)
	klog.FromContext(ctx).Info("Started announcer", "interface", name)
	return nil
}

// reapAnnouncers forgets announcers that stopped on their own (their link
// went away, a socket failed), so the next apply starts them afresh.
func (c *Controller) reapAnnouncers(ctx context.Context) {
	for name, ra := range c.announcers {
		select {
		case <-ra.done:
			klog.FromContext(ctx).Info("Announcer stopped", "interface", name, "err", ra.err)
			ra.cancel()
			delete(c.announcers, name)
			c.o.Metrics.announcerSet(name, nil)
		default:
		}
	}
}

// stopAnnouncers stops every announcer and waits for them.
func (c *Controller) stopAnnouncers() {
	for _, ra := range c.announcers {
		ra.a.SetOwned(nil)
		ra.cancel()
	}
	for name, ra := range c.announcers {
		<-ra.done
		delete(c.announcers, name)
		c.o.Metrics.announcerSet(name, nil)
	}
}
