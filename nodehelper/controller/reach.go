package controller

import (
	"context"
	"fmt"
	"maps"

	"k8s.io/klog/v2"

	"github.com/barelb/barelb/nodehelper/election"
	"github.com/barelb/barelb/nodehelper/ifaces"
)

// publishLinks gives the gossip the MACs of the links this node may announce
// on and its reach, when they changed, and reports whether they did.
func (c *Controller) publishLinks(links []ifaces.Link, chooser *ifaces.Chooser) bool {
	if c.o.PublishLinks == nil || links == nil {
		// links nil: the watcher has not listed yet, and an empty reach
		// would make the peers take this node's addresses.
		return false
	}
	macs := eligibleMACs(links, c.o.Filter)
	reach := chooser.Reach()
	key := fmt.Sprint(macs, reach)
	if key == c.published {
		return false
	}
	c.published = key
	c.o.PublishLinks(macs, reach)
	return true
}

// refreshReach hands the election the reach the members publish, when it
// changed, and returns how ownership changed.
func (c *Controller) refreshReach(ctx context.Context) election.Changes {
	if c.o.MemberReach == nil {
		return nil
	}
	now := c.o.MemberReach()
	if maps.EqualFunc(now, c.reach, ifaces.Reach.Equal) {
		return nil
	}
	c.reach = now
	changes := c.table.SetReach(now)
	if _, lost := changes.For(c.o.NodeName); len(lost) > 0 {
		r := now[c.o.NodeName]
		klog.FromContext(ctx).Info("Yielding addresses to nodes with a better interface for them",
			"groups", keysString(lost), "prefixes", fmt.Sprint(r.Prefixes), "nodeLink", r.NodeLink)
	}
	return changes
}
