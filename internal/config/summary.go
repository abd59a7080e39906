package config

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// minSummary is the least room Summary gives itself, whatever max says.
const minSummary = 128

// Summary renders err on one line of at most limit bytes (at least 128), for
// an Event message or a log line: the errors of an ErrorList joined by "; "
// as long as they fit, then "… and N more errors; run barelbctl validate for
// all". An error too long to fit on its own is cut at a rune boundary and
// ends in "…". Any other error counts as one, its lines joined by "; ".
func Summary(err error, limit int) string {
	if err == nil {
		return ""
	}
	limit = max(limit, minSummary)
	var items []string
	var list ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			items = append(items, e.Error())
		}
	} else {
		items = []string{strings.ReplaceAll(err.Error(), "\n", "; ")}
	}
	var b strings.Builder
	for i, item := range items {
		sep := ""
		if i > 0 {
			sep = "; "
		}
		rest := ""
		if left := len(items) - i - 1; left > 0 {
			rest = more(left)
		}
		if b.Len()+len(sep)+len(item)+len(rest) <= limit {
			b.WriteString(sep + item)
			continue
		}
		if i == 0 {
			// Not even the first error fits: cut it.
			rest = more(len(items) - 1)
			if len(items) == 1 {
				rest = ""
			}
			b.WriteString(cut(item, limit-len(rest)-len("…")) + "…")
			b.WriteString(rest)
			return b.String()
		}
		b.WriteString(more(len(items) - i))
		return b.String()
	}
	return b.String()
}

// ErrorCount is the number of errors in err: the length of an ErrorList, 1
// for any other error, 0 for nil.
func ErrorCount(err error) int {
	var list ErrorList
	switch {
	case err == nil:
		return 0
	case errors.As(err, &list):
		return len(list)
	default:
		return 1
	}
}

func more(n int) string {
	noun := "errors"
	if n == 1 {
		noun = "error"
	}
	return fmt.Sprintf(" … and %d more %s; run barelbctl validate for all", n, noun)
}

// cut returns the longest prefix of s of at most n bytes that ends at a rune
// boundary.
func cut(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
