package conformance

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"

	"github.com/barelb/barelb/internal/labcluster"
)

// Case 2: IPv6 through NDP, the client's unicast NUD probes answered: with
// a one-second reachable time the client re-probes the address every few
// seconds, and its entry must never fail.
func TestIPv6NUDStaysAnswered(t *testing.T) {
	c := startCluster(t, labcluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := labcluster.NewService("default", "nud")
	s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
	s.Spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicySingleStack)
	addr := exposed(t, c, s)[0]
	if _, err := c.WaitReachable(ctx, addr); err != nil {
		t.Fatal(err)
	}
	cl := c.Lab.Client
	err := cl.Do(func() error {
		for name, val := range map[string]string{"base_reachable_time_ms": "1000", "delay_first_probe_time": "1"} {
			p := filepath.Join("/proc/sys/net/ipv6/neigh", cl.Link, name)
			if err := os.WriteFile(p, []byte(val), 0o644); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := startStream(ctx, c, addr, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]int{}
	holdFor(t, 12*time.Second, 20*time.Millisecond, "neighbour entry", func() error {
		neighs, err := cl.Handle().NeighList(0, netlink.FAMILY_V6)
		if err != nil {
			return err
		}
		for _, n := range neighs {
			if n.IP.Equal(addr.AsSlice()) {
				states[nudName(n.State)]++
				if n.State&(netlink.NUD_FAILED|netlink.NUD_INCOMPLETE) != 0 {
					t.Errorf("client's entry for %v is %s", addr, nudName(n.State))
				}
			}
		}
		return nil
	})
	sent, lost := st.stopAndCount()
	t.Logf("NUD: states seen %v; %d requests, %d lost", states, sent, lost)
	// The client's entry is not always seen leaving REACHABLE here (the
	// announce package's privileged test drives unicast NUD revalidation
	// itself); what must hold is that it never fails and nothing is lost.
	if lost != 0 {
		t.Errorf("%d of %d requests lost while the client re-probed", lost, sent)
	}
}

// nudName names a neighbour state as ip-neighbour(8) does.
func nudName(state int) string {
	for _, s := range []struct {
		bit  int
		name string
	}{
		{netlink.NUD_INCOMPLETE, "INCOMPLETE"}, {netlink.NUD_REACHABLE, "REACHABLE"}, {netlink.NUD_STALE, "STALE"},
		{netlink.NUD_DELAY, "DELAY"}, {netlink.NUD_PROBE, "PROBE"}, {netlink.NUD_FAILED, "FAILED"},
		{netlink.NUD_NOARP, "NOARP"}, {netlink.NUD_PERMANENT, "PERMANENT"},
	} {
		if state&s.bit != 0 {
			return s.name
		}
	}
	return "NONE"
}
