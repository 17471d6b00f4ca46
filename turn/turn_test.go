package turn

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/logging"
	pionturn "github.com/pion/turn/v4"
)

const testRealm = "stoa.test"

// startTestServer starts a TURN server on 127.0.0.1 advertising relayIP, closed when the test ends.
func startTestServer(t *testing.T, relayIP net.IP) *Server {
	t.Helper()
	srv, err := Start(Config{
		ListenIP: "127.0.0.1",
		Realm:    testRealm,
		Secret:   []byte("turn-test-secret"),
		RelayIP:  relayIP,
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// serverAddr returns the host:port of srv's URL for transport ("udp" or "tcp").
func serverAddr(t *testing.T, srv *Server, transport string) string {
	t.Helper()
	for _, u := range srv.URLs() {
		if addr, ok := strings.CutSuffix(strings.TrimPrefix(u, "turn:"), "?transport="+transport); ok {
			return addr
		}
	}
	t.Fatalf("no %s URL in %v", transport, srv.URLs())
	return ""
}

// dialTURN returns a listening pion TURN client connected to srv over transport.
// Its sockets are closed when the test ends unless the caller closes them first with the returned func.
func dialTURN(t *testing.T, srv *Server, transport, username, password string) (*pionturn.Client, func()) {
	t.Helper()
	// URLs carry RelayIP; the server listens on 127.0.0.1 at the same port.
	_, port, _ := net.SplitHostPort(serverAddr(t, srv, transport))
	addr := net.JoinHostPort("127.0.0.1", port)
	var conn net.PacketConn
	switch transport {
	case "udp":
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen udp: %v", err)
		}
		conn = c
	case "tcp":
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			t.Fatalf("dial tcp %s: %v", addr, err)
		}
		conn = pionturn.NewSTUNConn(c)
	}
	client, err := pionturn.NewClient(&pionturn.ClientConfig{
		STUNServerAddr: addr,
		TURNServerAddr: addr,
		Conn:           conn,
		Username:       username,
		Password:       password,
		Realm:          testRealm,
		LoggerFactory:  &logging.DefaultLoggerFactory{Writer: io.Discard, DefaultLogLevel: logging.LogLevelDisabled},
	})
	if err != nil {
		_ = conn.Close()
		t.Fatalf("turn client: %v", err)
	}
	if err := client.Listen(); err != nil {
		_ = conn.Close()
		t.Fatalf("turn client listen: %v", err)
	}
	closed := false
	closeFn := func() {
		if !closed {
			closed = true
			client.Close()
			_ = conn.Close()
		}
	}
	t.Cleanup(closeFn)
	return client, closeFn
}

func TestAllocate(t *testing.T) {
	relayIP := net.IPv4(192, 0, 2, 1) // not the bind address: the relay candidate must carry RelayIP
	srv := startTestServer(t, relayIP)

	tests := []struct {
		name   string
		creds  func() (string, string)
		wantOK bool
	}{
		{"valid", func() (string, string) { return srv.Credentials("alice", time.Minute) }, true},
		{"wrong password", func() (string, string) {
			u, _ := srv.Credentials("alice", time.Minute)
			return u, restPassword([]byte("another secret"), u)
		}, false},
		{"expired", func() (string, string) { return srv.Credentials("alice", -time.Minute) }, false},
		{"no expiry", func() (string, string) { return "alice", restPassword(srv.secret, "alice") }, false},
	}
	for _, transport := range []string{"udp", "tcp"} {
		for _, tc := range tests {
			t.Run(transport+"/"+tc.name, func(t *testing.T) {
				username, password := tc.creds()
				client, _ := dialTURN(t, srv, transport, username, password)
				relay, err := client.Allocate()
				if !tc.wantOK {
					if err == nil {
						_ = relay.Close()
						t.Fatalf("Allocate succeeded, want refusal")
					}
					if !strings.Contains(err.Error(), "error 400") { // refused by the server, not lost on the way
						t.Fatalf("Allocate: %v, want a 400 error response", err)
					}
					return
				}
				if err != nil {
					t.Fatalf("Allocate: %v", err)
				}
				defer func() { _ = relay.Close() }()
				addr, ok := relay.LocalAddr().(*net.UDPAddr)
				if !ok || !addr.IP.Equal(relayIP) || addr.Port == 0 {
					t.Fatalf("relayed address %v, want %v:<port>", relay.LocalAddr(), relayIP)
				}
			})
		}
	}
}

// TestAuthFailures makes refused logins over UDP and TCP: each must be counted by
// AuthFailures and logged at debug level, and no record at info level or above may carry the
// username a client chose.
func TestAuthFailures(t *testing.T) {
	logs := newRecordingHandler()
	srv, err := Start(Config{
		ListenIP: "127.0.0.1", Realm: testRealm, Secret: []byte("turn-test-secret"), RelayIP: net.IPv4(127, 0, 0, 1),
		Logger: slog.New(logs),
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })

	wrongPassword := func(uid string) func() (string, string) {
		return func() (string, string) {
			u, _ := srv.Credentials(uid, time.Minute)
			return u, restPassword([]byte("another secret"), u)
		}
	}
	tests := []struct {
		name, transport, uid string
		creds                func() (string, string)
		wantRefused          bool
	}{
		{"wrong password/udp", "udp", "mallory-guess-udp", wrongPassword("mallory-guess-udp"), true},
		{"wrong password/tcp", "tcp", "mallory-guess-tcp", wrongPassword("mallory-guess-tcp"), true},
		{"expired", "udp", "mallory-expired", func() (string, string) { return srv.Credentials("mallory-expired", -time.Minute) }, true},
		{"malformed", "tcp", "mallory-malformed", func() (string, string) {
			return "mallory-malformed", restPassword(srv.secret, "mallory-malformed")
		}, true},
		{"valid", "udp", "alice-valid", func() (string, string) { return srv.Credentials("alice-valid", time.Minute) }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.AuthFailures()
			username, password := tc.creds()
			client, _ := dialTURN(t, srv, tc.transport, username, password)
			relay, err := client.Allocate()
			if err == nil {
				_ = relay.Close()
			}
			if (err != nil) != tc.wantRefused {
				t.Fatalf("Allocate: %v, want refused %v", err, tc.wantRefused)
			}
			// The server counts and logs a refusal before it answers, so both are done by now.
			after := srv.AuthFailures()
			if tc.wantRefused && after <= before || !tc.wantRefused && after != before {
				t.Fatalf("AuthFailures went from %d to %d, want an increase %v", before, after, tc.wantRefused)
			}
			if !tc.wantRefused {
				return
			}
			loggedAtDebug := false
			for _, r := range logs.records() {
				if !strings.Contains(r.text, tc.uid) {
					continue
				}
				if r.level >= slog.LevelInfo {
					t.Errorf("logged at %v with the client's username: %s", r.level, r.text)
				}
				if r.level == slog.LevelDebug && strings.Contains(r.text, "turn credentials refused") {
					loggedAtDebug = true
				}
			}
			if !loggedAtDebug {
				t.Errorf("no debug record of the refusal of %q; records: %v", tc.uid, logs.records())
			}
		})
	}
}

