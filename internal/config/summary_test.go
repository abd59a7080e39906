package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// manyBadRanges is a configuration with n invalid CIDRs.
func manyBadRanges(n int) string {
	var b strings.Builder
	b.WriteString("address-pools:\n- name: lab\n  protocol: layer2\n  addresses:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - 198.51.100.%d/33\n", i%256)
	}
	return b.String()
}

func TestSummary(t *testing.T) {
	e := func(path, value, msg string, line int) *FieldError {
		return &FieldError{Path: path, Value: value, Message: msg, Line: line}
	}
	two := ErrorList{e("a", "1", "bad", 1), e("b", "2", "worse", 2)}
	tests := []struct {
		name  string
		err   error
		limit int
		want  string
	}{
		{"nil", nil, 1024, ""},
		{"all fit", two, 1024, `a "1": bad (line 1); b "2": worse (line 2)`},
		{"plain error", errors.New("line one\nline two"), 1024, "line one; line two"},
		{"one cut", ErrorList{e("p", strings.Repeat("x", 300), "bad", 0)}, 128,
			`p "` + strings.Repeat("x", 128-len(`p "`)-len("…")) + "…"},
		{"second left out", ErrorList{e("a", strings.Repeat("x", 60), "bad", 0), e("b", strings.Repeat("y", 60), "bad", 0)}, 128,
			`a "` + strings.Repeat("x", 60) + `": bad … and 1 more error; run barelbctl validate for all`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Summary(tt.err, tt.limit); got != tt.want {
				t.Errorf("Summary =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

// TestSummaryManyErrors: 40,000 bad ranges give 40,000 errors, the whole
// list some megabytes; the summary stays within its limit, starts with the
// first errors and counts the rest.
func TestSummaryManyErrors(t *testing.T) {
	_, _, err := Parse([]byte(manyBadRanges(40000)))
	if n := ErrorCount(err); n != 40000 {
		t.Fatalf("%d errors, want 40000", n)
	}
	t.Logf("the full error list is %d bytes", len(err.Error()))
	for _, limit := range []int{1, 128, 1024, 4096} {
		s := Summary(err, limit)
		if len(s) > max(limit, 128) || !utf8.ValidString(s) {
			t.Errorf("Summary(%d) is %d bytes (valid UTF-8: %t), want at most %d", limit, len(s), utf8.ValidString(s), max(limit, 128))
		}
		if !strings.HasPrefix(s, `address-pools[0] "lab": addresses[0] "198.51.100.0/33"`) {
			t.Errorf("Summary(%d) = %q, want the first error first", limit, s)
		}
		shown := strings.Count(s, "; ") // the separators, and the one before "run"
		if want := fmt.Sprintf("… and %d more errors; run barelbctl validate for all", 40000-shown); !strings.HasSuffix(s, want) {
			t.Errorf("Summary(%d) = %q, want it to end in %q", limit, s, want)
		}
	}
}

func TestErrorCount(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want int
	}{{nil, 0}, {errors.New("x"), 1}, {ErrorList{{Message: "a"}, {Message: "b"}}, 2}, {fmt.Errorf("wrapped: %w", ErrorList{{Message: "a"}}), 1}} {
		if got := ErrorCount(tt.err); got != tt.want {
			t.Errorf("ErrorCount(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}
