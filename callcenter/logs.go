package callcenter

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// Client log limits. A batch over MaxLogEntries, or a request body over
// MaxLogBody, is refused; a session or a call past its cap keeps what it
// has and drops the rest (the reply says how many).
const (
	MaxLogBody      = 1 << 20
	MaxLogEntries   = 1000
	MaxLogMessage   = 16 << 10
	MaxLogField     = 2048
	MaxSessionLogs  = 10_000
	MaxCallLogs     = 20_000
	maxLogIDLen     = 128
	truncatedMarker = "…(truncated)"
)

// LogLevels are the levels a client log entry may have; "log" is read as
// info, as the seed's logger.log is.
var LogLevels = []string{"debug", "info", "warn", "error"}

// LogEntry is one line of a browser's log, as the SDK's logger sends it,
// with what the server adds: Session, Call, From and Received.
type LogEntry struct {
	// TS is when the client logged it, Unix milliseconds by its clock.
	TS    int64  `json:"ts"`
	Level string `json:"level"`
	Type  string `json:"type,omitempty"`
	// Message is any JSON value, at most MaxLogMessage bytes (a longer one
	// is kept as a string of its beginning).
	Message json.RawMessage `json:"message,omitempty"`
	Staff   string          `json:"staff,omitempty"`
	Room    string          `json:"room,omitempty"`
	URL     string          `json:"url,omitempty"`
	Version string          `json:"version,omitempty"`

	Session string `json:"session"`
	Call    string `json:"call,omitempty"`
	// From says who posted it: customer, agent:UID, operator, dev or
	// token:ROOM/UID.
	From string `json:"from,omitempty"`
	// Received is when the server stored it, Unix milliseconds.
	Received int64 `json:"received"`
}

// LogBatch is one POST of the client logger: a session's entries under a
// batch id the client keeps until the server acknowledged it, so a resend
// is stored once.
type LogBatch struct {
	Session string     `json:"session"`
	Call    string     `json:"call,omitempty"`
	Batch   string     `json:"batch"`
	Entries []LogEntry `json:"entries"`
}

// wireEntry is LogEntry as decoded: ts may be fractional, strings are
// checked after.
type wireEntry struct {
	TS      float64         `json:"ts"`
	Level   string          `json:"level"`
	Type    string          `json:"type"`
	Message json.RawMessage `json:"message"`
	Staff   string          `json:"staff"`
	Room    string          `json:"room"`
	URL     string          `json:"url"`
	Version string          `json:"version"`
}

// DecodeLogBatch reads a log batch from r, which the caller bounds (the API
// reads at most MaxLogBody). The structure must be right (session and
// batch ids, at most MaxLogEntries entries, each an object); the content is
// taken leniently, so a logger's retry never fails forever on one odd line:
// an unknown level becomes info, long fields and messages are cut.
func DecodeLogBatch(r io.Reader) (LogBatch, error) {
	var wire struct {
		Session string      `json:"session"`
		Call    string      `json:"call"`
		Batch   string      `json:"batch"`
		Entries []wireEntry `json:"entries"`
	}
	dec := json.NewDecoder(r)
	if err := dec.Decode(&wire); err != nil {
		return LogBatch{}, fmt.Errorf("%w: body must be JSON {session, call, batch, entries}: %w", ErrBadInput, err)
	}
	if dec.More() {
		return LogBatch{}, fmt.Errorf("%w: body has more than one JSON value", ErrBadInput)
	}
	if err := checkLogID("session", wire.Session); err != nil {
		return LogBatch{}, err
	}
	if err := checkLogID("batch", wire.Batch); err != nil {
		return LogBatch{}, err
	}
	if wire.Call != "" && !validID(wire.Call) {
		return LogBatch{}, fmt.Errorf("%w: call %q is not a call id", ErrBadInput, truncate(wire.Call, 32))
	}
	if len(wire.Entries) > MaxLogEntries {
		return LogBatch{}, fmt.Errorf("%w: %d entries in one batch, at most %d allowed", ErrBadInput, len(wire.Entries), MaxLogEntries)
	}
	b := LogBatch{Session: wire.Session, Call: wire.Call, Batch: wire.Batch, Entries: make([]LogEntry, 0, len(wire.Entries))}
	for _, w := range wire.Entries {
		e := LogEntry{Level: normLevel(w.Level), Type: clip(w.Type, 128), Staff: clip(w.Staff, 128),
			Room: clip(w.Room, 128), URL: clip(w.URL, MaxLogField), Version: clip(w.Version, 64),
			Message: clipJSON(w.Message)}
		if w.TS == w.TS && math.Abs(w.TS) < 1e15 { // not NaN, within ±30,000 years
			e.TS = int64(w.TS)
		}
		b.Entries = append(b.Entries, e)
	}
	return b, nil
}

func checkLogID(what, s string) error {
	if s == "" {
		return fmt.Errorf("%w: %s is required", ErrBadInput, what)
	}
	if len(s) > maxLogIDLen {
		return fmt.Errorf("%w: %s is %d characters long, at most %d allowed", ErrBadInput, what, len(s), maxLogIDLen)
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || strings.IndexByte("_.:@-", b) >= 0) {
			return fmt.Errorf("%w: %s has character %q; allowed are A-Z a-z 0-9 _ . : @ -", ErrBadInput, what, b)
		}
	}
	return nil
}

