package sfu

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/pion/logging"
)

// pionLogFactory sends pion's logs (webrtc, ice, dtls, turn) to slog. pion
// logs routine events at info and per-packet detail at trace, so both sit
// below slog's info level; and a read or write on a connection that is being
// closed is how every normal hang-up ends, not an error worth a log line.
type pionLogFactory struct{ log *slog.Logger }

// PionLogFactory returns the factory that sends pion's logs to log as the SFU's own
// PeerConnections do, so that the embedded TURN server (package turn) logs alike.
func PionLogFactory(log *slog.Logger) logging.LoggerFactory { return pionLogFactory{log: log} }

func (f pionLogFactory) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{log: f.log.With("scope", scope)}
}

type pionLogger struct{ log *slog.Logger }

const pionLevelTrace = slog.LevelDebug - 4

func (l pionLogger) logf(level slog.Level, format string, args ...any) {
	if !l.log.Enabled(context.Background(), level) && level < slog.LevelWarn {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if level >= slog.LevelWarn && isClosing(msg) {
		level = slog.LevelDebug
	}
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, msg)
	}
}

func isClosing(msg string) bool {
	for _, s := range []string{"closed pipe", "use of closed", "io: read/write on closed", "EOF", "context canceled"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func (l pionLogger) Trace(msg string)                  { l.logf(pionLevelTrace, "%s", msg) }
func (l pionLogger) Tracef(format string, args ...any) { l.logf(pionLevelTrace, format, args...) }
func (l pionLogger) Debug(msg string)                  { l.logf(slog.LevelDebug-2, "%s", msg) }
func (l pionLogger) Debugf(format string, args ...any) { l.logf(slog.LevelDebug-2, format, args...) }
func (l pionLogger) Info(msg string)                   { l.logf(slog.LevelDebug, "%s", msg) }
func (l pionLogger) Infof(format string, args ...any)  { l.logf(slog.LevelDebug, format, args...) }
func (l pionLogger) Warn(msg string)                   { l.logf(slog.LevelWarn, "%s", msg) }
func (l pionLogger) Warnf(format string, args ...any)  { l.logf(slog.LevelWarn, format, args...) }
func (l pionLogger) Error(msg string)                  { l.logf(slog.LevelError, "%s", msg) }
func (l pionLogger) Errorf(format string, args ...any) { l.logf(slog.LevelError, format, args...) }
