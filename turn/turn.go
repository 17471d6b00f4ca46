// Package turn is Stoa's embedded TURN server and its credentials: customers
// behind NATs and firewalls that let no media through reach the SFU over a
// relay on one UDP and TCP port. Credentials follow the TURN REST API
// convention (a short-lived username signed with a shared secret), so the
// signaling server mints them per participant and nothing is stored.
package turn

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // HMAC-SHA1 is what the TURN REST API convention and every browser expect.
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/logging"
	pionturn "github.com/pion/turn/v4"
)

// Config configures the embedded TURN server, off by default; customers behind strict NATs reach the SFU through it.
type Config struct {
	ListenIP string // address to bind UDP and TCP listeners, e.g. "0.0.0.0" or "127.0.0.1"; IPv4, "0.0.0.0" if empty
	Port     int    // UDP and TCP port (same number), 0 = pick a free one (tests)
	Realm    string // realm sent to clients; "stoa" if empty
	Secret   []byte // HMAC secret for short-lived credentials (TURN REST API convention)
	RelayIP  net.IP // address put in relay candidates (the public IP, or 127.0.0.1 in tests); IPv4

	// Logger gets the server's own records, tagged component=turn; slog.Default() if nil.
	Logger *slog.Logger
	// PionLogs, when set, makes the factory through which pion/turn's own log lines reach that
	// logger (cmd/stoa passes the SFU's, so pion speaks alike everywhere); nil leaves them to
	// pion's default logger, errors only, on stderr.
	PionLogs func(*slog.Logger) logging.LoggerFactory
}

// Server is a running embedded TURN server: one UDP and one TCP listener on the same port, relaying
// over UDP sockets bound on ListenIP and advertised at RelayIP. Start starts one, Close stops it.
type Server struct {
	secret   []byte
	listenIP string
	relayIP  net.IP
	port     int
	log      *slog.Logger
	server   *pionturn.Server

	// pion/turn's Server.Close closes its sockets but waits for nothing, so Close waits here for
	// what pion started: each listener's read loop, each TCP connection's goroutine and each
	// allocation (whose relay goroutine's last act is to delete it). See newTask.
	running sync.WaitGroup
	closing atomic.Bool

	authFailures atomic.Uint64 // see AuthFailures

	mu           sync.Mutex
	relays       map[*relayConn]struct{} // open relay sockets, closed by Close as a backstop
	relaysClosed bool                    // set by Close: no new relay sockets

	closeOnce sync.Once
	closeErr  error
}

// errClosing refuses allocations that race with Close.
var errClosing = errors.New("turn server closing")

// errTCPRelay refuses RFC 6062 TCP relays: WebRTC only needs UDP relays, whatever the client transport.
var errTCPRelay = errors.New("tcp relay allocations not supported")

// Start binds the UDP and TCP listeners and starts serving. Only credentials minted by
// Credentials with the same secret, and not yet expired, may allocate relays.
func Start(cfg Config) (*Server, error) {
	if len(cfg.Secret) == 0 {
		return nil, errors.New("start turn: empty secret")
	}
	listenIP := cfg.ListenIP
	if listenIP == "" {
		listenIP = "0.0.0.0"
	}
	// pion/turn allocates relays with "udp4" only, so both addresses must be IPv4.
	if ip := net.ParseIP(listenIP); ip == nil || ip.To4() == nil {
		return nil, fmt.Errorf("start turn: listen IP %q is not an IPv4 address", cfg.ListenIP)
	}
	if cfg.RelayIP.To4() == nil {
		return nil, fmt.Errorf("start turn: relay IP %v is not an IPv4 address", cfg.RelayIP)
	}
	realm := cfg.Realm
	if realm == "" {
		realm = "stoa"
	}

	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}

	udp, tcp, err := listen(listenIP, cfg.Port)
	if err != nil {
		return nil, fmt.Errorf("start turn on %s:%d: %w", listenIP, cfg.Port, err)
	}
	t := &Server{
		secret:   bytes.Clone(cfg.Secret),
		listenIP: listenIP,
		relayIP:  cfg.RelayIP.To4(),
		port:     udp.LocalAddr().(*net.UDPAddr).Port,
		log:      log.With("component", "turn"),
		relays:   make(map[*relayConn]struct{}),
	}
	var pionLogs logging.LoggerFactory
	if cfg.PionLogs != nil {
		pionLogs = cfg.PionLogs(t.log)
	}
	packets := &udpConn{PacketConn: udp, task: t.newTask("udp")}
	listener := &tcpListener{Listener: tcp, t: t, task: t.newTask("tcp"), conns: make(map[*tcpConn]struct{})}
	relays := &relayGenerator{t: t}
	t.server, err = pionturn.NewServer(pionturn.ServerConfig{
		PacketConnConfigs: []pionturn.PacketConnConfig{{PacketConn: packets, RelayAddressGenerator: relays}},
		ListenerConfigs:   []pionturn.ListenerConfig{{Listener: listener, RelayAddressGenerator: relays}},
		LoggerFactory:     pionLogs,
		Realm:             realm,
		AuthHandler:       t.authenticate,
		EventHandler: pionturn.EventHandler{
			OnAuth: func(src, _ net.Addr, _, username, _, method string, ok bool) {
				if !ok { // the username was valid and unexpired, so the password was wrong
					t.authFailed("wrong password", username, src, "method", method)
				}
			},
			OnAllocationCreated: func(src, _ net.Addr, _, username, _ string, relay net.Addr, _ int) {
				t.log.Debug("turn allocation created", "user", username, "client", src, "relay", relay)
			},
			OnAllocationDeleted: func(src, _ net.Addr, _, username, _ string) {
				t.log.Debug("turn allocation deleted", "user", username, "client", src)
				t.running.Done() // added by AllocatePacketConn; pion deletes each allocation once
			},
		},
	})
	if err != nil {
		_ = udp.Close()
		_ = tcp.Close()
		return nil, fmt.Errorf("start turn: %w", err)
	}
	t.log.Info("turn server started", "listen", net.JoinHostPort(listenIP, strconv.Itoa(t.port)),
		"relay_ip", t.relayIP.String(), "realm", realm)
	return t, nil
}

