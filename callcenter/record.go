package callcenter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// State is where a call is in its life.
type State string

// The states: created (a link exists), queued (the customer asked, consoles
// ring), answered (an agent took it), and the final three: ended (the agent
// or the operator filed it), timeout (nobody answered within the ring
// timeout), cancelled (the customer gave up). A timed-out or cancelled call
// may be queued again from the same link.
const (
	StateCreated   State = "created"
	StateQueued    State = "queued"
	StateAnswered  State = "answered"
	StateEnded     State = "ended"
	StateTimeout   State = "timeout"
	StateCancelled State = "cancelled"
)

// Outcome is how an agent files an ended call.
type Outcome string

// The outcomes an agent may choose.
const (
	OutcomeResolved Outcome = "resolved"
	OutcomeFollowUp Outcome = "follow-up"
	OutcomeNoShow   Outcome = "no-show"
	OutcomeDropped  Outcome = "dropped"
	OutcomeOther    Outcome = "other"
)

// Outcomes lists the outcomes in the order a console offers them.
var Outcomes = []Outcome{OutcomeResolved, OutcomeFollowUp, OutcomeNoShow, OutcomeDropped, OutcomeOther}

// Network summarises the customer's network quality over the call, from
// the levels the network-quality monitor reports (Agora's: 1 excellent …
// 6 down; unknown levels are not counted) and the lost rate of its pings.
type Network struct {
	MinLevel int     `json:"minLevel"`
	AvgLevel float64 `json:"avgLevel"`
	MaxLevel int     `json:"maxLevel"`
	MaxLoss  float64 `json:"maxLoss"`
	Samples  int     `json:"samples"`
}

// Record is a call as the store keeps it and the API shows it. Times are
// Unix milliseconds, 0 when they have not happened.
type Record struct {
	ID         string  `json:"id"`
	Claim      string  `json:"claim"`
	Customer   string  `json:"customer"`
	Agent      string  `json:"agent,omitempty"`
	State      State   `json:"state"`
	CreatedAt  int64   `json:"createdAt"`
	ExpiresAt  int64   `json:"expiresAt"`
	QueuedAt   int64   `json:"queuedAt,omitempty"`
	AnsweredAt int64   `json:"answeredAt,omitempty"`
	EndedAt    int64   `json:"endedAt,omitempty"`
	WaitMs     int64   `json:"waitMs"`
	TalkMs     int64   `json:"talkMs"`
	Outcome    Outcome `json:"outcome,omitempty"`
	IncidentNo string  `json:"incidentNo,omitempty"`
	Notes      string  `json:"notes,omitempty"`
	// EndedBy is "agent" or "operator" for an ended call.
	EndedBy string `json:"endedBy,omitempty"`
	// Attempts counts the times the call was queued (a timed-out call may
	// be queued again).
	Attempts   int      `json:"attempts"`
	Recordings []string `json:"recordings"`
	Network    *Network `json:"network"`
	// Device is what the customer's page said about itself when it asked
	// for the call (user agent, platform, screen…), as it sent it.
	Device json.RawMessage `json:"device,omitempty"`
	// ClientNetwork is what the customer's page said about its connection
	// before the call (e.g. navigator.connection), as it sent it.
	ClientNetwork json.RawMessage `json:"clientNetwork,omitempty"`
	// Logs are the client log entries filed with the call; only Get fills them.
	Logs []LogEntry `json:"logs,omitempty"`
}

// live reports whether the call is in the queue or in progress.
func (s State) live() bool { return s == StateQueued || s == StateAnswered }

// Bucket names.
var (
	callsBucket     = []byte("calls")      // id → Record JSON (without logs)
	liveBucket      = []byte("calls_live") // id → nothing, for queued and answered calls
	logsBucket      = []byte("logs")       // session → (seq → LogEntry JSON)
	callLogsBucket  = []byte("call_logs")  // call id → (session \x00 seq → nothing)
	batchesBucket   = []byte("log_batches")
	eventsBucket    = []byte("hook_events")     // seq → event body
	deliveryBucket  = []byte("hook_deliveries") // seq endpoint → Delivery JSON
	pendingBucket   = []byte("hook_pending")    // endpoint seq → nothing
	allBucketsNames = [][]byte{callsBucket, liveBucket, logsBucket, callLogsBucket, batchesBucket,
		eventsBucket, deliveryBucket, pendingBucket}
)

