package callcenter_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stoa-video/stoa/callcenter"
)

const secret = "whsec-test-0123456789"

// received is one webhook POST as the receiver saw it.
type received struct {
	event     callcenter.WebhookEvent
	header    string // X-Stoa-Event
	signedOK  bool
	attemptOf int // how many POSTs of this event the receiver had seen, this one included
}

// receiver is a webhook endpoint that answers 503 while down and keeps
// what it acknowledged, in order.
type receiver struct {
	t    *testing.T
	srv  *httptest.Server
	down atomic.Bool
	got  chan received
	mu   sync.Mutex
	seen map[string]int
}

func newReceiver(t *testing.T, ln net.Listener) *receiver {
	rc := &receiver{t: t, got: make(chan received, 64), seen: map[string]int{}}
	rc.srv = httptest.NewUnstartedServer(http.HandlerFunc(rc.serve))
	if ln != nil {
		rc.srv.Listener.Close()
		rc.srv.Listener = ln
	}
	rc.srv.Start()
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var ev callcenter.WebhookEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		rc.t.Errorf("webhook body is not JSON: %s", body)
	}
	rc.mu.Lock()
	rc.seen[ev.ID]++
	n := rc.seen[ev.ID]
	rc.mu.Unlock()
	if rc.down.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	// Verify as a receiver would: HMAC-SHA256 of the raw body with the shared secret.
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	ok := hmac.Equal([]byte(want), []byte(r.Header.Get("X-Stoa-Signature")))
	rc.got <- received{event: ev, header: r.Header.Get("X-Stoa-Event"), signedOK: ok, attemptOf: n}
	w.WriteHeader(http.StatusNoContent)
}