// listen binds UDP and TCP on the same port; with port 0 it retries until a port is free for both.
func listen(ip string, port int) (net.PacketConn, net.Listener, error) {
	var err error
	for range 10 {
		var udp net.PacketConn
		udp, err = net.ListenPacket("udp4", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			return nil, nil, fmt.Errorf("listen udp: %w", err)
		}
		p := udp.LocalAddr().(*net.UDPAddr).Port
		var tcp net.Listener
		tcp, err = net.Listen("tcp4", net.JoinHostPort(ip, strconv.Itoa(p)))
		if err == nil {
			return udp, tcp, nil
		}
		_ = udp.Close()
		if port != 0 {
			break
		}
	}
	return nil, nil, fmt.Errorf("listen tcp: %w", err)
}

// Credentials mints a short-lived username/password for one participant: username "<unix expiry>:<uid>", password base64(HMAC-SHA1(secret, username)).
// The ttl must cover the whole call: the expiry is checked on every refresh, so an allocation dies
// with its credentials.
func (t *Server) Credentials(uid string, ttl time.Duration) (username, password string) {
	username = strconv.FormatInt(time.Now().Add(ttl).Unix(), 10) + ":" + uid
	return username, restPassword(t.secret, username)
}

// restPassword is the TURN REST API password for a username.
func restPassword(secret []byte, username string) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// authenticate is the pion AuthHandler: it refuses malformed and expired usernames and otherwise
// returns the long-term key of the password Credentials would have minted; pion checks the
// request's MESSAGE-INTEGRITY against it. pion's own LongTermTURNRESTAuthHandler does the same
// but logs through pion's logger and accepts a username in the very second it expires.
func (t *Server) authenticate(username, realm string, src net.Addr) ([]byte, bool) {
	expiry, _, ok := strings.Cut(username, ":")
	sec, err := strconv.ParseInt(expiry, 10, 64)
	if !ok || err != nil {
		t.authFailed("malformed username", username, src)
		return nil, false
	}
	if sec <= time.Now().Unix() {
		t.authFailed("expired", username, src, "expired_at", time.Unix(sec, 0).UTC())
		return nil, false
	}
	return pionturn.GenerateAuthKey(username, realm, restPassword(t.secret, username)), true
}

// authFailed counts a refused login and logs it at debug level only: anyone can send TURN
// requests, and a log line at info level with a username they chose, per request, would let
// them flood the logs.
func (t *Server) authFailed(reason, username string, src net.Addr, args ...any) {
	t.authFailures.Add(1)
	if t.log.Enabled(context.Background(), slog.LevelDebug) {
		t.log.Debug("turn credentials refused",
			append([]any{"reason", reason, "user", username, "client", src}, args...)...)
	}
}

// AuthFailures returns how many TURN requests this server refused for bad credentials (wrong
// password, malformed or expired username), which are logged at debug level only, so that
// monitoring can still see credential guessing.
func (t *Server) AuthFailures() uint64 { return t.authFailures.Load() }

// URLs returns the ICE server URLs clients use: "turn:IP:PORT?transport=udp" and "turn:IP:PORT?transport=tcp" with the actual ports.
func (t *Server) URLs() []string {
	hostPort := net.JoinHostPort(t.relayIP.String(), strconv.Itoa(t.port))
	return []string{
		"turn:" + hostPort + "?transport=udp",
		"turn:" + hostPort + "?transport=tcp",
	}
}

