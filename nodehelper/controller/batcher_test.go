package controller

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestBatcher(t *testing.T) {
	const interval = 50 * time.Millisecond
	// step is one thing the loop does at a time after the start.
	type step struct {
		at time.Duration
		op string // "change" (due, then handled if due), "fire" (fired, handled)
	}
	tests := []struct {
		name  string
		steps []step
		// wantDue is due's answer per "change"; wantArms the timer waits.
		wantDue  []bool
		wantArms []time.Duration
	}{
		{
			name:    "a change after the interval is handled at once",
			steps:   []step{{at: interval, op: "change"}, {at: 3 * interval, op: "change"}},
			wantDue: []bool{true, true},
		},
		{
			name:     "a change too soon arms the timer for the rest of the interval",
			steps:    []step{{at: 10 * time.Millisecond, op: "change"}},
			wantDue:  []bool{false},
			wantArms: []time.Duration{40 * time.Millisecond},
		},
		{
			name:     "a burst arms the timer once",
			steps:    []step{{at: 10 * time.Millisecond, op: "change"}, {at: 20 * time.Millisecond, op: "change"}, {at: 30 * time.Millisecond, op: "change"}},
			wantDue:  []bool{false, false, false},
			wantArms: []time.Duration{40 * time.Millisecond},
		},
		{
			name: "after the timer fired, a change too soon arms it again",
			steps: []step{
				{at: 10 * time.Millisecond, op: "change"}, {at: interval, op: "fire"},
				{at: 60 * time.Millisecond, op: "change"}, {at: 200 * time.Millisecond, op: "change"},
			},
			wantDue:  []bool{false, false, true},
			wantArms: []time.Duration{40 * time.Millisecond, 40 * time.Millisecond},
		},
		{
			name:    "a handled change restarts the interval",
			steps:   []step{{at: interval, op: "change"}, {at: interval + 10*time.Millisecond, op: "change"}},
			wantDue: []bool{true, false},
			// 10 ms after the handled change: 40 ms left.
			wantArms: []time.Duration{40 * time.Millisecond},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Unix(1000, 0)
			now := start
			var arms []time.Duration
			b := newBatcher(interval, func() time.Time { return now }, func(d time.Duration) { arms = append(arms, d) })
			var due []bool
			for _, s := range tt.steps {
				now = start.Add(s.at)
				switch s.op {
				case "change":
					d := b.due()
					due = append(due, d)
					if d {
						b.handled()
					}
				case "fire":
					b.fired()
					b.handled()
				}
			}
			if diff := cmp.Diff(tt.wantDue, due); diff != "" {
				t.Errorf("due (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantArms, arms); diff != "" {
				t.Errorf("timer armed for (-want +got):\n%s", diff)
			}
		})
	}
}