// recordingHandler is a slog.Handler keeping every record at debug level and above as its level
// and a line of text (message and attributes), for tests to inspect.
type recordingHandler struct {
	mu    *sync.Mutex
	recs  *[]loggedRecord
	attrs []slog.Attr
}

type loggedRecord struct {
	level slog.Level
	text  string
}

func newRecordingHandler() *recordingHandler {
	return &recordingHandler{mu: new(sync.Mutex), recs: new([]loggedRecord)}
}

func (h *recordingHandler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= slog.LevelDebug
}

func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	for _, a := range h.attrs {
		b.WriteString(" " + a.String())
	}
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.recs = append(*h.recs, loggedRecord{level: r.Level, text: b.String()})
	return nil
}

func (h *recordingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), attrs...)
	return &c
}

func (h *recordingHandler) WithGroup(string) slog.Handler { return h }

func (h *recordingHandler) records() []loggedRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]loggedRecord(nil), *h.recs...)
}

func TestRelayData(t *testing.T) {
	srv := startTestServer(t, net.IPv4(127, 0, 0, 1))
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			username, password := srv.Credentials("bob", time.Minute)
			client, _ := dialTURN(t, srv, transport, username, password)
			relay, err := client.Allocate()
			if err != nil {
				t.Fatalf("Allocate: %v", err)
			}
			defer func() { _ = relay.Close() }()
			peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatalf("listen peer: %v", err)
			}
			defer func() { _ = peer.Close() }()
			if err := client.CreatePermission(peer.LocalAddr()); err != nil {
				t.Fatalf("CreatePermission: %v", err)
			}

			// peer → relayed address → client
			want := []byte("hello through the relay over " + transport)
			if _, err := peer.WriteTo(want, relay.LocalAddr()); err != nil {
				t.Fatalf("peer write: %v", err)
			}
			buf := make([]byte, 1500)
			_ = relay.SetReadDeadline(time.Now().Add(30 * time.Second))
			n, from, err := relay.ReadFrom(buf)
			if err != nil {
				t.Fatalf("relay read: %v", err)
			}
			if !bytes.Equal(buf[:n], want) || from.String() != peer.LocalAddr().String() {
				t.Fatalf("relay read %q from %v, want %q from %v", buf[:n], from, want, peer.LocalAddr())
			}

			// client → relayed address → peer
			reply := []byte("and back")
			if _, err := relay.WriteTo(reply, peer.LocalAddr()); err != nil {
				t.Fatalf("relay write: %v", err)
			}
			_ = peer.SetReadDeadline(time.Now().Add(30 * time.Second))
			n, from, err = peer.ReadFrom(buf)
			if err != nil {
				t.Fatalf("peer read: %v", err)
			}
			if !bytes.Equal(buf[:n], reply) || from.String() != relay.LocalAddr().String() {
				t.Fatalf("peer read %q from %v, want %q from %v", buf[:n], from, reply, relay.LocalAddr())
			}
		})
	}
}