// Close stops the listeners, ends every allocation and TCP connection, and waits for the
// server's goroutines: pion/turn offers no join, so it waits for each one's last observable act
// (after which it only returns). It is idempotent; concurrent callers all wait.
func (t *Server) Close() error {
	t.closeOnce.Do(func() {
		t.closing.Store(true)
		err := t.server.Close() // closes the UDP socket and the listener, which closes accepted conns
		t.closeRelays()
		t.running.Wait()
		if err != nil {
			t.closeErr = fmt.Errorf("close turn server: %w", err)
		}
		t.log.Info("turn server closed")
	})
	return t.closeErr
}

// closeRelays closes the relay sockets pion has not closed yet. The allocation manager of a
// listener is closed after its read loop ends, but relays made over a TCP connection are only
// closed by the connection's own goroutine, and a relay made after that would live until its
// lifetime expired; so Close refuses new relays and closes the rest itself.
func (t *Server) closeRelays() {
	t.mu.Lock()
	t.relaysClosed = true
	relays := make([]*relayConn, 0, len(t.relays))
	for c := range t.relays {
		relays = append(relays, c)
	}
	t.mu.Unlock()
	for _, c := range relays {
		_ = c.Close()
	}
}

// newTask counts one more pion goroutine for Close to wait for. It is called while the goroutine
// handling the request that starts the new one is still counted (or before Start returns), so
// the count is never zero when it grows.
func (t *Server) newTask(listener string) *task {
	t.running.Add(1)
	return &task{t: t, listener: listener}
}

// task is one counted pion goroutine, done at its last observable act.
type task struct {
	t        *Server
	listener string // "udp" or "tcp" for a listener's loop, whose end before Close is an outage
	once     sync.Once
}

func (r *task) done(err error) {
	r.once.Do(func() {
		if r.listener != "" && !r.t.closing.Load() {
			r.t.log.Error("turn listener stopped", "transport", r.listener, "err", err)
		}
		r.t.running.Done()
	})
}

// udpConn is the UDP listener. pion's read loop on it ends at the first read error; then it
// only closes its allocation manager, whose allocations Close waits for separately.
type udpConn struct {
	net.PacketConn
	task *task
}

func (c *udpConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(p)
	if err != nil {
		c.task.done(err)
	}
	return n, addr, err
}

// relayConn is one allocation's relay socket.
type relayConn struct {
	net.PacketConn
	t         *Server
	closeOnce sync.Once
	closeErr  error
}

// Close is idempotent: an allocation and Server.Close may both close a relay, and pion's
// allocation manager stops closing the others at the first error.
func (c *relayConn) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.PacketConn.Close()
		c.t.mu.Lock()
		delete(c.t.relays, c)
		c.t.mu.Unlock()
	})
	return c.closeErr
}

// tcpListener is the TCP listener; closing it also closes the connections it accepted, which
// pion's Server.Close leaves open.
type tcpListener struct {
	net.Listener
	t    *Server
	task *task // the accept loop, which ends at the first Accept error

	mu     sync.Mutex
	closed bool
	conns  map[*tcpConn]struct{}
}

func (l *tcpListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		l.task.done(err)
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		_ = c.Close()
		l.task.done(net.ErrClosed)
		return nil, net.ErrClosed
	}
	tc := &tcpConn{Conn: c, l: l, task: l.t.newTask("")}
	l.conns[tc] = struct{}{}
	return tc, nil
}

func (l *tcpListener) Close() error {
	l.mu.Lock()
	l.closed = true
	conns := make([]*tcpConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	err := l.Listener.Close()
	for _, c := range conns {
		_ = c.Conn.Close() // the inner conn: the wrapper's Close belongs to pion's goroutine
	}
	return err
}

// tcpConn is one accepted TCP connection, counted until pion's goroutine for it closes it: its
// last act, after a read error or a malformed frame ends its loop and its allocation is deleted.
type tcpConn struct {
	net.Conn
	l    *tcpListener
	task *task
}

func (c *tcpConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	err := c.Conn.Close()
	c.task.done(net.ErrClosed)
	return err
}

// relayGenerator binds relay sockets on ListenIP and advertises them at RelayIP.
type relayGenerator struct{ t *Server }

func (g *relayGenerator) Validate() error { return nil }

func (g *relayGenerator) AllocatePacketConn(network string, port int) (net.PacketConn, net.Addr, error) {
	t := g.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.relaysClosed {
		return nil, nil, errClosing
	}
	conn, err := net.ListenPacket(network, net.JoinHostPort(t.listenIP, strconv.Itoa(port)))
	if err != nil {
		return nil, nil, fmt.Errorf("bind relay socket: %w", err)
	}
	relayAddr := *conn.LocalAddr().(*net.UDPAddr)
	relayAddr.IP = t.relayIP
	c := &relayConn{PacketConn: conn, t: t}
	t.relays[c] = struct{}{}
	t.running.Add(1) // done by OnAllocationDeleted: pion makes an allocation of every relay socket
	return c, &relayAddr, nil
}

func (g *relayGenerator) AllocateConn(string, int) (net.Conn, net.Addr, error) {
	return nil, nil, errTCPRelay
}
