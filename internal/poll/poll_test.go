package poll

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestUntil(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		results []bool // what cond returns on each call; after them, cond fails with boom
		timeout time.Duration
		want    error
		calls   int
	}{
		{name: "true at once", results: []bool{true}, timeout: time.Second, calls: 1},
		{name: "true on the third call", results: []bool{false, false, true}, timeout: time.Second, calls: 3},
		{name: "an error ends it", results: []bool{false}, timeout: time.Second, want: boom, calls: 2},
		{name: "the deadline ends it", results: make([]bool, 1000), timeout: 30 * time.Millisecond, want: context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			calls := 0
			err := Until(ctx, time.Millisecond, func() (bool, error) {
				calls++
				if calls > len(tt.results) {
					return false, boom
				}
				return tt.results[calls-1], nil
			})
			if !errors.Is(err, tt.want) {
				t.Errorf("Until() = %v, want %v", err, tt.want)
			}
			if tt.calls > 0 && calls != tt.calls {
				t.Errorf("cond called %d times, want %d", calls, tt.calls)
			}
		})
	}
}

// recorder is a testing.TB that records Fatalf instead of ending the test.
type recorder struct {
	testing.TB
	fatal string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }

func TestFor(t *testing.T) {
	t.Parallel()
	r := &recorder{TB: t}
	n := 0
	For(r, time.Second, "the third call", func() error {
		if n++; n < 3 {
			return fmt.Errorf("call %d", n)
		}
		return nil
	})
	if r.fatal != "" || n != 3 {
		t.Errorf("For after %d calls: Fatalf(%q), want 3 calls and no failure", n, r.fatal)
	}

	r = &recorder{TB: t}
	For(r, 30*time.Millisecond, "never", func() error { return errors.New("still not") })
	if want := "waiting 30ms for never: context deadline exceeded (last: still not)"; r.fatal != want {
		t.Errorf("For that times out: Fatalf(%q), want %q", r.fatal, want)
	}
}
