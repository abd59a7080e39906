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
	switch level {
	case "ERR", "ERROR":
		a.logger.Error(nil, "memberlist error", "detail", msg)
	case "WARN":
		a.logger.Info("memberlist warning", "detail", msg)
	case "INFO":
		a.logger.V(2).Info("memberlist", "detail", msg)
	default:
		a.logger.V(4).Info("memberlist", "level", level, "detail", msg)
	}
	return len(p), nil
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
