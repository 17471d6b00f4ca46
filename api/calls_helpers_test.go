package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stoa-video/stoa/api"
	"github.com/stoa-video/stoa/callcenter"
	"github.com/stoa-video/stoa/signaling"
)

// ccServer is the signaling server (tokens, the Gate) and the API with a
// call center on a real bbolt file, over real HTTP.
type ccServer struct {
	t      *testing.T
	url    string
	tokens *signaling.TokenIssuer
	svc    *callcenter.Service
	hs     *httptest.Server
}

type ccConfig struct {
	calls  callcenter.Options
	center api.CallCenter
	dev    bool
	// readTimeout and writeTimeout are the HTTP server's, as cmd/stoa sets them.
	readTimeout, writeTimeout time.Duration
}

const operatorKey = "operator-key"

func newCallCenter(t *testing.T, mods ...func(*ccConfig)) *ccServer {
	t.Helper()
	cfg := ccConfig{calls: callcenter.Options{Logger: quietLogger(), RingTimeout: time.Minute}}
	for _, m := range mods {
		m(&cfg)
	}
	svc, err := callcenter.Open(filepath.Join(t.TempDir(), "calls.db"), cfg.calls)
	if err != nil {
		t.Fatal(err)
	}
	tokens := signaling.NewTokenIssuer([]byte("test-secret-0123456789"))
	sigOpts := signaling.Options{Tokens: tokens, Logger: quietLogger(), Dev: cfg.dev}
	if !cfg.dev {
		sigOpts.APIKeys = []string{operatorKey}
	}
	sig := signaling.NewServer(sigOpts)
	cfg.center.Service, cfg.center.Tokens = svc, tokens
	mux := http.NewServeMux()
	mux.Handle("/api/token", sig.Handler())
	mux.Handle("/api/", api.New(api.Options{Gate: sig, Calls: cfg.center, Logger: quietLogger()}).Handler())
	hs := httptest.NewUnstartedServer(mux)
	hs.Config.ReadTimeout, hs.Config.WriteTimeout = cfg.readTimeout, cfg.writeTimeout
	hs.Config.IdleTimeout = time.Minute // as cmd/stoa sets it: not the short ReadTimeout
	hs.Start()
	t.Cleanup(func() {
		_ = svc.Close() // ends the event streams, so hs.Close does not wait for them
		hs.Close()
		sig.Close()
	})
	return &ccServer{t: t, url: hs.URL, tokens: tokens, svc: svc, hs: hs}
}

// agentToken is an agent's console sign-in token.
func (cs *ccServer) agentToken(uid string, can ...signaling.Grant) string {
	if can == nil {
		can = []signaling.Grant{signaling.GrantCallCenter, signaling.GrantClaimTools}
	}
	tok, _, err := cs.tokens.Issue("call-center", uid, signaling.RoleHost, "agent", time.Hour, can...)
	if err != nil {
		cs.t.Fatal(err)
	}
	return tok
}

// do sends a JSON request with a bearer credential and decodes the reply.
func (cs *ccServer) do(method, path, bearer string, body any) (int, map[string]any) {
	cs.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			cs.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, cs.url+path, rd)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return doJSON(cs.t, req)
}

// createdCall is the operator's reply to POST /api/calls.
type createdCall struct {
	ID, Link, Token, QR string
}

func (cs *ccServer) create(claim, customer string) createdCall {
	cs.t.Helper()
	st, out := cs.do("POST", "/api/calls", operatorKey, map[string]string{"claim": claim, "customer": customer})
	if st != http.StatusCreated {
		cs.t.Fatalf("create call: %d %v", st, out)
	}
	return createdCall{ID: out["id"].(string), Link: out["link"].(string), Token: out["token"].(string), QR: out["qr"].(string)}
}

// request queues call c as its customer and returns the position.
func (cs *ccServer) request(c createdCall) int {
	cs.t.Helper()
	st, out := cs.do("POST", "/api/calls/"+c.ID+"/request", c.Token,
		map[string]any{"device": map[string]any{"ua": "Mozilla/5.0 (iPhone)", "platform": "iOS", "screen": "390x844"}})
	if st != http.StatusOK {
		cs.t.Fatalf("request call %s: %d %v", c.ID, st, out)
	}
	return int(out["position"].(float64))
}