// TestCredentials checks the TURN REST API convention against pion's own implementation of it.
func TestCredentials(t *testing.T) {
	srv := startTestServer(t, net.IPv4(127, 0, 0, 1))
	username, password := srv.Credentials("carol:1", time.Hour)
	expiry, uid, _ := strings.Cut(username, ":")
	if uid != "carol:1" {
		t.Fatalf("username %q: uid %q, want carol:1", username, uid)
	}
	sec, err := strconv.ParseInt(expiry, 10, 64)
	if err != nil {
		t.Fatalf("username %q: expiry: %v", username, err)
	}
	if d := time.Until(time.Unix(sec, 0)); d < 59*time.Minute || d > time.Hour {
		t.Fatalf("username %q expires in %v, want about 1h", username, d)
	}
	pionKey, ok := pionturn.LongTermTURNRESTAuthHandler(string(srv.secret), nil)(username, testRealm, nil)
	ourKey, ourOK := srv.authenticate(username, testRealm, nil)
	if !ok || !ourOK || !bytes.Equal(pionKey, ourKey) {
		t.Fatalf("keys differ: pion %x (%v), ours %x (%v)", pionKey, ok, ourKey, ourOK)
	}
	if want := pionturn.GenerateAuthKey(username, testRealm, password); !bytes.Equal(ourKey, want) {
		t.Fatalf("key %x does not match the minted password", ourKey)
	}
	urls := srv.URLs()
	wantPrefix := "turn:127.0.0.1:" + strings.TrimPrefix(serverAddr(t, srv, "udp"), "127.0.0.1:")
	if len(urls) != 2 || urls[0] != wantPrefix+"?transport=udp" || urls[1] != wantPrefix+"?transport=tcp" {
		t.Fatalf("URLs %v", urls)
	}
}

// TestCloseLeavesNoGoroutines closes the server under live UDP and TCP allocations: no server
// goroutine may outlive Close, and once the clients are gone the count is back where it started.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	srv, err := Start(Config{
		ListenIP: "127.0.0.1", Realm: testRealm, Secret: []byte("s"), RelayIP: net.IPv4(127, 0, 0, 1),
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	var closers []func()
	for _, transport := range []string{"udp", "tcp"} {
		username, password := srv.Credentials("dave", time.Minute)
		client, closeClient := dialTURN(t, srv, transport, username, password)
		relay, err := client.Allocate()
		if err != nil {
			t.Fatalf("Allocate over %s: %v", transport, err)
		}
		closers = append(closers, func() { _ = relay.Close() }, closeClient)
	}

	done := make(chan error, 1)
	go func() { done <- srv.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(30 * time.Second): // a bound only a hung Close trips
		t.Fatalf("Close did not return")
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// A read loop is counted out when it sees its socket closed; allow it its last few instructions.
	waitFor(t, "server goroutines to end", func() bool {
		return !strings.Contains(stacks(), "pion/turn/v4.(*Server)") &&
			!strings.Contains(stacks(), "pion/turn/v4/internal/allocation") && !strings.Contains(stacks(), "stoa/turn.(*")
	})

	for _, c := range closers {
		c()
	}
	waitFor(t, "goroutine count to return to its start", func() bool { return runtime.NumGoroutine() <= before })
}

// waitFor polls cond until it holds, failing the test with all stacks after 30 s (a
// bound only a leak trips; a passing run returns as soon as cond holds).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; goroutines:\n%s", what, stacks())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func stacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}
