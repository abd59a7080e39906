package main

import (
	"net/netip"
	"strings"
	"testing"
)

// FuzzParseAnnouncement feeds parseAnnouncement arbitrary Event and condition
// messages, which anyone allowed to write Events can set.
func FuzzParseAnnouncement(f *testing.F) {
	for _, s := range []string{
		"announcing 198.51.100.3 on eth0 from node n2",
		"announcing 198.51.100.3 on eth0,eth1, 2001:db8::3 on eth0 from node n2",
		"announcing 198.51.100.3 from node n2 on eth0",
		"announcing  from node ",
		"announcing 198.51.100.3 on  from node n on ",
		`announcing from node "n1" with protocol "layer2"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		a := parseAnnouncement(msg)
		if a == nil {
			return
		}
		if a.Node == "" || strings.ContainsAny(a.Node, " ,") {
			t.Errorf("parseAnnouncement(%q) node = %q", msg, a.Node)
		}
		if len(a.Addresses) == 0 {
			t.Errorf("parseAnnouncement(%q) has no addresses", msg)
		}
		for _, aa := range a.Addresses {
			if _, err := netip.ParseAddr(aa.Address); err != nil {
				t.Errorf("parseAnnouncement(%q) address %q: %v", msg, aa.Address, err)
			}
			for _, i := range aa.Interfaces {
				if i == "" || strings.Contains(i, ",") {
					t.Errorf("parseAnnouncement(%q) interface %q", msg, i)
				}
			}
		}
	})
}
