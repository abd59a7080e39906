package announce_test

import (
	"context"
	"net"
	"net/netip"

	"github.com/barelb/barelb/nodehelper/announce"
	"k8s.io/klog/v2"
)

// An Announcer per interface; the election decides what it owns.
func Example() {
	ctx := context.Background()
	ifi, err := net.InterfaceByName("eth0")
	if err != nil {
		klog.FromContext(ctx).Error(err, "No such interface")
		return
	}
	a := announce.New(ifi, announce.Options{})
	go func() {
		if err := a.Run(ctx); err != nil {
			klog.FromContext(ctx).Error(err, "Announcer failed", "interface", ifi.Name)
		}
	}()

	// Whenever ownership changes: gained addresses are announced at once,
	// lost ones are no longer answered when SetOwned returns.
	a.SetOwned([]netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10")})
}
