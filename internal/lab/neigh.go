package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// neighLimitFiles are the host's neighbour-table limits, soft and hard, for
// both families. The tables are shared by every network namespace: a lab
// whose client resolves a thousand addresses, next to the nodes' own
// entries, passes the default hard limit of 1,024 and the kernel refuses new
// entries ("neighbor table overflow") until its garbage collector frees some.
var neighLimitFiles = []string{
	"/proc/sys/net/ipv4/neigh/default/gc_thresh2",
	"/proc/sys/net/ipv4/neigh/default/gc_thresh3",
	"/proc/sys/net/ipv6/neigh/default/gc_thresh2",
	"/proc/sys/net/ipv6/neigh/default/gc_thresh3",
}

// RaiseNeighbourLimits raises the host's neighbour-table limits to at least
// n entries (hard) and n/2 (soft), for a lab that resolves many addresses.
// restore puts back the values it changed. It changes only host settings,
// never sends anything, and needs root.
func RaiseNeighbourLimits(n int) (restore func() error, err error) {
	return raiseLimits(neighLimitFiles, n)
}

// raiseLimits raises the numbers in the files named gc_thresh3 (or any
// other name) to n and in those named gc_thresh2 to n/2, where they are
// lower. restore writes back the old value of each file it changed, unless
// someone has changed the file again since.
func raiseLimits(paths []string, n int) (restore func() error, err error) {
	type saved struct {
		path     string
		old, set string
	}
	var changed []saved
	restore = func() error {
		var errs []error
		for i := len(changed) - 1; i >= 0; i-- {
			c := changed[i]
			if b, err := os.ReadFile(c.path); err != nil || strings.TrimSpace(string(b)) != c.set {
				continue // changed by someone else since: theirs to restore
			}
			if err := os.WriteFile(c.path, []byte(c.old), 0o644); err != nil {
				errs = append(errs, err)
			}
		}
		changed = nil
		return errors.Join(errs...)
	}
	for _, p := range paths {
		want := n
		if filepath.Base(p) == "gc_thresh2" {
			want = n / 2
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("failed to read %s: %w", p, err), restore())
		}
		cur, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, errors.Join(fmt.Errorf("%s holds %q: not a number", p, b), restore())
		}
		if cur >= want {
			continue
		}
		set := strconv.Itoa(want)
		if err := os.WriteFile(p, []byte(set), 0o644); err != nil {
			return nil, errors.Join(fmt.Errorf("failed to raise %s from %d to %d: %w", p, cur, want, err), restore())
		}
		changed = append(changed, saved{path: p, old: string(b), set: set})
	}
	return restore, nil
}
