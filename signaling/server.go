// Package signaling is Stoa's control plane: the websocket protocol of
// docs/signaling.md, the token API and the sessions that tie a websocket to
// an sfu.Participant.
package signaling

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/stoa-video/stoa/face"
	"github.com/stoa-video/stoa/ocr"
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
	// Faces and Gallery serve the face API; nil (with FacesErr saying why)
	// when the weights are not installed.
	Faces    *face.Models
	Gallery  *face.Gallery
	FacesErr error
	// OCR serves the OCR API; nil (with OCRErr saying why) when the models
	// are not installed.
	OCR    *ocr.Engine
	OCRErr error
	// TokenWarning is how long before expiry token-will-expire is sent.
	TokenWarning time.Duration
	// Limits bounds heavy jobs, request rates and failed logins.
	Limits Limits
	Logger *slog.Logger
}

// Server serves the websocket protocol and the HTTP API.
type Server struct {
	opts     Options
	log      *slog.Logger
	upgrader websocket.Upgrader
	guards   *guards

	mu       sync.Mutex
	sessions map[string]*session
	closed   bool
	wg       sync.WaitGroup
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
	s := &Server{
		opts: o, log: o.Logger, sessions: map[string]*session{},
		// guard has checked the Origin (same origin or allowed) already.
		upgrader: websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 4096,
			CheckOrigin: func(*http.Request) bool { return true }},
	}
	s.guards = newGuards(o.Limits, s.releaseMemory)
	return s
}

// Handler routes /ws, /api/token, /api/info and /healthz.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", s.serveWS)
	mux.HandleFunc("POST /api/token", s.serveToken)
	mux.HandleFunc("GET /api/info", s.serveInfo)
	mux.HandleFunc("GET /api/rooms/{room}/participants/{uid}/snapshot", s.serveSnapshot)
	mux.HandleFunc("POST /api/rooms/{room}/participants/{uid}/faces/{action}", s.serveFace)
	mux.HandleFunc("POST /api/faces/{action}", s.serveFace)
	mux.HandleFunc("GET /api/faces", s.servePeople)
	mux.HandleFunc("GET /api/faces/{id}", s.servePeople)
	mux.HandleFunc("DELETE /api/faces/{id}", s.servePeople)
	mux.HandleFunc("POST /api/rooms/{room}/participants/{uid}/ocr", s.serveOCR)
	mux.HandleFunc("POST /api/ocr", s.serveOCR)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	return s.guard(mux)
}

// Close ends every session and waits for their goroutines.
func (s *Server) Close() {
	s.mu.Lock()
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

func writeHTTPError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"code": code, "message": msg})
}

func isLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// presentedKey is the operator key a request carries, in X-API-Key or as a
// bearer token.
func presentedKey(r *http.Request) string {
	key := r.Header.Get("X-API-Key")
	if auth := r.Header.Get("Authorization"); key == "" && strings.HasPrefix(auth, "Bearer ") {
		key = strings.TrimPrefix(auth, "Bearer ")
	}
	return key
}

// operatorKey reports whether the request carries one of the operator keys.
func (s *Server) operatorKey(r *http.Request) bool {
	key := presentedKey(r)
	if key == "" {
		return false
	}
	for _, k := range s.opts.APIKeys {
		if subtle.ConstantTimeCompare([]byte(k), []byte(key)) == 1 {
			return true
		}
	}
	return false
}

// authorized reports whether the request may act as the operator: it
// carries an operator key, or it carries none and dev mode trusts loopback
// callers (guard has checked their Host and Origin).
func (s *Server) authorized(r *http.Request) bool {
	if presentedKey(r) != "" {
		return s.operatorKey(r)
	}
	return s.opts.Dev && isLoopback(r)
}

// requireOperator answers 401 (and counts a failed login) unless authorized.
func (s *Server) requireOperator(w http.ResponseWriter, r *http.Request) bool {
	if s.authorized(r) {
		return true
	}
	why := "no credentials"
	if presentedKey(r) != "" {
		why = "unknown key"
	}
	s.authFailed(r, why)
	writeHTTPError(w, http.StatusUnauthorized, CodeUnauthorized, "a valid operator API key is required (Authorization: Bearer KEY)")
	return false
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
	if !s.requireOperator(w, r) {
		return
	}
	var req tokenRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
	if err := dec.Decode(&req); err != nil {
		writeHTTPError(w, http.StatusBadRequest, CodeBadRequest, "body must be JSON {room, uid, role, tag, ttl, can}: "+err.Error())
		return
	}
	if req.Role == "" {
		req.Role = string(RoleHost)
	}
	role, err := ParseRole(req.Role)
	if err != nil {
		writeHTTPError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	can, err := ParseGrants(req.Can)
	if err != nil {
		writeHTTPError(w, http.StatusBadRequest, CodeBadRequest, err.(*Error).Message)
		return
	}
	tok, exp, err := s.opts.Tokens.Issue(req.Room, req.UID, role, req.Tag, time.Duration(req.TTL)*time.Second, can...)
	if err != nil {
		var pe *Error
		if errors.As(err, &pe) {
			writeHTTPError(w, http.StatusBadRequest, pe.Code, pe.Message)
			return
		}
		writeHTTPError(w, http.StatusInternalServerError, CodeInternal, "cannot issue token")
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
