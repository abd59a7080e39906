package membership

import (
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/google/go-cmp/cmp"
)

// captured is what funcr received for one log call.
type captured struct {
	prefix, args string
}

func captureLogger(out *[]captured) logr.Logger {
	return funcr.New(func(prefix, args string) {
		*out = append(*out, captured{prefix, args})
	}, funcr.Options{Verbosity: 10})
}

func TestLogAdapter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		line string
		want []string // substrings of the one entry logged
	}{
		{name: "error", line: "[ERR] memberlist: Failed to send gossip to 192.0.2.1:7946: boom\n",
			want: []string{`"msg"="memberlist error"`, `"error"=null`, `"detail"="Failed to send gossip to 192.0.2.1:7946: boom"`}},
		{name: "warning", line: "[WARN] memberlist: Refuting a suspect message (from: n2)\n",
			want: []string{`"level"=0`, `"msg"="memberlist warning"`, `"detail"="Refuting a suspect message (from: n2)"`}},
		{name: "info at V(2)", line: "[INFO] memberlist: Marking n2 as failed, suspect timeout reached (1 peer confirmations)\n",
			want: []string{`"level"=2`, `"detail"="Marking n2 as failed`}},
		{name: "debug at V(4)", line: "[DEBUG] memberlist: Initiating push/pull sync with: n2 192.0.2.2:7946\n",
			want: []string{`"level"=4`, `"level"="DEBUG"`}},
		{name: "no level", line: "Err: Could not set the deadline: x\n",
			want: []string{`"level"=4`, `"detail"="Err: Could not set the deadline: x"`}},
		{name: "key mismatch, whatever the level", line: "[DEBUG] memberlist: Failed to join 192.0.2.2:7946: no installed keys could decrypt the message\n",
			want: []string{`"msg"="gossip key mismatch: `, `"detail"="Failed to join 192.0.2.2:7946: no installed keys could decrypt the message"`, `"suppressedSinceLast"=0`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []captured
			a := &logAdapter{logger: captureLogger(&got), now: time.Now}
			if n, err := a.Write([]byte(tt.line)); n != len(tt.line) || err != nil {
				t.Fatalf("Write() = %d, %v; want %d, nil", n, err, len(tt.line))
			}
			if len(got) != 1 {
				t.Fatalf("logged %d entries, want 1: %v", len(got), got)
			}
			for _, w := range tt.want {
				if !strings.Contains(got[0].args, w) {
					t.Errorf("entry %s lacks %s", got[0].args, w)
				}
			}
		})
	}
}

// TestLogAdapterKeyMismatchRateLimit: every mismatch is counted, one error
// per interval is logged, carrying how many were suppressed.
func TestLogAdapterKeyMismatchRateLimit(t *testing.T) {
	t.Parallel()
	var got []captured
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	counted := 0
	a := &logAdapter{
		logger:        captureLogger(&got),
		now:           func() time.Time { return now },
		onKeyMismatch: func() { counted++ },
	}
	line := []byte("[ERR] memberlist: Decrypt packet failed: no installed keys could decrypt the message from=192.0.2.9:7946\n")
	for _, step := range []time.Duration{0, time.Second, 5 * time.Second, 5 * time.Second, time.Second} {
		now = now.Add(step)
		a.Write(line)
	}
	if counted != 5 {
		t.Errorf("counted %d mismatches, want 5", counted)
	}
	var suppressed []string
	for _, c := range got {
		i := strings.Index(c.args, `"suppressedSinceLast"=`)
		suppressed = append(suppressed, c.args[i+len(`"suppressedSinceLast"=`):])
	}
	// Logged at t=0 and t=11s (2 suppressed in between); t=1s, 6s, 12s not.
	if diff := cmp.Diff([]string{"0", "2"}, suppressed); diff != "" {
		t.Errorf("suppressed counts mismatch (-want +got):\n%s", diff)
	}
}

// TestLogAdapterRateLimit: memberlist's other lines are limited to logBurst
// per logWindow, and the first line of the next window says how many were
// suppressed; lines below the logger's verbosity spend no budget.
func TestLogAdapterRateLimit(t *testing.T) {
	t.Parallel()
	var got []captured
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := &logAdapter{logger: funcr.New(func(prefix, args string) {
		got = append(got, captured{prefix, args})
	}, funcr.Options{Verbosity: 2}), now: func() time.Time { return now }}
	for range 10 {
		a.Write([]byte("[DEBUG] memberlist: Stream connection from=192.0.2.9:1\n")) // V(4): not enabled
	}
	for range logBurst + 30 {
		a.Write([]byte("[ERR] memberlist: failed to receive: junk from=192.0.2.9:1\n"))
	}
	if len(got) != logBurst {
		t.Fatalf("logged %d lines of a flood, want %d", len(got), logBurst)
	}
	now = now.Add(logWindow)
	a.Write([]byte("[WARN] memberlist: Refuting a suspect message (from: n2)\n"))
	if len(got) != logBurst+1 || !strings.Contains(got[logBurst].args, `"suppressedSinceLast"=30`) {
		t.Errorf("first line of the next window = %v, want it to carry suppressedSinceLast=30", got[len(got)-1])
	}
}
