package signaling

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/stoa-video/stoa/limit"
)

// Limits bounds what clients may make the server do: how many heavy jobs
// (snapshots, face, OCR) run at once, how often one token or one address may
// ask for them, and how many failed logins an address gets. A zero field
// takes its default; a negative rate turns that limit off.
type Limits struct {
	// Jobs is how many heavy jobs run at once; 0 means one per core.
	Jobs int
	// Queue is how many more wait for a slot; 0 means 2 × Jobs.
	Queue int
	// QueueWait is how long a queued job waits before it is answered 503; 0 means 30 s.
	QueueWait time.Duration
	// BigImagePixels: uploads above this many pixels are decoded and
	// analysed one at a time, so a burst of 40 MP photos holds one in memory,
	// not one per core; 0 means 8 MP.
	BigImagePixels int
	// ClaimRate and ClaimBurst bound claim requests per token (or operator
	// key); 0 means 2/s with a burst of 10.
	ClaimRate  float64
	ClaimBurst int
	// IPRate and IPBurst bound claim requests per client address; 0 means
	// 5/s with a burst of 30.
	IPRate  float64
	IPBurst int
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
	if l.Jobs <= 0 {
		l.Jobs = runtime.NumCPU()
	}
	if l.Queue == 0 {
		l.Queue = 2 * l.Jobs
	}
	if l.QueueWait <= 0 {
		l.QueueWait = 30 * time.Second
	}
	if l.MaxSessions <= 0 {
		l.MaxSessions = 20_000
	}
	if l.BigImagePixels <= 0 {
		l.BigImagePixels = 8_000_000
	}
	rate := func(r *float64, b *int, dr float64, db int) {
		if *r == 0 {
			*r = dr
		}
		if *b <= 0 {
			*b = db
		}
	}
	rate(&l.ClaimRate, &l.ClaimBurst, 2, 10)
	rate(&l.IPRate, &l.IPBurst, 5, 30)
	rate(&l.AuthFailRate, &l.AuthFailBurst, 1, 20)
	return l
}

// guards are the Server's admission controls, built from Limits.
type guards struct {
	limits   Limits
	jobs     *limit.Gate
	big      *limit.Gate
	byToken  *limit.Rate
	byIP     *limit.Rate
	authFail *limit.Rate
	origins  map[string]bool
	warn     limit.LogEvery
}

func newGuards(l Limits, onIdle func()) *guards {
	l = l.withDefaults()
	g := &guards{
		limits:   l,
		jobs:     limit.NewGate(l.Jobs, l.Queue, l.QueueWait, onIdle),
		big:      limit.NewGate(1, l.Jobs+l.Queue, l.QueueWait, nil),
		byToken:  limit.NewRate(l.ClaimRate, l.ClaimBurst),
		byIP:     limit.NewRate(l.IPRate, l.IPBurst),
		authFail: limit.NewRate(l.AuthFailRate, l.AuthFailBurst),
		origins:  map[string]bool{},
	}
	for _, o := range l.AllowedOrigins {
		g.origins[strings.ToLower(strings.TrimRight(o, "/"))] = true
	}
	return g
}

