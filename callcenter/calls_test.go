package callcenter_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stoa-video/stoa/callcenter"
)

func open(t *testing.T, path string, o callcenter.Options) *callcenter.Service {
	t.Helper()
	if o.Logger == nil {
		o.Logger = quiet()
	}
	s, err := callcenter.Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestRestartKeepsTheQueue: queued calls keep their places and an answering
// agent stays busy across a restart on the same file.
func TestRestartKeepsTheQueue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "calls.db")
	s := open(t, path, callcenter.Options{})
	var ids []string
	for i := range 3 {
		r, err := s.Create(fmt.Sprintf("CLM-%d", i), "Customer")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Request(r.ID, nil, nil); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	if _, err := s.Answer(ids[0], "agent-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}

	s = open(t, path, callcenter.Options{})
	if p := s.Presence("agent-1"); p != callcenter.PresenceBusy {
		t.Fatalf("agent after restart: %s, want busy", p)
	}
	if _, err := s.Answer(ids[1], "agent-1"); !errors.Is(err, callcenter.ErrAgentBusy) {
		t.Fatalf("busy agent answers: %v", err)
	}
	for i, id := range ids[1:] {
		pos, st, err := s.Request(id, nil, nil)
		if err != nil || st != callcenter.StateQueued || pos != i+1 {
			t.Fatalf("call %d after restart: position %d state %s err %v", i+1, pos, st, err)
		}
	}
	if _, err := s.End(ids[0], "agent-1", callcenter.EndInfo{Outcome: callcenter.OutcomeDropped}); err != nil {
		t.Fatal(err)
	}
	if p := s.Presence("agent-1"); p != callcenter.PresenceOffline {
		t.Fatalf("agent with no console after its call: %s", p)
	}
}

// TestTimeoutAfterRestart: a call queued before a restart still times out.
func TestTimeoutAfterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "calls.db")
	s := open(t, path, callcenter.Options{RingTimeout: time.Hour})
	r, _ := s.Create("CLM-1", "x")
	if _, _, err := s.Request(r.ID, nil, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path, callcenter.Options{RingTimeout: time.Millisecond})
	st, err := s.WatchCall(r.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for ev := range st.Events() {
		if ev.Name == "timeout" {
			break
		}
	}
	if got, _ := s.Get(r.ID, false); got.State != callcenter.StateTimeout || got.WaitMs <= 0 && got.EndedAt < got.QueuedAt {
		t.Fatalf("record %+v", got)
	}
}

// TestStateMachine: what each state allows.
func TestStateMachine(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "calls.db"), callcenter.Options{})
	r, _ := s.Create("CLM-1", "x")
	steps := []struct {
		name string
		do   func() error
		want error
	}{
		{"end a created call as an agent", func() error { _, err := s.End(r.ID, "a", callcenter.EndInfo{Outcome: "resolved"}); return err }, callcenter.ErrNotAgent},
		{"answer a created call", func() error { _, err := s.Answer(r.ID, "a"); return err }, callcenter.ErrState},
		{"cancel a created call", func() error { return s.Cancel(r.ID) }, callcenter.ErrState},
		{"queue it", func() error { _, _, err := s.Request(r.ID, json.RawMessage(`[1]`), nil); return err }, callcenter.ErrBadInput},
		{"queue it", func() error { _, _, err := s.Request(r.ID, json.RawMessage(`{"ua":"x"}`), nil); return err }, nil},
		{"answer without an agent", func() error { _, err := s.Answer(r.ID, ""); return err }, callcenter.ErrBadInput},
		{"answer", func() error { _, err := s.Answer(r.ID, "a"); return err }, nil},
		{"answer again, same agent", func() error { _, err := s.Answer(r.ID, "a"); return err }, nil},
		{"answer, another agent", func() error { _, err := s.Answer(r.ID, "b"); return err }, callcenter.ErrTaken},
		{"cancel an answered call", func() error { return s.Cancel(r.ID) }, callcenter.ErrState},
		{"end with no outcome", func() error { _, err := s.End(r.ID, "a", callcenter.EndInfo{}); return err }, callcenter.ErrBadInput},
		{"end with notes too long", func() error {
			_, err := s.End(r.ID, "a", callcenter.EndInfo{Outcome: "other", Notes: string(make([]byte, 5000))})
			return err
		}, callcenter.ErrBadInput},
		{"end", func() error { _, err := s.End(r.ID, "a", callcenter.EndInfo{Outcome: "no-show"}); return err }, nil},
		{"end again", func() error { _, err := s.End(r.ID, "", callcenter.EndInfo{Outcome: "other"}); return err }, callcenter.ErrState},
		{"queue an ended call", func() error { _, _, err := s.Request(r.ID, nil, nil); return err }, callcenter.ErrEnded},
		{"an unknown call", func() error { _, _, err := s.Request("0123456789abcdef012345", nil, nil); return err }, callcenter.ErrNotFound},
		{"a malformed id", func() error { _, err := s.Get("../../etc", false); return err }, callcenter.ErrNotFound},
	}
	for _, st := range steps {
		if err := st.do(); !errors.Is(err, st.want) || (st.want == nil && err != nil) {
			t.Fatalf("%s: %v, want %v", st.name, err, st.want)
		}
	}
}