func createBuckets(tx *bolt.Tx) error {
	for _, name := range allBucketsNames {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("bucket %s: %w", name, err)
		}
	}
	return nil
}

// putRecord stores r in tx and keeps the live index.
func putRecord(tx *bolt.Tx, r *Record) error {
	saved := r.Logs
	r.Logs = nil
	raw, err := json.Marshal(r)
	r.Logs = saved
	if err != nil {
		return fmt.Errorf("encode call %s: %w", r.ID, err)
	}
	if err := tx.Bucket(callsBucket).Put([]byte(r.ID), raw); err != nil {
		return fmt.Errorf("store call %s: %w", r.ID, err)
	}
	live := tx.Bucket(liveBucket)
	if r.State.live() {
		return live.Put([]byte(r.ID), nil)
	}
	return live.Delete([]byte(r.ID))
}

// getRecord reads call id from tx; ErrNotFound if there is none.
func getRecord(tx *bolt.Tx, id string) (Record, error) {
	raw := tx.Bucket(callsBucket).Get([]byte(id))
	if raw == nil {
		return Record{}, fmt.Errorf("call %s: %w", id, ErrNotFound)
	}
	var r Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return Record{}, fmt.Errorf("decode call %s: %w", id, err)
	}
	return r, nil
}

// save stores r, and the event for the webhooks if typ is not "", in one
// transaction: the outbox holds the event exactly when the state change
// happened.
func (s *Service) save(r *Record, typ string) error {
	var seqs []uint64
	err := s.update(func(tx *bolt.Tx) error {
		if err := putRecord(tx, r); err != nil {
			return err
		}
		if typ == "" {
			return nil
		}
		seq, err := s.hooks.enqueue(tx, typ, r)
		seqs = append(seqs, seq)
		return err
	})
	if err != nil {
		return fmt.Errorf("save call %s: %w", r.ID, err)
	}
	if len(seqs) > 0 {
		s.hooks.notify()
	}
	return nil
}

// loadLive reads the queued and answered calls back into memory.
func (s *Service) loadLive() error {
	return s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(liveBucket).ForEach(func(k, _ []byte) error {
			r, err := getRecord(tx, string(k))
			if err != nil {
				return err
			}
			c := &call{rec: r, rejected: map[string]bool{}}
			s.live[r.ID] = c
			if r.State == StateAnswered {
				s.agentLocked(r.Agent).call = r.ID
			}
			return nil
		})
	})
}

// Get returns call id's record; with logs it carries the client logs filed
// with the call, oldest first.
func (s *Service) Get(id string, logs bool) (Record, error) {
	if !validID(id) {
		return Record{}, fmt.Errorf("call %q: %w", id, ErrNotFound)
	}
	s.mu.Lock()
	if c := s.live[id]; c != nil {
		r := c.snapshot()
		s.mu.Unlock()
		if logs {
			var err error
			if r.Logs, err = s.callLogs(id); err != nil {
				return Record{}, err
			}
		}
		return r, nil
	}
	s.mu.Unlock()
	var r Record
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		if r, err = getRecord(tx, id); err != nil {
			return err
		}
		if logs {
			r.Logs, err = readCallLogs(tx, id)
		}
		return err
	})
	return r, err
}

// Filter selects call records: every non-zero field must match.
type Filter struct {
	Claim string
	Agent string
	State State
	// Since and Until bound the call's creation time.
	Since, Until time.Time
	// Limit is how many records at most, newest first; 0 means 50, at most 500.
	Limit int
}

