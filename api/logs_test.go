package api_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestLogsBatchOnceAndOnTheRecord: a batch posted twice is stored once, and
// the entries of a call's tokens (the customer's, the agent's) show in the
// call's record.
func TestLogsBatchOnceAndOnTheRecord(t *testing.T) {
	cs := newCallCenter(t)
	c := cs.create("CLM-1", "Wang Fang")
	batch := map[string]any{"session": "17646000001234567", "batch": "b-1", "entries": []map[string]any{
		{"ts": 1764600000000, "level": "info", "type": "join", "message": map[string]any{"room": "call-x", "ok": true}, "url": "https://x/call"},
		{"ts": 1764600000500, "level": "error", "type": "getUserMedia", "message": "NotAllowedError", "version": "1.2.3"},
	}}
	for i, want := range []map[string]any{{"stored": 2.0, "duplicate": false}, {"stored": 0.0, "duplicate": true}} {
		st, out := cs.do("POST", "/api/logs", c.Token, batch)
		if st != http.StatusOK || out["stored"] != want["stored"] || out["duplicate"] != want["duplicate"] {
			t.Fatalf("post %d: %d %v, want %v", i+1, st, out, want)
		}
	}
	// The agent's sign-in token names the call; its entries join the customer's.
	agent := cs.agentToken("agent-1")
	st, out := cs.do("POST", "/api/logs", agent, map[string]any{"session": "console-1", "call": c.ID, "batch": "b-1",
		"entries": []map[string]any{{"ts": 1764600000200, "level": "warn", "type": "answer", "message": "slow", "staff": "agent-1"}}})
	if st != http.StatusOK || out["stored"] != 1.0 {
		t.Fatalf("agent's batch: %d %v", st, out)
	}
	logs := cs.record(c.ID)["logs"].([]any)
	if len(logs) != 3 {
		t.Fatalf("record has %d log entries, want 3: %v", len(logs), logs)
	}
	first, mid, last := logs[0].(map[string]any), logs[1].(map[string]any), logs[2].(map[string]any)
	if first["type"] != "join" || first["from"] != "customer" || first["call"] != c.ID || first["session"] != "17646000001234567" ||
		first["message"].(map[string]any)["ok"] != true || first["received"].(float64) <= 0 {
		t.Fatalf("first entry %v", first)
	}
	if mid["from"] != "agent:agent-1" || mid["staff"] != "agent-1" || last["level"] != "error" || last["message"] != "NotAllowedError" {
		t.Fatalf("entries in time order: %v, %v", mid, last)
	}
	// The operator reads a session's logs.
	st, out = cs.do("GET", "/api/logs?session=console-1", operatorKey, nil)
	if st != http.StatusOK || len(out["entries"].([]any)) != 1 {
		t.Fatalf("session logs: %d %v", st, out)
	}
}

// TestLogsRefused: what /api/logs turns away, and how.
func TestLogsRefused(t *testing.T) {
	cs := newCallCenter(t)
	c, other := cs.create("CLM-1", "Wang Fang"), cs.create("CLM-2", "Li Lei")
	ok := func() map[string]any {
		return map[string]any{"session": "s-1", "batch": fmt.Sprint(time.Now().UnixNano()), "entries": []any{}}
	}
	otherCall := ok()
	otherCall["call"] = other.ID
	many := ok()
	many["entries"] = make([]map[string]any, 1001)
	for _, tc := range []struct {
		name   string
		bearer string
		body   any
		status int
		code   string
	}{
		{"no credentials", "", ok(), http.StatusUnauthorized, "unauthorized"},
		{"another call's", c.Token, otherCall, http.StatusForbidden, "forbidden"},
		{"no session", c.Token, map[string]any{"batch": "b", "entries": []any{}}, http.StatusBadRequest, "bad_request"},
		{"no batch", c.Token, map[string]any{"session": "s", "entries": []any{}}, http.StatusBadRequest, "bad_request"},
		{"a session id with a slash", c.Token, map[string]any{"session": "../x", "batch": "b"}, http.StatusBadRequest, "bad_request"},
		{"too many entries", c.Token, many, http.StatusBadRequest, "bad_request"},
		{"entries not a list", c.Token, map[string]any{"session": "s", "batch": "b", "entries": "x"}, http.StatusBadRequest, "bad_request"},
		{"an unknown call", operatorKey, map[string]any{"session": "s", "batch": "b", "call": "0123456789abcdef012345"}, http.StatusNotFound, "call_not_found"},
	} {
		if st, out := cs.do("POST", "/api/logs", tc.bearer, tc.body); st != tc.status || out["code"] != tc.code {
			t.Errorf("%s: %d %v, want %d %s", tc.name, st, out, tc.status, tc.code)
		}
	}
}

// TestLogsTooLarge: a 10 MB post is answered 413 after at most the first
// 2 MB: the body sends those, then waits for the answer before it would
// send the rest, so a server that read the whole body would never answer.
func TestLogsTooLarge(t *testing.T) {
	cs := newCallCenter(t)
	c := cs.create("CLM-1", "Wang Fang")
	answered := make(chan struct{})
	var sent atomic.Int64
	head := `{"session":"s","batch":"b","entries":[{"ts":1,"level":"info","message":"`
	body := io.MultiReader(strings.NewReader(head), io.LimitReader(repeatReader('x'), 2<<20-int64(len(head))),
		&gatedReader{gate: answered, r: io.LimitReader(repeatReader('x'), 8<<20)})
	req, _ := http.NewRequest(http.MethodPost, cs.url+"/api/logs", &countingReader{r: body, n: &sent})
	req.ContentLength = 10 << 20
	req.Header.Set("Authorization", "Bearer "+c.Token)
	res, err := http.DefaultClient.Do(req)
	before := sent.Load()
	close(answered)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusRequestEntityTooLarge || !bytes.Contains(raw, []byte(`"payload_too_large"`)) {
		t.Fatalf("10 MB post: %d %s", res.StatusCode, raw)
	}
	if before > 2<<20 {
		t.Fatalf("the client had sent %d bytes before the answer", before)
	}
}

type repeatReader byte

func (b repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

// gatedReader reads nothing until gate closes (or a generous bound passes,
// so a broken server fails the test instead of hanging it).
type gatedReader struct {
	gate chan struct{}
	r    io.Reader
}

func (g *gatedReader) Read(p []byte) (int, error) {
	select {
	case <-g.gate:
	case <-time.After(waitTimeout):
	}
	return g.r.Read(p)
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
