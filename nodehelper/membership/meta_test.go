package membership

import (
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/memberlist"

	"github.com/barelb/barelb/internal/poll"
)

func mac(last byte) net.HardwareAddr { return net.HardwareAddr{0x02, 0, 0, 0, 0, last} }

func macStrings(macs []net.HardwareAddr) []string {
	var out []string
	for _, m := range macs {
		out = append(out, m.String())
	}
	return out
}

func TestMetaRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []net.HardwareAddr
		want []string
	}{
		{name: "none"},
		{name: "two", in: []net.HardwareAddr{mac(1), mac(2)}, want: []string{"02:00:00:00:00:01", "02:00:00:00:00:02"}},
		{name: "not Ethernet skipped", in: []net.HardwareAddr{make(net.HardwareAddr, 20), mac(3)}, want: []string{"02:00:00:00:00:03"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := decodeMeta(encodeMeta(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, macStrings(got)); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
	many := make([]net.HardwareAddr, 200)
	for i := range many {
		many[i] = mac(byte(i))
	}
	if b := encodeMeta(many); len(b) > memberlist.MetaMaxSize {
		t.Errorf("meta of 200 MACs is %d bytes, over memberlist's %d", len(b), memberlist.MetaMaxSize)
	}
}

func TestDecodeMetaRejects(t *testing.T) {
	t.Parallel()
	for name, b := range map[string][]byte{
		"unknown version": {2, 0},
		"short":           {1, 1, 2, 0, 0},
		"long":            {1, 0, 0},
		"no count":        {1},
	} {
		if _, err := decodeMeta(b); err == nil {
			t.Errorf("%s: decodeMeta(%x) succeeded", name, b)
		}
	}
}

func FuzzDecodeMeta(f *testing.F) {
	f.Add(encodeMeta([]net.HardwareAddr{mac(1), mac(2)}))
	f.Add([]byte{1, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		macs, err := decodeMeta(b)
		if err != nil {
			return
		}
		for _, m := range macs {
			if len(m) != 6 {
				t.Fatalf("MAC %v of %d bytes", m, len(m))
			}
		}
	})
}

func TestMACBook(t *testing.T) {
	t.Parallel()
	var b macBook
	b.setLocal([]net.HardwareAddr{mac(9)})
	b.joined(&memberlist.Node{Name: "a", Meta: encodeMeta([]net.HardwareAddr{mac(1)})})
	b.joined(&memberlist.Node{Name: "b", Meta: encodeMeta([]net.HardwareAddr{mac(2)})})
	b.joined(&memberlist.Node{Name: "old", Meta: []byte{7, 7}}) // unreadable: publishes nothing
	sorted := func() []string {
		s := macStrings(b.macs())
		slices.Sort(s)
		return s
	}
	if diff := cmp.Diff([]string{"02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:09"}, sorted()); diff != "" {
		t.Errorf("live (-want +got):\n%s", diff)
	}
	// Gone, left or dead alike: its MACs are no member's any more.
	b.gone(&memberlist.Node{Name: "a"})
	if diff := cmp.Diff([]string{"02:00:00:00:00:02", "02:00:00:00:00:09"}, sorted()); diff != "" {
		t.Errorf("after a left (-want +got):\n%s", diff)
	}
	if b.setLocal([]net.HardwareAddr{mac(9)}) {
		t.Error("setLocal reported a change for the same MACs")
	}
}

// The MACs a member publishes reach its peers, also when they change after
// the join, and are forgotten when it leaves.
func TestMemberMACsGossiped(t *testing.T) {
	t.Parallel()
	ts, addrs := mockCluster(t, "a", "b")
	a := start(t, Config{NodeName: "a", Transport: ts["a"], Insecure: true, Peers: staticPeers(addrs[0])}, logr.Discard())
	a.SetLocalMACs([]net.HardwareAddr{mac(1)})
	b := start(t, Config{NodeName: "b", Transport: ts["b"], Insecure: true, Peers: staticPeers(addrs[0])}, logr.Discard())
	b.SetLocalMACs([]net.HardwareAddr{mac(2)})
	has := func(r *running, want ...string) func() error {
		return func() error {
			got := macStrings(r.MemberMACs())
			slices.Sort(got)
			if !cmp.Equal(want, got) {
				return fmt.Errorf("%s knows %v", r.cfg.NodeName, got)
			}
			return nil
		}
	}
	poll.For(t, 10*time.Second, "a to know b's MAC", has(a, "02:00:00:00:00:01", "02:00:00:00:00:02"))
	poll.For(t, 10*time.Second, "b to know a's MAC", has(b, "02:00:00:00:00:01", "02:00:00:00:00:02"))
	b.SetLocalMACs([]net.HardwareAddr{mac(3)})
	poll.For(t, 10*time.Second, "a to learn b's new MAC", has(a, "02:00:00:00:00:01", "02:00:00:00:00:03"))
	b.stop(t)
	waitMembers(t, 10*time.Second, []*running{a}, []string{"a"})
	if err := has(a, "02:00:00:00:00:01")(); err != nil {
		t.Errorf("b's MAC still a member's after it left: %v", a.MemberMACs())
	}
}
