package controller

import "time"

// batcher spaces the recomputes caused by Kubernetes and link changes at
// least interval apart. A recompute reads every cache, and during a burst (a
// thousand Services created at once, or kube-proxy adding addresses to
// kube-ipvs0 by the thousand) recomputing per event would spend the node's
// CPU for nothing. Membership changes, the failover path, do not go through
// it. It is used from one goroutine.
type batcher struct {
	interval time.Duration
	now      func() time.Time
	// arm starts the timer whose firing the loop reports with fired.
	arm func(wait time.Duration)
	// last is when the last change was handled; armed is whether the
	// timer runs.
	last  time.Time
	armed bool
}

// newBatcher returns a batcher whose last change was handled now.
func newBatcher(interval time.Duration, now func() time.Time, arm func(time.Duration)) *batcher {
	return &batcher{interval: interval, now: now, arm: arm, last: now()}
}

// due reports whether a change may be handled now; if it is too soon after
// the last one, it arms the timer (once) instead.
func (b *batcher) due() bool {
	wait := b.interval - b.now().Sub(b.last)
	if wait <= 0 {
		return true
	}
	if !b.armed {
		b.arm(wait)
		b.armed = true
	}
	return false
}

// fired notes that the timer fired: the caller handles the held changes now.
func (b *batcher) fired() { b.armed = false }

// handled notes that a change was handled now.
func (b *batcher) handled() { b.last = b.now() }