// List returns the records f selects, newest first, without their logs.
func (s *Service) List(f Filter) ([]Record, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 500)
	out := []Record{}
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(callsBucket).Cursor()
		var k, v []byte
		if f.Until.IsZero() {
			k, v = c.Last()
		} else {
			// Ids start with the creation time in hex: seek past Until.
			k, _ = c.Seek([]byte(fmt.Sprintf("%012x", f.Until.UnixMilli()+1)))
			if k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		}
		for ; k != nil && len(out) < f.Limit; k, v = c.Prev() {
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode call %s: %w", k, err)
			}
			if !f.Since.IsZero() && r.CreatedAt < f.Since.UnixMilli() {
				break
			}
			if !f.Until.IsZero() && r.CreatedAt > f.Until.UnixMilli() {
				continue
			}
			if (f.Claim != "" && r.Claim != f.Claim) || (f.Agent != "" && r.Agent != f.Agent) ||
				(f.State != "" && r.State != f.State) {
				continue
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// A live call's network summary is kept in memory until it ends.
	s.mu.Lock()
	for i := range out {
		if c := s.live[out[i].ID]; c != nil {
			out[i] = c.snapshot()
		}
	}
	s.mu.Unlock()
	return out, nil
}

// AddRecording files recording id with the call whose room is room (a room
// that is no call's is ignored). The lead wires it to the recorder's
// recording-started event; a repeated id is stored once.
func (s *Service) AddRecording(room, id string) {
	callID, ok := CallOf(room)
	if !ok || id == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.live[callID]; c != nil {
		if !slices.Contains(c.rec.Recordings, id) {
			c.rec.Recordings = append(c.rec.Recordings, id)
			if err := s.save(&c.rec, ""); err != nil {
				s.log.Error("file a recording with its call", "call", callID, "recording", id, "err", err)
			}
		}
		return
	}
	err := s.update(func(tx *bolt.Tx) error {
		r, err := getRecord(tx, callID)
		if err != nil || slices.Contains(r.Recordings, id) {
			return err
		}
		r.Recordings = append(r.Recordings, id)
		return putRecord(tx, &r)
	})
	if err != nil {
		s.log.Warn("file a recording with its call", "call", callID, "recording", id, "err", err)
	}
}

// NoteQuality adds one network-quality report about uid in room to its
// call's network summary: uplink and downlink are Agora levels (0 unknown,
// 1 excellent … 6 down), lossRate the ping lost rate (0–1). Only the
// customer of an answered call counts; anything else is ignored. The lead
// wires it to the network-quality monitor, which reports every 2 s.
func (s *Service) NoteQuality(room, uid string, uplink, downlink int, lossRate float64) {
	id, ok := CallOf(room)
	if !ok || uid != CustomerUID(id) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.live[id]
	if c == nil || c.rec.State != StateAnswered {
		return
	}
	c.net.add(max(clampLevel(uplink), clampLevel(downlink)), lossRate)
}

func clampLevel(l int) int { return min(max(l, 0), 6) }

// netSum accumulates a live call's network reports.
type netSum struct {
	min, max, n int
	sum         int
	maxLoss     float64
	reports     int
}

func (n *netSum) add(level int, loss float64) {
	n.reports++
	if loss == loss && loss > n.maxLoss { // NaN is no report
		n.maxLoss = min(loss, 1)
	}
	if level == 0 {
		return
	}
	if n.n == 0 || level < n.min {
		n.min = level
	}
	n.max = max(n.max, level)
	n.sum += level
	n.n++
}

// summary is the Network of the reports so far, nil if there were none.
func (n *netSum) summary() *Network {
	if n.reports == 0 {
		return nil
	}
	out := &Network{MinLevel: n.min, MaxLevel: n.max, MaxLoss: n.maxLoss, Samples: n.n}
	if n.n > 0 {
		out.AvgLevel = float64(n.sum) / float64(n.n)
	}
	return out
}

// jsonObject reports whether raw is a JSON object (after white space).
func jsonObject(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && t[0] == '{' && json.Valid(t)
}
