package membership

import (
	"strings"
	"sync"
	"time"

	"k8s.io/klog/v2"
)

// keyMismatchText is how memberlist reports a message that none of the
// installed keys decrypts (security.go, decryptPayload). memberlist returns
// that error only into its own log lines (a failed packet, a failed push/pull,
// a failed join), never to an API we call, so its text in the log stream is
// the only signal we have. It is matched here, in the log adapter, and nowhere
// else; if a memberlist upgrade rewords it, TestWrongKeyCannotJoin fails.
const keyMismatchText = "no installed keys could decrypt the message"

// keyMismatchLogEvery rate-limits the key-mismatch error: a peer with a stale
// key sends several packets per probe interval.
const keyMismatchLogEvery = 10 * time.Second

// memberlist's other lines are rate-limited together: at most logBurst per
// logWindow, the first after a pause saying how many were suppressed. A
// flood of junk on the gossip port makes memberlist log a line per packet
// and per stream; unlimited, that fills the node's disk and spends the CPU
// the failure detector needs. A burst of 20 keeps every line of ordinary
// trouble (a partition logs a few per peer per second at first).
const (
	logWindow = 10 * time.Second
	logBurst  = 20
)

// logAdapter is the io.Writer behind memberlist's *log.Logger: it turns each
// "[LEVEL] memberlist: message" line into a structured klog entry.
type logAdapter struct {
	logger  klog.Logger
	metrics *Metrics
	now     func() time.Time
	// onKeyMismatch is called for every key-mismatch line.
	onKeyMismatch func()

	mu         sync.Mutex
	lastReport time.Time
	suppressed int
	// The other lines' window: its start, lines logged and suppressed in it.
	windowStart      time.Time
	windowLogged     int
	windowSuppressed int
}

// Write logs one line of memberlist output. It never fails.
func (a *logAdapter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	level, msg := splitLevel(line)
	msg = strings.TrimPrefix(msg, "memberlist: ")

	if strings.Contains(msg, keyMismatchText) {
		a.keyMismatch(msg)
		return len(p), nil
	}
	var v int
	switch level {
	case "ERR", "ERROR", "WARN":
	case "INFO":
		v = 2
	default:
		v = 4
	}
	if !a.logger.V(v).Enabled() {
		return len(p), nil
	}
	ok, suppressed := a.allowLine()
	if !ok {
		return len(p), nil
	}
	var kv []any
	if suppressed > 0 {
		kv = []any{"suppressedSinceLast", suppressed}
	}
	switch level {
	case "ERR", "ERROR":
		a.logger.Error(nil, "memberlist error", append([]any{"detail", msg}, kv...)...)
	case "WARN":
		a.logger.Info("memberlist warning", append([]any{"detail", msg}, kv...)...)
	case "INFO":
		a.logger.V(2).Info("memberlist", append([]any{"detail", msg}, kv...)...)
	default:
		a.logger.V(4).Info("memberlist", append([]any{"level", level, "detail", msg}, kv...)...)
	}
	return len(p), nil
}

// allowLine reports whether a line fits this window's budget and, for the
// first line of a new window, how many the earlier windows suppressed.
func (a *logAdapter) allowLine() (ok bool, suppressed int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if a.windowStart.IsZero() || now.Sub(a.windowStart) >= logWindow {
		a.windowStart, a.windowLogged = now, 0
	}
	if a.windowLogged >= logBurst {
		a.windowSuppressed++
		return false, 0
	}
	a.windowLogged++
	suppressed, a.windowSuppressed = a.windowSuppressed, 0
	return true, suppressed
}

// keyMismatch reports a message no installed key decrypts: counted always,
// logged at most once per keyMismatchLogEvery with the number suppressed.
func (a *logAdapter) keyMismatch(msg string) {
	if a.metrics != nil {
		a.metrics.keyMismatches.Inc()
	}
	if a.onKeyMismatch != nil {
		a.onKeyMismatch()
	}
	a.mu.Lock()
	now := a.now()
	if !a.lastReport.IsZero() && now.Sub(a.lastReport) < keyMismatchLogEvery {
		a.suppressed++
		a.mu.Unlock()
		return
	}
	suppressed := a.suppressed
	a.lastReport, a.suppressed = now, 0
	a.mu.Unlock()
	a.logger.Error(nil, "gossip key mismatch: a peer's message could not be decrypted with any installed key; "+
		"this node or the peer has the wrong gossip key and they cannot form one cluster",
		"detail", msg, "suppressedSinceLast", suppressed)
}

// splitLevel splits "[LEVEL] rest" into LEVEL and rest; a line without a
// level gets "DEBUG".
func splitLevel(line string) (level, rest string) {
	if strings.HasPrefix(line, "[") {
		if i := strings.IndexByte(line, ']'); i > 0 {
			return line[1:i], strings.TrimSpace(line[i+1:])
		}
	}
	return "DEBUG", line
}