// releaseMemory hands a burst's memory back to the OS once the last heavy
// job has ended: Go's heap, and what the OCR runtime freed to malloc.
func (s *Server) releaseMemory() {
	debug.FreeOSMemory()
	if s.opts.OCR != nil {
		s.opts.OCR.ReleaseMemory()
	}
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

// guard wraps every route: in dev mode it checks Host and Origin (DNS
// rebinding and cross-site requests must not reach the powers loopback
// callers get), everywhere it checks the websocket's Origin, and it turns
// away addresses that failed to log in too often.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opts.Dev && !loopbackHost(r.Host) {
			writeHTTPError(w, http.StatusForbidden, CodeBadHost,
				"dev mode answers only requests addressed to a loopback name or address, not "+quote(r.Host))
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && (isWebsocket(r) || (s.opts.Dev && !safeMethod(r.Method))) &&
			!s.originAllowed(origin, r.Host) {
			writeHTTPError(w, http.StatusForbidden, CodeBadOrigin,
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
	writeHTTPError(w, http.StatusTooManyRequests, CodeRateLimited, msg)
}

// claimAccess admits a claim request (snapshot, face, OCR): on the live
// routes an operator key or a token for that very room carrying
// GrantClaimTools, on the upload routes an operator key; then, for tokens,
// the per-token and per-address rates. It answers the error itself and returns who is
// asking, for the logs.
func (s *Server) claimAccess(w http.ResponseWriter, r *http.Request) (who string, ok bool) {
	room := r.PathValue("room")
	switch c, verr := s.bearerClaims(r); {
	case s.operatorKey(r):
		who = "operator"
	case room != "" && c != nil && c.Room != room:
		writeHTTPError(w, http.StatusForbidden, CodeForbidden, "the token is for another room")
		return "", false
	case room != "" && c != nil && !c.Has(GrantClaimTools):
		writeHTTPError(w, http.StatusForbidden, CodeForbidden,
			"the token lacks the claim_tools grant: only an agent's token may take snapshots or run face and OCR checks")
		return "", false
	case room != "" && c != nil:
		who = "token:" + c.Room + "/" + c.UID
	case s.opts.Dev && isLoopback(r) && !hasCredentials(r):
		who = "dev"
	default:
		why := "no credentials"
		if verr != nil {
			why = verr.Error()
		} else if hasCredentials(r) {
			why = "unknown key"
		}
		s.authFailed(r, why)
		msg := "an operator API key is required"
		if room != "" {
			msg = "an operator API key, or an agent token of this room with the claim_tools grant, is required"
		}
		writeHTTPError(w, http.StatusUnauthorized, CodeUnauthorized, msg)
		return "", false
	}
	if who == "operator" || who == "dev" {
		return who, true // the operator's own calls are bounded by the job gate only
	}
	if ok, retry := s.guards.byIP.Allow(clientIP(r)); !ok {
		tooMany(w, retry, "too many claim requests from this address")
		return "", false
	}
	if ok, retry := s.guards.byToken.Allow(who); !ok {
		tooMany(w, retry, "too many claim requests for this token")
		return "", false
	}
	return who, true
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

// startJob takes a heavy-job slot, or answers 503 with Retry-After.
func (s *Server) startJob(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	release, err := s.guards.jobs.Acquire(r.Context())
	if err != nil {
		busy(w, err)
		return nil, false
	}
	return release, true
}

func busy(w http.ResponseWriter, err error) {
	w.Header().Set("Retry-After", "5")
	msg := "the server is busy with other image jobs: try again shortly"
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		msg = "the request ended while waiting for an image job slot"
	}
	writeHTTPError(w, http.StatusServiceUnavailable, CodeBusy, msg)
}

// bigImageSlot is DecodeImageWith's hook for uploads: an image above
// BigImagePixels (any image when always is set: OCR) waits for the one
// heavy slot before it is decoded. The slot is released by *held, which the
// handler defers.
func (s *Server) bigImageSlot(ctx context.Context, held *func(), always bool) func(w, h int) error {
	return func(w, h int) error {
		if !always && int64(w)*int64(h) <= int64(s.guards.limits.BigImagePixels) {
			return nil
		}
		return s.heavySlot(ctx, held)
	}
}

// heavySlot takes the one slot that the memory-heavy work shares, decoding
// and analysing a big image or an OCR read (≈ 250 MB of tensors each), so a
// burst holds one of them in memory at a time; the jobs gate still lets
// light jobs (a snapshot's face check) run beside it. It sets *held to the
// release.
func (s *Server) heavySlot(ctx context.Context, held *func()) error {
	release, err := s.guards.big.Acquire(ctx)
	if err != nil {
		return err // wraps limit.ErrBusy: writeImageError answers 503
	}
	// A heavy job leaves hundreds of MB of garbage (Go's and malloc's):
	// hand it back before the next heavy job starts, or the two add up.
	*held = func() { s.releaseMemory(); release() }
	return nil
}
