package controller

import (
	"context"
	"fmt"
	"slices"

	"k8s.io/klog/v2"

	"github.com/barelb/barelb/nodehelper/ifaces"
)

// linkID is what an announcer was started for: the interface's index and
// MAC. An interface deleted and re-created under its name has a new index,
// and a bond that fails over, or an operator, may change the MAC; either way
// the announcer's sockets or its frames no longer fit, and a new announcer
// takes over.
type linkID struct {
	index int
	mac   string
}

func idOf(l ifaces.Link) linkID { return linkID{index: l.Index, mac: l.HardwareAddr.String()} }

// staleLinks returns, sorted, the names in running whose link is gone from
// links, or is there with another index or MAC.
func staleLinks(running map[string]linkID, links []ifaces.Link) []string {
	now := make(map[string]linkID, len(links))
	for _, l := range links {
		now[l.Name] = idOf(l)
	}
	var stale []string
	for name, id := range running {
		if cur, ok := now[name]; !ok || cur != id {
			stale = append(stale, name)
		}
	}
	slices.Sort(stale)
	return stale
}

// runningAnnouncer is an announcer and the means to stop it.
type runningAnnouncer struct {
	a      Announcer
	link   linkID
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// startAnnouncer starts an announcer for the link l of the current
// snapshot.
func (c *Controller) startAnnouncer(ctx context.Context, l ifaces.Link) error {
	ifi, err := c.interfaceByName(l.Name)
	if err != nil {
		return fmt.Errorf("failed to look up interface %s: %w", l.Name, err)
	}
	// If the interface changed since the snapshot, the watcher's next
	// snapshot shows it, and retireStale replaces this announcer then.
	actx, cancel := context.WithCancel(ctx)
	ra := &runningAnnouncer{a: c.o.NewAnnouncer(ifi, c.conflicts.push), link: idOf(l), cancel: cancel, done: make(chan struct{})}
	if c.o.MemberMACs != nil {
		ra.a.SetMembers(c.memberMACs)
	}
	go func() {
		defer close(ra.done)
		ra.err = ra.a.Run(actx)
	}()
	c.announcers[l.Name] = ra
	c.o.Metrics.announcerSet(l.Name, ra.a)
	klog.FromContext(ctx).Info("Started announcer", "interface", l.Name, "index", l.Index, "mac", l.HardwareAddr.String())
	return nil
}

// retireStale stops the announcers whose link is gone or was replaced (see
// linkID), so that apply starts a new one where the address is still to be
// announced: a fresh announcer announces all it owns as newly gained.
// links nil (the watcher has not listed yet) retires nothing.
func (c *Controller) retireStale(ctx context.Context, links []ifaces.Link) {
	if links == nil {
		return
	}
	running := make(map[string]linkID, len(c.announcers))
	for name, ra := range c.announcers {
		running[name] = ra.link
	}
	for _, name := range staleLinks(running, links) {
		ra := c.announcers[name]
		klog.FromContext(ctx).Info("Interface replaced or gone; stopping its announcer", "interface", name, "index", ra.link.index, "mac", ra.link.mac)
		ra.a.SetOwned(nil)
		ra.cancel()
		delete(c.announcers, name)
		c.o.Metrics.announcerSet(name, nil)
		c.stopping = append(c.stopping, ra)
	}
}

// reapAnnouncers forgets announcers that stopped on their own (their link
// went away, a socket failed), so the next apply starts them afresh, and
// retired ones that finished.
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
	c.stopping = slices.DeleteFunc(c.stopping, func(ra *runningAnnouncer) bool {
		select {
		case <-ra.done:
			return true
		default:
			return false
		}
	})
}

// stopAnnouncers stops every announcer and waits for them, the retired ones
// included.
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
	for _, ra := range c.stopping {
		<-ra.done
	}
	c.stopping = nil
}