func (cs *ccServer) record(id string) map[string]any {
	cs.t.Helper()
	st, out := cs.do("GET", "/api/calls/"+id, operatorKey, nil)
	if st != http.StatusOK {
		cs.t.Fatalf("get call %s: %d %v", id, st, out)
	}
	return out
}

// sseEvent is one Server-Sent Event read by a test.
type sseEvent struct {
	Name string
	Data map[string]any
}

// sseStream reads an event stream in a goroutine the test owns: it ends
// when the test cancels the request or the server ends the stream.
type sseStream struct {
	t      *testing.T
	name   string
	events chan sseEvent
	pings  chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// events opens path's stream with the token in the Authorization header, or
// in ?token= when query is set (as a browser's EventSource sends it).
func (cs *ccServer) events(name, path, token string, query bool) *sseStream {
	cs.t.Helper()
	st, err := cs.openEvents(name, path, token, query)
	if err != nil {
		cs.t.Fatal(err)
	}
	return st
}

// openEvents is events that returns the refusal as an error with its status.
func (cs *ccServer) openEvents(name, path, token string, query bool) (*sseStream, error) {
	ctx, cancel := context.WithCancel(context.Background())
	u := cs.url + path
	if query && token != "" {
		u += "?token=" + token
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if !query && token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		cancel()
		return nil, &httpStatusError{status: res.StatusCode, body: string(body)}
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		cancel()
		res.Body.Close()
		cs.t.Fatalf("%s: Content-Type %q", path, ct)
	}
	s := &sseStream{t: cs.t, name: name, events: make(chan sseEvent, 256), pings: make(chan struct{}, 256),
		ctx: ctx, cancel: cancel, done: make(chan struct{})}
	go s.read(res.Body)
	cs.t.Cleanup(s.close)
	return s, nil
}

type httpStatusError struct {
	status int
	body   string
}

func (e *httpStatusError) Error() string { return http.StatusText(e.status) + ": " + e.body }

func (s *sseStream) read(body io.ReadCloser) {
	defer close(s.done)
	defer close(s.events)
	defer body.Close()
	sc := bufio.NewScanner(body)
	var ev sseEvent
	var data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.Name != "" {
				ev.Data = map[string]any{}
				_ = json.Unmarshal([]byte(data), &ev.Data)
				select {
				case s.events <- ev:
				case <-s.ctx.Done():
					return
				}
			}
			ev, data = sseEvent{}, ""
		case strings.HasPrefix(line, ":"):
			select {
			case s.pings <- struct{}{}:
			default:
			}
		case strings.HasPrefix(line, "event: "):
			ev.Name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data += strings.TrimPrefix(line, "data: ")
		}
	}
}

func (s *sseStream) close() {
	s.cancel()
	<-s.done
}

// waitTimeout bounds every wait for an event: generous, since a test waits
// on events and never on time, and only a broken server comes near it.
const waitTimeout = 15 * time.Second

// next returns the stream's next event.
func (s *sseStream) next() sseEvent {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			s.t.Fatalf("%s: the stream ended", s.name)
		}
		return ev
	case <-time.After(waitTimeout):
		s.t.Fatalf("%s: no event within %s", s.name, waitTimeout)
	}
	return sseEvent{}
}

// until skips events up to the first named name that satisfies match (nil
// matches any) and returns it with the events skipped.
func (s *sseStream) until(name string, match func(map[string]any) bool) (sseEvent, []sseEvent) {
	s.t.Helper()
	var skipped []sseEvent
	for {
		ev := s.next()
		if ev.Name == name && (match == nil || match(ev.Data)) {
			return ev, skipped
		}
		skipped = append(skipped, ev)
	}
}

// ended reports whether the server ended the stream within waitTimeout.
func (s *sseStream) ended() bool {
	deadline := time.After(waitTimeout)
	for {
		select {
		case _, ok := <-s.events:
			if !ok {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

func callID(id string) func(map[string]any) bool {
	return func(d map[string]any) bool {
		if c, ok := d["call"].(map[string]any); ok {
			return c["id"] == id
		}
		return d["id"] == id
	}
}

func state(s string) func(map[string]any) bool {
	return func(d map[string]any) bool { return d["state"] == s }
}
