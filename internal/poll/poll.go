package poll

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// Interval is how often For checks its condition.
const Interval = 10 * time.Millisecond

// Until calls cond at once and then every interval until it returns true or an error, or ctx
// ends; it returns cond's error or ctx's. It is wait.PollUntilContextCancel for a condition that
// needs no context, and runs cond on the calling goroutine.
func Until(ctx context.Context, interval time.Duration, cond func() (bool, error)) error {
	return wait.PollUntilContextCancel(ctx, interval, true, func(context.Context) (bool, error) { return cond() })
}

// For calls cond at once and then every Interval until it returns nil, and fails t with what and
// cond's last error when timeout passes first. cond's error says why the condition does not hold
// yet; it does not end the wait. cond runs on the calling goroutine, so it may call t.Fatal.
func For(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	err := Until(ctx, Interval, func() (bool, error) {
		last = cond()
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("waiting %v for %s: %v (last: %v)", timeout, what, err, last)
	}
}
