// Package signaling is Stoa's control plane: the websocket protocol of
// docs/signaling.md, the tokens and the token API, and the sessions that tie
// a websocket to an sfu.Participant. It also says who an HTTP caller is
// (operator key, token, dev mode) and guards every route; the HTTP API for
// snapshots, faces and OCR (package api) asks it both.
package signaling

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/stoa-video/stoa/quality"
	"github.com/stoa-video/stoa/sfu"
)

// Version is reported by /api/info.
const Version = "0.1.0"

// TURNMinter mints short-lived TURN credentials per participant.
type TURNMinter interface {
	Credentials(uid string, ttl time.Duration) (username, password string)
	URLs() []string
}

// Options configures a Server.
type Options struct {
	SFU    *sfu.SFU
	Tokens *TokenIssuer
	// APIKeys are the operator keys that may mint tokens.
	APIKeys []string
	// Dev lets loopback clients mint tokens without a key.
	Dev bool
	// Grace is how long a participant whose websocket dropped is kept for resume.
	Grace time.Duration
	// ICEServers are handed to every client.
	ICEServers []ICEServer
	// TURN, when set, adds per-participant TURN credentials to the ICE servers.
	TURN TURNMinter
	// TokenWarning is how long before expiry token-will-expire is sent.
	TokenWarning time.Duration
	// Limits bounds sessions and failed logins.
	Limits Limits
	// Quality configures the pings' tips and the network-quality levels.
	Quality QualityOptions
	// Metrics, if set, is told round trips and errors.
	Metrics MetricsSink
	// QualitySink, if set, is told every participant's levels every 2 s.
	QualitySink QualitySink
	Logger      *slog.Logger
}

// Server serves the websocket protocol and the token API, and guards the HTTP API.
type Server struct {
	opts     Options
	log      *slog.Logger
	upgrader websocket.Upgrader
	guards   *guards

	mu       sync.Mutex
	sessions map[string]*session
	closed   bool
	wg       sync.WaitGroup
	// stop ends the quality monitor.
	stop chan struct{}
}

// NewServer returns a Server; mount Handler on an HTTP server.
func NewServer(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Grace <= 0 {
		o.Grace = 20 * time.Second
	}
	if o.TokenWarning <= 0 {
		o.TokenWarning = 30 * time.Second
	}
	if o.Quality.Thresholds == (quality.Thresholds{}) {
		o.Quality.Thresholds = quality.DefaultThresholds()
	}
	if o.Quality.Window <= 0 {
		o.Quality.Window = 20 * time.Second
	}
	s := &Server{
		opts: o, log: o.Logger, sessions: map[string]*session{}, stop: make(chan struct{}),
		// guard has checked the Origin (same origin or allowed) already.
		upgrader: websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 4096,
			CheckOrigin: func(*http.Request) bool { return true }},
	}
	s.guards = newGuards(o.Limits)
	s.wg.Add(1)
	go s.qualityLoop()
	return s
}

// Handler routes /ws, /api/token, /api/info and /healthz, behind Guard; the
// rest of /api/ is package api's.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", s.serveWS)
	mux.HandleFunc("POST /api/token", s.serveToken)
	mux.HandleFunc("GET /api/info", s.serveInfo)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	return s.Guard(mux)
}

// Close ends every session and waits for their goroutines.
func (s *Server) Close() {
	s.mu.Lock()
	if !s.closed {
		close(s.stop)
	}
	s.closed = true
	all := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		all = append(all, ss)
	}
	s.mu.Unlock()
	for _, ss := range all {
		ss.end("server-shutdown")
	}
	s.wg.Wait()
}

// Sessions reports how many participants are connected or within their grace window.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// WriteHTTPError answers an HTTP request with the error envelope every route
// shares, {"code": ..., "message": ...}, so clients react to the stable code
// (errors.go) while people read the message.
func WriteHTTPError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"code": code, "message": msg})
}

type tokenRequest struct {
	Room string `json:"room"`
	UID  string `json:"uid"`
	Role string `json:"role"`
	Tag  string `json:"tag"`
	TTL  int    `json:"ttl"`
	// Can lists the grants beside the role, e.g. ["claim_tools"] for an agent.
	Can []string `json:"can"`
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	if !s.RequireOperator(w, r) {
		return
	}
	var req tokenRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
	if err := dec.Decode(&req); err != nil {
		WriteHTTPError(w, http.StatusBadRequest, CodeBadRequest, "body must be JSON {room, uid, role, tag, ttl, can}: "+err.Error())
		return
	}
	if req.Role == "" {
		req.Role = string(RoleHost)
	}
	role, err := ParseRole(req.Role)
	if err != nil {
		WriteHTTPError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	can, err := ParseGrants(req.Can)
	if err != nil {
		WriteHTTPError(w, http.StatusBadRequest, CodeBadRequest, err.(*Error).Message)
		return
	}
	tok, exp, err := s.opts.Tokens.Issue(req.Room, req.UID, role, req.Tag, time.Duration(req.TTL)*time.Second, can...)
	if err != nil {
		var pe *Error
		if errors.As(err, &pe) {
			WriteHTTPError(w, http.StatusBadRequest, pe.Code, pe.Message)
			return
		}
		WriteHTTPError(w, http.StatusInternalServerError, CodeInternal, "cannot issue token")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"token": tok, "expiresAt": exp.UnixMilli()})
}

func (s *Server) serveInfo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"devMode": s.opts.Dev && isLoopback(r), "version": Version})
}

func (s *Server) iceServersFor(uid string) []ICEServer {
	out := append([]ICEServer(nil), s.opts.ICEServers...)
	if s.opts.TURN != nil {
		user, pass := s.opts.TURN.Credentials(uid, 12*time.Hour)
		out = append(out, ICEServer{URLs: s.opts.TURN.URLs(), Username: user, Credential: pass})
	}
	return out
}

// addSession registers a joining session, unless the server is closing or
// holds Limits.MaxSessions already (connected or within their grace window).
func (s *Server) addSession(ss *session) *Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Errorf(CodeInternal, "server is shutting down")
	}
	if len(s.sessions) >= s.guards.limits.MaxSessions {
		return Errorf(CodeServerFull, "the server holds %d sessions, as many as it is configured for", s.guards.limits.MaxSessions)
	}
	s.sessions[ss.id] = ss
	return nil
}

func (s *Server) removeSession(ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[ss.id] == ss {
		delete(s.sessions, ss.id)
	}
}

func (s *Server) session(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[id]
}
