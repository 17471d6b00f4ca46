package signaling_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/stoa-video/stoa/signaling"
	"github.com/stoa-video/stoa/signaling/client"
)

// rawConn is a bare websocket for sending what a real client never would.
type rawConn struct {
	t  *testing.T
	ws *websocket.Conn
}

func (ts *testServer) raw(t *testing.T) *rawConn {
	ws, _, err := websocket.DefaultDialer.Dial(ts.url, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	return &rawConn{t: t, ws: ws}
}

func (r *rawConn) send(data string) {
	if err := r.ws.WriteMessage(websocket.TextMessage, []byte(data)); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// next reads the next message. Every caller expects a message or a close,
// never the deadline, so it is a bound only a server that stops answering
// trips, even on a slow, busy machine.
func (r *rawConn) next() (signaling.Message, error) {
	_ = r.ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, data, err := r.ws.ReadMessage()
	if err != nil {
		return signaling.Message{}, err
	}
	var m signaling.Message
	if err := json.Unmarshal(data, &m); err != nil {
		r.t.Fatalf("server sent invalid JSON %q: %v", data, err)
	}
	return m, nil
}

func (r *rawConn) expectError(code string) {
	r.t.Helper()
	m, err := r.next()
	if err != nil {
		r.t.Fatalf("want error %s, got read error %v", code, err)
	}
	if m.Type != signaling.TypeError || m.Code != code {
		r.t.Fatalf("want error %s, got %s %q: %s", code, m.Type, m.Code, m.Message)
	}
}

func (r *rawConn) join(token string) signaling.Message {
	r.t.Helper()
	b, _ := json.Marshal(signaling.Message{Type: signaling.TypeJoin, ID: 1, Token: token})
	r.send(string(b))
	m, err := r.next()
	if err != nil || m.Type != signaling.TypeJoined {
		r.t.Fatalf("join: %v %+v", err, m)
	}
	return m
}

// expectClosed reads until the server closes the socket and returns the close code.
func (r *rawConn) expectClosed() int {
	r.t.Helper()
	for {
		if _, err := r.next(); err != nil {
			if ce, ok := err.(*websocket.CloseError); ok {
				return ce.Code
			}
			return -1
		}
	}
}

func TestBadInput(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ts := newTestServer(t)
	// A call that must keep working through everything below.
	host := ts.dial(ctx, "steady", "host", signaling.RoleHost)
	viewer := ts.dial(ctx, "steady", "viewer", signaling.RoleHost)
	rv := newReceiver(viewer)
	newPublisher(t, 'K').start(ctx, t, host)
	if !rv.receivesFrom(ctx, "host", 10) {
		t.Fatal("no media before the bad input")
	}

	forger := signaling.NewTokenIssuer([]byte("not-the-server-secret"))
	forged, _, _ := forger.Issue("bad", "u1", signaling.RoleHost, "", time.Hour)
	past := signaling.NewTokenIssuer([]byte("test-secret-0123456789"))
	past.Now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	expired, _, _ := past.Issue("bad", "u1", signaling.RoleHost, "", time.Hour)
	valid := ts.token("bad", "u1", signaling.RoleHost)
	otherRoom := ts.token("other", "u1", signaling.RoleHost)

	tests := []struct {
		name      string
		joinFirst bool
		frame     string
		code      string
		closes    int // websocket close code expected after the error, 0 = stays open
	}{
		{"malformed JSON", true, `{"type": "publish", "sdp": `, signaling.CodeBadJSON, 0},
		{"not an object", true, `[1,2,3]`, signaling.CodeBadJSON, 0},
		{"unknown type", true, `{"type":"teleport","id":5}`, signaling.CodeUnknownType, 0},
		{"missing type", true, `{"id":5}`, signaling.CodeUnknownType, 0},
		{"invalid SDP", true, `{"type":"publish","id":2,"sdp":"v=0 this is not SDP"}`, signaling.CodeInvalidSDP, 0},
		{"SDP without media", true, `{"type":"publish","id":2,"sdp":"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"}`, signaling.CodeInvalidSDP, 0},
		{"subscribe to a track that does not exist", true, `{"type":"subscribe","id":3,"uid":"nobody"}`, signaling.CodeStreamNotFound, 0},
		{"answer for an unknown pc", true, `{"type":"answer","pc":"sub:ghost","sdp":"v=0"}`, signaling.CodePCNotFound, 0},
		{"mute without kind", true, `{"type":"mute","id":4,"muted":true}`, signaling.CodeBadRequest, 0},
		{"second join", true, `{"type":"join","id":9,"token":"` + valid + `"}`, signaling.CodeAlreadyJoined, 0},
		{"renew for another room", true, `{"type":"renew","id":9,"token":"` + otherRoom + `"}`, signaling.CodeTokenRoomMismatch, 0},
		{"request before join", false, `{"type":"subscribe","id":1,"uid":"x"}`, signaling.CodeNotJoined, websocket.ClosePolicyViolation},
		{"forged token", false, `{"type":"join","id":1,"token":"` + forged + `"}`, signaling.CodeTokenInvalid, websocket.ClosePolicyViolation},
		{"garbage token", false, `{"type":"join","id":1,"token":"abc.def.ghi"}`, signaling.CodeTokenInvalid, websocket.ClosePolicyViolation},
		{"expired token", false, `{"type":"join","id":1,"token":"` + expired + `"}`, signaling.CodeTokenExpired, websocket.ClosePolicyViolation},
		{"token for another room", false, `{"type":"join","id":1,"room":"bad","token":"` + otherRoom + `"}`, signaling.CodeTokenRoomMismatch, websocket.ClosePolicyViolation},
		{"1 MB message", true, `{"type":"ping","pad":"` + strings.Repeat("x", 1<<20) + `"}`, signaling.CodeMessageTooLarge, websocket.CloseMessageTooBig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.raw(t)
			if tc.joinFirst {
				r.join(valid)
			}
			r.send(tc.frame)
			r.expectError(tc.code)
			if tc.closes != 0 {
				if got := r.expectClosed(); got != tc.closes {
					t.Errorf("close code %d, want %d", got, tc.closes)
				}
				return
			}
			// The socket still works.
			r.send(`{"type":"ping","id":77,"t":1}`)
			for {
				m, err := r.next()
				if err != nil {
					t.Fatalf("socket unusable after %s: %v", tc.code, err)
				}
				if m.Type == signaling.TypePong && m.ID == 77 {
					break
				}
			}
		})
	}

	t.Run("websocket closed mid-negotiation", func(t *testing.T) {
		c := ts.dial(ctx, "midway", "quitter", signaling.RoleHost)
		pc, err := loopbackAPI(t).NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
		offer, _ := pc.CreateOffer(nil)
		_ = c.Send(signaling.Message{Type: signaling.TypePublish, ID: 1, SDP: offer.SDP})
		c.Drop() // gone before the answer
		// The server drops the participant after the grace window and serves newcomers meanwhile.
		other := ts.dial(ctx, "midway", "stayer", signaling.RoleHost)
		if _, err := other.WaitEvent(ctx, signaling.TypePeerLeave, func(m signaling.Message) bool { return m.UID == "quitter" && m.Reason == "timeout" }); err != nil {
			t.Fatalf("no peer-leave(timeout) for the vanished client: %v", err)
		}
	})

	// The call went on through all of it.
	before := rv.stats("host", "video").packets
	if !rv.waitFor(ctx, func() bool { return rv.stats("host", "video").packets > before+20 }) {
		t.Fatal("the steady call stopped during the bad input")
	}
}

// logWatch is an io.Writer for a server's slog text handler that closes
// seen once a record contains all of want (the handler writes each record
// in one Write call).
type logWatch struct {
	want []string
	once sync.Once
	seen chan struct{}
}

func (w *logWatch) Write(p []byte) (int, error) {
	line := string(p)
	for _, s := range w.want {
		if !strings.Contains(line, s) {
			return len(p), nil
		}
	}
	w.once.Do(func() { close(w.seen) })
	return len(p), nil
}

// TestResumeWithinGrace: a client whose websocket drops resumes its session
// within the grace window, and the call goes on with nobody seeing it leave.
//
// No sleep races the grace window: the test resumes once the server has
// logged that it lost the socket and started the grace window (so the resume
// takes that path rather than replacing a socket the server still thinks is
// open), and the window is 30 s, a bound only a stuck resume trips. The test
// never waits for the window to run out, so its length costs nothing.
func TestResumeWithinGrace(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	lost := &logWatch{want: []string{"waiting for resume", "uid=customer"}, seen: make(chan struct{})}
	ts := newTestServer(t, func(o *signaling.Options) {
		o.Grace = 30 * time.Second
		o.Logger = slog.New(slog.NewTextHandler(lost, nil))
	})
	agent := ts.dial(ctx, "resume", "agent", signaling.RoleHost)
	customer := ts.dial(ctx, "resume", "customer", signaling.RoleHost)
	ra, rc := newReceiver(agent), newReceiver(customer)
	newPublisher(t, 'a').start(ctx, t, agent)
	newPublisher(t, 'c').start(ctx, t, customer)
	if !ra.receivesFrom(ctx, "customer", 20) || !rc.receivesFrom(ctx, "agent", 20) {
		t.Fatal("no call before the drop")
	}
	customer.Drop()
	select { // the server notices the socket is gone and starts the grace window
	case <-lost.seen:
	case <-ctx.Done():
		t.Fatal(`the server did not log "websocket lost; waiting for resume" for the dropped customer`)
	}
	if err := customer.Resume(ctx); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if !customer.Joined().Resumed {
		t.Error("joined after resume does not say resumed")
	}
	before := ra.stats("customer", "video").packets
	if !ra.waitFor(ctx, func() bool { return ra.stats("customer", "video").packets > before+50 }) {
		t.Fatal("the agent stopped receiving the customer after the resume")
	}
	beforeC := rc.stats("agent", "video").packets
	if !rc.waitFor(ctx, func() bool { return rc.stats("agent", "video").packets > beforeC+50 }) {
		t.Fatal("the customer stopped receiving the agent after the resume")
	}
	// Nobody saw the customer leave.
	drain, cancelDrain := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancelDrain()
	if m, err := agent.WaitEvent(drain, signaling.TypePeerLeave, nil); err == nil {
		t.Errorf("the agent saw %s leave during a resume", m.UID)
	}
}

// TestTokenExpiryWarningAndRenew: the server warns before a token expires,
// a renewed session outlives its first token, and one that is not renewed
// ends at expiry.
//
// JWT exp is whole seconds (Issue truncates it), so a token issued with ttl
// expires between ttl-1 s and ttl later: the tokens are 5 s long, so each
// still has at least 4 s left when the test dials with it. The warning comes
// tokenWarning before expiry, that is within the first second, which leaves
// at least 3 s to renew. No wait asserts a time: each waits for an event
// under the test's deadline, and the check that the renewed session is not
// ended looks until 2 s after the first token's exp, whenever that is.
func TestTokenExpiryWarningAndRenew(t *testing.T) {
	const (
		tokenTTL     = 5 * time.Second
		tokenWarning = 4 * time.Second
	)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ts := newTestServer(t, func(o *signaling.Options) { o.TokenWarning = tokenWarning })
	tok, exp1, err := ts.tokens.Issue("renew", "u", signaling.RoleHost, "", tokenTTL)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(ctx, client.Options{URL: ts.url, Token: tok, API: loopbackAPI(t), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.WaitEvent(ctx, signaling.TypeTokenWillExpire, nil); err != nil {
		t.Fatalf("no token-will-expire: %v", err)
	}
	exp, err := c.Renew(ctx, ts.token("renew", "u", signaling.RoleHost))
	if err != nil {
		t.Fatalf("renew (the first token expires at %v, now %v): %v", exp1, time.Now(), err)
	}
	if time.Until(exp) < 30*time.Minute {
		t.Errorf("renewed expiry %v is not the new token's", exp)
	}

	// Without renewal the server ends the session. (This session starts
	// after the renewal and its token-expired comes about when the first
	// token's would, so the two checks overlap in time.)
	tok2, _, err := ts.tokens.Issue("renew", "v", signaling.RoleHost, "", tokenTTL)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := client.Dial(ctx, client.Options{URL: ts.url, Token: tok2, API: loopbackAPI(t), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := c2.WaitEvent(ctx, signaling.TypeTokenExpired, nil); err != nil {
		t.Fatalf("no token-expired: %v", err)
	}

	// The renewed session outlives its first token.
	quiet, cancelQuiet := context.WithDeadline(ctx, exp1.Add(2*time.Second))
	defer cancelQuiet()
	if _, err := c.WaitEvent(quiet, signaling.TypeTokenExpired, nil); err == nil {
		t.Error("token-expired although the token was renewed")
	}
}