// next is the next acknowledged event.
func (rc *receiver) next() received {
	rc.t.Helper()
	select {
	case r := <-rc.got:
		return r
	case <-time.After(15 * time.Second):
		rc.t.Fatal("no webhook within 15 s")
	}
	return received{}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func hookOptions(url string) callcenter.Options {
	return callcenter.Options{Logger: quiet(), Webhooks: []callcenter.Webhook{{URL: url, Secret: secret}},
		RetryBase: 10 * time.Millisecond, RetryMax: 40 * time.Millisecond}
}

// oneCall takes a call through queued, answered and ended.
func oneCall(t *testing.T, s *callcenter.Service) string {
	t.Helper()
	rec, err := s.Create("CLM-1", "Wang Fang")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Request(rec.ID, json.RawMessage(`{"ua":"x"}`), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Answer(rec.ID, "agent-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.End(rec.ID, "agent-1", callcenter.EndInfo{Outcome: callcenter.OutcomeResolved, IncidentNo: "INC-1"}); err != nil {
		t.Fatal(err)
	}
	return rec.ID
}

// expectCallEvents reads call-queued, call-answered and call-ended for id,
// in that order, each signed.
func expectCallEvents(t *testing.T, rc *receiver, id string) []received {
	t.Helper()
	var out []received
	for _, typ := range []string{"call-queued", "call-answered", "call-ended"} {
		r := rc.next()
		var data callcenter.Record
		_ = json.Unmarshal(r.event.Data, &data)
		if r.event.Type != typ || r.header != typ || data.ID != id || !r.signedOK || r.event.At <= 0 {
			t.Fatalf("webhook %+v (signature ok %v, data %+v), want %s for %s", r.event, r.signedOK, data, typ, id)
		}
		out = append(out, r)
	}
	return out
}

// TestWebhooksInOrderSigned: a receiver gets call-queued, call-answered and
// call-ended in order, each with a valid signature, and the delivery log
// says so; Emit adds the server's other events.
func TestWebhooksInOrderSigned(t *testing.T) {
	rc := newReceiver(t, nil)
	s, err := callcenter.Open(filepath.Join(t.TempDir(), "calls.db"), hookOptions(rc.srv.URL+"/hook?k=v"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id := oneCall(t, s)
	got := expectCallEvents(t, rc, id)
	var ended callcenter.Record
	_ = json.Unmarshal(got[2].event.Data, &ended)
	if ended.State != callcenter.StateEnded || ended.Outcome != callcenter.OutcomeResolved || ended.IncidentNo != "INC-1" || ended.Agent != "agent-1" {
		t.Fatalf("call-ended data %+v", ended)
	}
	if err := s.Emit("recording-started", map[string]string{"id": "rec-1", "room": callcenter.Room(id)}); err != nil {
		t.Fatal(err)
	}
	if r := rc.next(); r.event.Type != "recording-started" || !r.signedOK {
		t.Fatalf("emitted event %+v", r.event)
	}
	if err := s.Emit("Bad Type", nil); err == nil {
		t.Fatal("Emit took a malformed type")
	}
	waitDelivered(t, s, 4)
	log, _ := s.Deliveries(callcenter.DeliveryFilter{})
	if len(log) != 4 || log[0].Type != "recording-started" || log[3].Type != "call-queued" || log[3].Attempts != 1 ||
		log[3].LastStatus != http.StatusNoContent || log[3].URL != rc.srv.URL+"/hook" {
		t.Fatalf("delivery log %+v", log)
	}
}

// waitDelivered waits until n deliveries are logged delivered.
func waitDelivered(t *testing.T, s *callcenter.Service, n int) []callcenter.Delivery {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		log, err := s.Deliveries(callcenter.DeliveryFilter{State: callcenter.DeliveryDelivered})
		if err != nil {
			t.Fatal(err)
		}
		if len(log) >= n {
			return log
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d deliveries logged delivered", len(log), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWebhooksRetryUntilBack: a receiver answering 503 gets every event,
// in order, once it is back; the log shows the failed attempts.
func TestWebhooksRetryUntilBack(t *testing.T) {
	rc := newReceiver(t, nil)
	rc.down.Store(true)
	s, err := callcenter.Open(filepath.Join(t.TempDir(), "calls.db"), hookOptions(rc.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id := oneCall(t, s)
	// Down until the head event has been refused three times.
	deadline := time.Now().Add(15 * time.Second)
	for {
		log, _ := s.Deliveries(callcenter.DeliveryFilter{State: callcenter.DeliveryPending})
		if len(log) == 3 && log[2].Attempts >= 3 {
			if log[2].LastStatus != http.StatusServiceUnavailable || log[2].LastError == "" || log[2].NextAttemptAt == 0 || log[0].Attempts != 0 {
				t.Fatalf("pending deliveries %+v", log)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no retries logged: %+v", log)
		}
		time.Sleep(5 * time.Millisecond)
	}
	rc.down.Store(false)
	got := expectCallEvents(t, rc, id)
	if got[0].attemptOf < 4 {
		t.Fatalf("the first event arrived on attempt %d, after 3 refusals", got[0].attemptOf)
	}
	waitDelivered(t, s, 3)
}

// TestWebhooksSurviveRestart: events whose receiver was down (its port
// closed) stay in the outbox when the service closes, and the service
// opened again on the same file delivers them, in order.
func TestWebhooksSurviveRestart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // the receiver is down: connections are refused
	path := filepath.Join(t.TempDir(), "calls.db")
	opts := hookOptions("http://" + addr + "/hook")

	s, err := callcenter.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	id := oneCall(t, s)
	deadline := time.Now().Add(15 * time.Second)
	for {
		log, _ := s.Deliveries(callcenter.DeliveryFilter{})
		if len(log) == 3 && log[2].Attempts >= 1 {
			if log[2].LastError == "" || log[2].State != callcenter.DeliveryPending {
				t.Fatalf("failed delivery logged as %+v", log[2])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed attempt logged: %+v", log)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the receiver's port was taken meanwhile: %v", err)
	}
	rc := newReceiver(t, ln)
	s, err = callcenter.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := expectCallEvents(t, rc, id)
	if got[0].event.ID != "ev-1" || got[2].event.ID != "ev-3" {
		t.Fatalf("event ids %s … %s", got[0].event.ID, got[2].event.ID)
	}
	waitDelivered(t, s, 3)
}

// TestWebhooksUnconfiguredEndpoint: a pending delivery to an endpoint no
// longer configured is marked failed at start instead of waiting forever.
func TestWebhooksUnconfiguredEndpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "calls.db")
	s, err := callcenter.Open(path, hookOptions("http://127.0.0.1:1/gone"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Emit("recording-stopped", map[string]string{"id": "r"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = callcenter.Open(path, callcenter.Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	log, _ := s.Deliveries(callcenter.DeliveryFilter{})
	if len(log) != 1 || log[0].State != callcenter.DeliveryFailed {
		t.Fatalf("delivery log %+v", log)
	}
}

func TestSign(t *testing.T) {
	// HMAC-SHA256 of "hello" under "key", as `openssl dgst -sha256 -hmac key` computes it.
	if got, want := callcenter.Sign("key", []byte("hello")), "sha256=9307b3b915efb5171ff14d8cb55fbcc798c6c0ef1456d66ded1a6aa723a58b7b"; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}
