package controlplane

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// RequireEnv is the environment variable that turns a missing control plane into a
// test failure instead of a skip (`make test` sets it).
const RequireEnv = "BARELB_REQUIRE_CONTROLPLANE"

// ForTest starts a control plane with default Options for t and stops it in
// t.Cleanup. When the binaries are missing it skips t, or fails it if $RequireEnv
// is 1. When t has failed, the end of the control plane's logs goes to t.Log.
func ForTest(t testing.TB) *ControlPlane {
	t.Helper()
	return ForTestWithOptions(t, Options{})
}

// ForTestWithOptions is ForTest with options.
func ForTestWithOptions(t testing.TB, o Options) *ControlPlane {
	t.Helper()
	c, err := Start(t.Context(), o)
	if errors.Is(err, ErrBinariesMissing) && os.Getenv(RequireEnv) != "1" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatalf("failed to start control plane: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for name, lines := range c.logLines(40) {
				t.Logf("end of %s:\n%s", name, strings.Join(lines, "\n"))
			}
		}
		if err := c.Stop(); err != nil {
			t.Errorf("failed to stop control plane: %v", err)
		}
	})
	return c
}
