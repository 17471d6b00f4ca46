package signaling

// Who may call over HTTP: operator keys, participant tokens as bearer
// tokens, dev mode's trust in loopback callers, the failed-login limit, and
// the guard in front of every route (the API's too).

import (
	"crypto/subtle"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/stoa-video/stoa/limit"
)

// Limits bounds what clients may make the signaling server do: how many
// sessions it holds, how many failed logins an address gets, and which other
// web origins may talk to it. A zero field takes its default; a negative
// rate turns that limit off. (The API's job and claim limits are api.Limits.)
type Limits struct {
	// AuthFailRate and AuthFailBurst bound failed logins (wrong key, forged
	// or expired token) per client address: past the burst, that address's
	// credentialed requests are answered 429 until the bucket refills; 0
	// means 1/s with a burst of 20.
	AuthFailRate  float64
	AuthFailBurst int
	// MaxSessions bounds the sessions (connected or within their grace
	// window) the server holds; 0 means 20,000.
	MaxSessions int
	// AllowedOrigins are the web origins (scheme://host[:port]) besides the
	// server's own that may open the websocket and, in dev mode, make
	// state-changing requests.
	AllowedOrigins []string
}

func (l Limits) withDefaults() Limits {
	if l.MaxSessions <= 0 {
		l.MaxSessions = 20_000
	}
	if l.AuthFailRate == 0 {
		l.AuthFailRate = 1
	}
	if l.AuthFailBurst <= 0 {
		l.AuthFailBurst = 20
	}
	return l
}

// guards are the Server's admission controls, built from Limits.
type guards struct {
	limits   Limits
	authFail *limit.Rate
	origins  map[string]bool
	warn     limit.LogEvery
}

func newGuards(l Limits) *guards {
	l = l.withDefaults()
	g := &guards{
		limits:   l,
		authFail: limit.NewRate(l.AuthFailRate, l.AuthFailBurst),
		origins:  map[string]bool{},
	}
	for _, o := range l.AllowedOrigins {
		g.origins[strings.ToLower(strings.TrimRight(o, "/"))] = true
	}
	return g
}

// clientIP is the address the request came from. Stoa does not trust
// X-Forwarded-For: behind a proxy, every client counts as the proxy.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// hasCredentials reports whether a request presents a key or token, so
// that the failed-login limit applies to it.
func hasCredentials(r *http.Request) bool {
	return r.Header.Get("Authorization") != "" || r.Header.Get("X-API-Key") != "" || r.URL.Path == "/ws"
}

// authFailed counts a failed login from r's address and logs it at warn,
// once per interval; the credential itself is never logged.
func (s *Server) authFailed(r *http.Request, why string) {
	ip := clientIP(r)
	s.guards.authFail.Allow(ip)
	s.guards.warn.Warn(s.log, "failed authentication", "ip", ip, "path", r.URL.Path, "why", why)
}

// isLoopback reports whether the request came from this machine.
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
// callers (Guard has checked their Host and Origin).
func (s *Server) authorized(r *http.Request) bool {
	if presentedKey(r) != "" {
		return s.operatorKey(r)
	}
	return s.opts.Dev && isLoopback(r)
}

// RequireOperator admits a request that may act as the operator (the token
// API, the face gallery); any other it answers 401 and counts as a failed
// login.
func (s *Server) RequireOperator(w http.ResponseWriter, r *http.Request) bool {
	if s.authorized(r) {
		return true
	}
	why := "no credentials"
	if presentedKey(r) != "" {
		why = "unknown key"
	}
	s.Unauthorized(w, r, why, "a valid operator API key is required (Authorization: Bearer KEY)")
	return false
}

// Caller is who an HTTP request is by the credentials it carries. The
// signaling server, which owns keys and tokens, verifies them; the API
// decides what each caller may do.
type Caller struct {
	// Operator is set when the request carries one of the operator keys.
	Operator bool
	// Claims are those of the participant token the request carries as a
	// bearer JWT, when it verifies; nil otherwise.
	Claims *Claims
	// Dev is set when dev mode trusts the request as the operator's: it
	// carries no credentials and comes from a loopback address.
	Dev bool
	// IP is the address the request came from, the key of per-address
	// limits. X-Forwarded-For is not trusted: behind a proxy, every client
	// counts as the proxy.
	IP string
	// Refused says, for the failed-login log, why the request is not the
	// operator's: no credentials, an unknown key, or why its token failed.
	Refused string
}

// Caller verifies the credentials r carries and says who it is.
func (s *Server) Caller(r *http.Request) Caller {
	claims, err := s.bearerClaims(r)
	c := Caller{
		Operator: s.operatorKey(r),
		Claims:   claims,
		Dev:      s.opts.Dev && isLoopback(r) && !hasCredentials(r),
		IP:       clientIP(r),
		Refused:  "no credentials",
	}
	if err != nil {
		c.Refused = err.Error()
	} else if hasCredentials(r) {
		c.Refused = "unknown key"
	}
	return c
}

// bearerClaims verifies the request's bearer token, if it has one that
// looks like a JWT (an operator key in the same header is not one).
func (s *Server) bearerClaims(r *http.Request) (*Claims, error) {
	auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.Count(auth, ".") != 2 {
		return nil, nil
	}
	return s.opts.Tokens.Verify(auth)
}

// Unauthorized answers 401 unauthorized with msg and counts a failed login
// from r's address, logged with why (never with the credential).
func (s *Server) Unauthorized(w http.ResponseWriter, r *http.Request, why, msg string) {
	s.authFailed(r, why)
	WriteHTTPError(w, http.StatusUnauthorized, CodeUnauthorized, msg)
}

// Guard wraps every route, the API's too: in dev mode it checks Host and
// Origin (DNS rebinding and cross-site requests must not reach the powers
// loopback callers get), everywhere it checks the websocket's Origin, and it
// turns away addresses that failed to log in too often.
func (s *Server) Guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opts.Dev && !loopbackHost(r.Host) {
			WriteHTTPError(w, http.StatusForbidden, CodeBadHost,
				"dev mode answers only requests addressed to a loopback name or address, not "+quote(r.Host))
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && (isWebsocket(r) || (s.opts.Dev && !safeMethod(r.Method))) &&
			!s.originAllowed(origin, r.Host) {
			WriteHTTPError(w, http.StatusForbidden, CodeBadOrigin,
				"origin "+quote(origin)+" is not this server's and not in allowed_origins")
			return
		}
		if hasCredentials(r) {
			if ok, retry := s.guards.authFail.Check(clientIP(r)); !ok {
				tooMany(w, retry, "too many failed logins from this address")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func isWebsocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// originAllowed: the page's origin is the server itself (same host and
// port as the request was addressed to) or one the operator allowed.
func (s *Server) originAllowed(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, host) {
		return true
	}
	return s.guards.origins[strings.ToLower(strings.TrimRight(origin, "/"))]
}

// loopbackHost reports whether a Host header names this machine: localhost
// (or a name under .localhost) or a loopback address, with any port.
func loopbackHost(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func tooMany(w http.ResponseWriter, retry time.Duration, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(max(retry, time.Second).Seconds()))))
	WriteHTTPError(w, http.StatusTooManyRequests, CodeRateLimited, msg)
}

// quote puts a client's string into an error message, cut to 64 bytes.
func quote(s string) string { return `"` + truncate(s, 64) + `"` }