func normLevel(l string) string {
	l = strings.ToLower(l)
	switch l {
	case "log", "":
		return "info"
	case "warning":
		return "warn"
	}
	if slices.Contains(LogLevels, l) {
		return l
	}
	return "info"
}

// clip cuts s to at most n bytes on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.ToValidUTF8(s[:cut], "\uFFFD") + truncatedMarker
}

// clipJSON keeps a message of at most MaxLogMessage bytes as it is, and
// replaces a longer one by a JSON string of its beginning.
func clipJSON(raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if len(raw) <= MaxLogMessage {
		return slices.Clone(raw)
	}
	s, _ := json.Marshal(clip(string(raw), MaxLogMessage-len(truncatedMarker)-64))
	return s
}

// StoreLogs files batch b, posted by from: once per session and batch id (a
// repeat is a duplicate and stores nothing), under its session (at most
// MaxSessionLogs entries) and, when b.Call is set, with that call's record
// (at most MaxCallLogs). The call must exist.
func (s *Service) StoreLogs(b LogBatch, from string) (stored, dropped int, duplicate bool, err error) {
	now := ms(s.now())
	batchKey := []byte(b.Session + "\x00" + b.Batch)
	err = s.update(func(tx *bolt.Tx) error {
		batches := tx.Bucket(batchesBucket)
		if batches.Get(batchKey) != nil {
			duplicate = true
			return nil
		}
		var callIdx *bolt.Bucket
		room := MaxSessionLogs
		if b.Call != "" {
			if tx.Bucket(callsBucket).Get([]byte(b.Call)) == nil {
				return fmt.Errorf("call %s: %w", b.Call, ErrNotFound)
			}
			var err error
			if callIdx, err = tx.Bucket(callLogsBucket).CreateBucketIfNotExists([]byte(b.Call)); err != nil {
				return err
			}
			room = MaxCallLogs - int(callIdx.Sequence())
		}
		sess, err := tx.Bucket(logsBucket).CreateBucketIfNotExists([]byte(b.Session))
		if err != nil {
			return err
		}
		room = max(0, min(room, MaxSessionLogs-int(sess.Sequence())))
		for i := range b.Entries {
			if stored == room {
				break
			}
			e := b.Entries[i]
			e.Session, e.Call, e.From, e.Received = b.Session, b.Call, from, now
			raw, err := json.Marshal(e)
			if err != nil {
				return fmt.Errorf("encode log entry: %w", err)
			}
			seq, _ := sess.NextSequence()
			key := binary.BigEndian.AppendUint64(nil, seq)
			if err := sess.Put(key, raw); err != nil {
				return err
			}
			if callIdx != nil {
				_, _ = callIdx.NextSequence()
				if err := callIdx.Put(append([]byte(b.Session+"\x00"), key...), nil); err != nil {
					return err
				}
			}
			stored++
		}
		dropped = len(b.Entries) - stored
		return batches.Put(batchKey, binary.BigEndian.AppendUint64(nil, uint64(now)))
	})
	if err != nil {
		return 0, 0, false, fmt.Errorf("store log batch of session %s: %w", b.Session, err)
	}
	return stored, dropped, duplicate, nil
}

// callLogs reads call id's log entries.
func (s *Service) callLogs(id string) ([]LogEntry, error) {
	var out []LogEntry
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		out, err = readCallLogs(tx, id)
		return err
	})
	return out, err
}

// readCallLogs reads call id's log entries in the order they were logged
// (the clients' clocks), a session's own order kept.
func readCallLogs(tx *bolt.Tx, id string) ([]LogEntry, error) {
	out := []LogEntry{}
	idx := tx.Bucket(callLogsBucket).Bucket([]byte(id))
	if idx == nil {
		return out, nil
	}
	logs := tx.Bucket(logsBucket)
	err := idx.ForEach(func(k, _ []byte) error {
		session, seq, ok := bytes.Cut(k, []byte{0})
		if !ok {
			return errors.New("malformed call log index key")
		}
		sb := logs.Bucket(session)
		if sb == nil {
			return nil
		}
		raw := sb.Get(seq)
		if raw == nil {
			return nil
		}
		var e LogEntry
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("decode log entry: %w", err)
		}
		out = append(out, e)
		return nil
	})
	slices.SortStableFunc(out, func(a, b LogEntry) int { return cmp.Compare(a.TS, b.TS) })
	return out, err
}

// SessionLogs returns the newest limit entries (0 means 1000) a client
// session logged, oldest first.
func (s *Service) SessionLogs(session string, limit int) ([]LogEntry, error) {
	if limit <= 0 {
		limit = 1000
	}
	out := []LogEntry{}
	err := s.view(func(tx *bolt.Tx) error {
		sb := tx.Bucket(logsBucket).Bucket([]byte(session))
		if sb == nil {
			return nil
		}
		c := sb.Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			var e LogEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode log entry: %w", err)
			}
			out = append(out, e)
		}
		return nil
	})
	slices.Reverse(out)
	return out, err
}