// TestLinkExpires: a link past its lifetime cannot queue the call.
func TestLinkExpires(t *testing.T) {
	start := time.Now()
	var later atomic.Int64 // the service's clock runs in its own goroutines too
	clock := func() time.Time { return start.Add(time.Duration(later.Load())) }
	s := open(t, filepath.Join(t.TempDir(), "calls.db"), callcenter.Options{LinkTTL: time.Hour, Now: clock})
	r, _ := s.Create("CLM-1", "x")
	if r.ExpiresAt != start.Add(time.Hour).UnixMilli() {
		t.Fatalf("expiresAt %d", r.ExpiresAt)
	}
	later.Store(int64(2 * time.Hour))
	if _, _, err := s.Request(r.ID, nil, nil); !errors.Is(err, callcenter.ErrEnded) {
		t.Fatalf("request after expiry: %v", err)
	}
}

// TestLogCaps: a session keeps at most MaxSessionLogs entries, and the
// reply says how many were dropped.
func TestLogCaps(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "calls.db"), callcenter.Options{})
	total := 0
	for i := 0; total < callcenter.MaxSessionLogs; i++ {
		b := callcenter.LogBatch{Session: "s", Batch: fmt.Sprint(i), Entries: make([]callcenter.LogEntry, callcenter.MaxLogEntries)}
		stored, dropped, dup, err := s.StoreLogs(b, "dev")
		if err != nil || dup || stored != callcenter.MaxLogEntries || dropped != 0 {
			t.Fatalf("batch %d: %d stored, %d dropped, dup %v, %v", i, stored, dropped, dup, err)
		}
		total += stored
	}
	stored, dropped, _, err := s.StoreLogs(callcenter.LogBatch{Session: "s", Batch: "full", Entries: make([]callcenter.LogEntry, 3)}, "dev")
	if err != nil || stored != 0 || dropped != 3 {
		t.Fatalf("past the cap: %d stored, %d dropped, %v", stored, dropped, err)
	}
	if got, _ := s.SessionLogs("s", 5); len(got) != 5 {
		t.Fatalf("session logs: %d", len(got))
	}
}

// TestCloseStopsGoroutines: Close ends the streams, the timeout loop and
// the webhook deliveries, and waits for them.
func TestCloseStopsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := callcenter.Open(filepath.Join(t.TempDir(), "calls.db"), callcenter.Options{Logger: quiet(),
		Webhooks:  []callcenter.Webhook{{URL: "http://127.0.0.1:1/a", Secret: "x"}, {URL: "http://127.0.0.1:1/b", Secret: "y"}},
		RetryBase: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	agent, err := s.ConnectAgent("agent-1")
	if err != nil {
		t.Fatal(err)
	}
	r, _ := s.Create("CLM-1", "x")
	customer, _ := s.WatchCall(r.ID)
	if _, _, err := s.Request(r.ID, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, st := range []*callcenter.Stream{agent, customer} {
		for range st.Events() { // drains, and ends because Close closed it
		}
		st.Close()
	}
	deadline := time.Now().Add(15 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after Close, %d before Open", runtime.NumGoroutine(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := s.Create("CLM-2", "x"); !errors.Is(err, callcenter.ErrClosed) {
		t.Fatalf("Create after Close: %v", err)
	}
}

// TestSlowStreamIsDropped: a stream whose reader stopped is ended instead of
// holding the service up, and a new one starts from the whole state.
func TestSlowStreamIsDropped(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "calls.db"), callcenter.Options{})
	st, err := s.ConnectAgent("agent-1")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var last string
	for i := range 400 { // more events than a stream holds
		r, _ := s.Create(fmt.Sprintf("CLM-%d", i), "x")
		if _, _, err := s.Request(r.ID, nil, nil); err != nil {
			t.Fatal(err)
		}
		last = r.ID
	}
	n := 0
	for range st.Events() {
		n++
	}
	if n >= 401 {
		t.Fatalf("the stream took all %d events", n)
	}
	again, err := s.ConnectAgent("agent-1")
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	seen := false
	for len(again.Events()) > 0 {
		ev := <-again.Events()
		if ev.Name == "ringing" && ev.Data.(map[string]any)["call"].(callcenter.RingingCall).ID == last {
			seen = true
		}
	}
	if !seen {
		t.Fatal("the new stream does not ring for the newest call")
	}
}
