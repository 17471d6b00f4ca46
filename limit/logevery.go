package limit

import (
	"log/slog"
	"sync"
	"time"
)

// LogEvery logs a warning at most once per Interval (a minute when zero),
// counting what it held back, so that an attack repeating one failure cannot
// flood the log. The zero value is ready to use.
type LogEvery struct {
	Interval time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// Warn logs msg at warn level unless one was logged within the interval; the
// record says how many were held back since the last one.
func (w *LogEvery) Warn(l *slog.Logger, msg string, args ...any) {
	interval := w.Interval
	if interval <= 0 {
		interval = time.Minute
	}
	w.mu.Lock()
	now := time.Now()
	if !w.last.IsZero() && now.Sub(w.last) < interval {
		w.suppressed++
		w.mu.Unlock()
		return
	}
	n := w.suppressed
	w.last, w.suppressed = now, 0
	w.mu.Unlock()
	l.Warn(msg, append(args, "similar_since_last_warning", n)...)
}
