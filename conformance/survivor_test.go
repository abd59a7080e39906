package conformance

import (
	"context"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/barelb/barelb/internal/labcluster"
	"github.com/barelb/barelb/internal/poll"
)

// TestLastSurvivorServes: with the helpers of two of three nodes killed and
// their links cut, the third node's helper restarts (kill -9, start again)
// and, reaching no peer, serves as a cluster of one: the address is answered
// by it within 5 s of the restart, cache sync included.
func TestLastSurvivorServes(t *testing.T) {
	c := startCluster(t, labcluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	addr := exposed(t, c, labcluster.NewService("default", "survivor"))[0]
	owner, err := c.WaitReachable(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	// The survivor is not the owner, so it has taken the address over once
	// before its own restart.
	var survivor string
	var others []string
	for _, n := range c.Lab.Nodes {
		if survivor == "" && n.Name != owner {
			survivor = n.Name
			continue
		}
		others = append(others, n.Name)
	}
	for _, n := range others {
		p := c.Proc("helper-" + n)
		if err := p.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = p.Wait(ctx)
		if err := c.Lab.Node(n).SetLinkUp(ctx, false); err != nil {
			t.Fatal(err)
		}
	}
	waitAnsweredBy(t, c, addr, survivor)

	p := c.Proc("helper-" + survivor)
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.Wait(ctx)
	restarted := time.Now()
	if _, err := c.StartHelper(survivor); err != nil {
		t.Fatal(err)
	}
	// ARP, not the echo: the client's neighbour cache still holds the
	// survivor's MAC from before the restart, so only a fresh ARP answer
	// shows the restarted helper announcing.
	mac := c.Lab.Node(survivor).MAC.String()
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	var last []string
	err = poll.Until(wctx, 50*time.Millisecond, func() (bool, error) {
		macs, err := arpProbe(c.Lab.Client, addr, 1, 150*time.Millisecond)
		last = macs
		return err == nil && slices.Equal(macs, []string{mac}), nil
	})
	if err != nil {
		t.Fatalf("%v not answered by the restarted survivor %s (%s) within a minute (last ARP answers %v): %v", addr, survivor, mac, last, err)
	}
	took := time.Since(restarted)
	record("last survivor restart → answered", []time.Duration{took})
	t.Logf("the restarted survivor %s answered ARP for %v %v after its restart", survivor, addr, took)
	if took > 5*time.Second {
		t.Errorf("the restarted survivor answered %v after its restart, want ≤ 5 s", took)
	}
	waitAnsweredBy(t, c, addr, survivor)

	// The others come back: they join the survivor, and the address has
	// exactly one owner again.
	for _, n := range others {
		if err := c.Lab.Node(n).SetLinkUp(ctx, true); err != nil {
			t.Fatal(err)
		}
		if _, err := c.StartHelper(n); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range others {
		waitReady(t, c, n)
	}
	err = poll.Until(wctx, 100*time.Millisecond, func() (bool, error) {
		macs, err := arpProbe(c.Lab.Client, addr, 3, 150*time.Millisecond)
		last = macs
		return err == nil && len(macs) == 1, nil
	})
	if err != nil {
		t.Fatalf("not exactly one owner of %v after the others came back (last ARP answers %v): %v", addr, last, err)
	}
}
