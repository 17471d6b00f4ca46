// Package api is Stoa's HTTP API for the claim work an agent does on a call:
// a snapshot of a participant's video, face detection, verification and the
// gallery of enrolled people, and OCR, on a live snapshot or an uploaded
// image; recordings and room statistics; and the call center's queue,
// consoles, records, client logs and webhook log. Its handlers are thin: the
// work is sfu's, face's, ocr's, recorder's and calls'; who a caller is, is
// the signaling server's to say (the Gate); what this package adds is what
// each caller may ask and how much work may run at once.
package api

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"runtime"
	"time"

	"github.com/stoa-video/stoa/face"
	"github.com/stoa-video/stoa/limit"
	"github.com/stoa-video/stoa/live"
	"github.com/stoa-video/stoa/ocr"
	"github.com/stoa-video/stoa/recorder"
	"github.com/stoa-video/stoa/sfu"
	"github.com/stoa-video/stoa/signaling"
)

// Gate is what the API asks of the signaling server, which owns the operator
// keys and the tokens: the guard every route passes first, who a request is,
// and the answer to one that may not call, which also counts as a failed
// login. *signaling.Server is a Gate.
type Gate interface {
	// Guard wraps the API's routes in the checks every route passes first:
	// dev mode's Host and Origin, and the failed-login limit.
	Guard(next http.Handler) http.Handler
	// Caller verifies the credentials r carries and says who it is.
	Caller(r *http.Request) signaling.Caller
	// RequireOperator admits r if it may act as the operator, and answers
	// 401 otherwise.
	RequireOperator(w http.ResponseWriter, r *http.Request) bool
	// Unauthorized answers 401 with msg and counts a failed login for why.
	Unauthorized(w http.ResponseWriter, r *http.Request, why, msg string)
}

var _ Gate = (*signaling.Server)(nil)

// Options configures a Server.
type Options struct {
	// Gate is the signaling server; required.
	Gate Gate
	// SFU holds the rooms whose participants are snapshotted.
	SFU *sfu.SFU
	// Faces and Gallery serve the face API; nil (with FacesErr saying why)
	// when the weights are not installed.
	Faces    *face.Models
	Gallery  *face.Gallery
	FacesErr error
	// OCR serves the OCR API; nil (with OCRErr saying why) when the models
	// are not installed.
	OCR    *ocr.Engine
	OCRErr error
	// Recordings runs the server's recordings; nil when it does not record.
	Recordings *recorder.Service
	// Stats serves the rooms' network quality and counters; nil serves none.
	Stats RoomStats
	// Calls serves the call center's routes; a zero CallCenter answers them
	// 503 calls_off.
	Calls CallCenter
	// Live serves /whip/ and /whep/ (hosts publishing over WHIP, viewers
	// watching over WHEP); nil answers 404.
	Live *live.Service
	// Limits bounds heavy jobs and claim request rates.
	Limits Limits
	Logger *slog.Logger
}

// Limits bounds the work callers may make the API do: how many heavy jobs
// (snapshots, face, OCR) run at once, and how often one token or one address
// may ask for them. A zero field takes its default; a negative rate turns
// that limit off.
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
	return l
}

// Server serves the HTTP API; mount Handler on /api/ beside the signaling
// server's own routes.
type Server struct {
	opts    Options
	log     *slog.Logger
	limits  Limits
	jobs    *limit.Gate // every heavy job
	big     *limit.Gate // the one memory-heavy job at a time (see heavySlot)
	byToken *limit.Rate
	byIP    *limit.Rate
	logRate *limit.Rate // client log batches per token
}

// New returns a Server for o.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	l := o.Limits.withDefaults()
	s := &Server{
		opts:    o,
		log:     o.Logger,
		limits:  l,
		big:     limit.NewGate(1, l.Jobs+l.Queue, l.QueueWait, nil),
		byToken: limit.NewRate(l.ClaimRate, l.ClaimBurst),
		byIP:    limit.NewRate(l.IPRate, l.IPBurst),
		// A logger posts at most once a second, and a reconnecting one
		// resends what it kept: 5/s with a burst of 30 leaves it room.
		logRate: limit.NewRate(5, 30),
	}
	s.jobs = limit.NewGate(l.Jobs, l.Queue, l.QueueWait, s.releaseMemory)
	return s
}

// Handler routes the snapshot, face, OCR, recording, stats, call center,
// WHIP and WHEP endpoints behind the Gate's guard.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/rooms/{room}/participants/{uid}/snapshot", s.serveSnapshot)
	mux.HandleFunc("POST /api/rooms/{room}/participants/{uid}/faces/{action}", s.serveFace)
	mux.HandleFunc("POST /api/faces/{action}", s.serveFace)
	mux.HandleFunc("GET /api/faces", s.servePeople)
	mux.HandleFunc("GET /api/faces/{id}", s.servePeople)
	mux.HandleFunc("DELETE /api/faces/{id}", s.servePeople)
	mux.HandleFunc("POST /api/rooms/{room}/participants/{uid}/ocr", s.serveOCR)
	mux.HandleFunc("POST /api/ocr", s.serveOCR)
	mux.HandleFunc("POST /api/rooms/{room}/recordings", s.serveStartRecording)
	mux.HandleFunc("GET /api/recordings", s.serveRecordingList)
	mux.HandleFunc("GET /api/recordings/pubkey", s.serveRecordingKey)
	mux.HandleFunc("GET /api/recordings/{id}", s.serveRecording)
	mux.HandleFunc("DELETE /api/recordings/{id}", s.serveRecording)
	mux.HandleFunc("GET /api/recordings/{id}/files/{file}", s.serveRecordingFile)
	mux.HandleFunc("GET /api/recordings/{id}/files/{file}/verify", s.serveRecordingVerify)
	mux.HandleFunc("GET /api/rooms/{room}/stats", s.serveRoomStats)
	mux.HandleFunc("POST /api/dev/impair", s.serveImpair)
	mux.HandleFunc("POST /api/calls", s.serveCreateCall)
	mux.HandleFunc("GET /api/calls", s.serveCallList)
	mux.HandleFunc("GET /api/calls/{id}", s.serveCall)
	mux.HandleFunc("POST /api/calls/{id}/request", s.serveRequestCall)
	mux.HandleFunc("POST /api/calls/{id}/cancel", s.serveCancelCall)
	mux.HandleFunc("GET /api/calls/{id}/events", s.serveCallEvents)
	mux.HandleFunc("POST /api/calls/{id}/answer", s.serveAnswerCall)
	mux.HandleFunc("POST /api/calls/{id}/reject", s.serveRejectCall)
	mux.HandleFunc("POST /api/calls/{id}/end", s.serveEndCall)
	mux.HandleFunc("POST /api/calls/{id}/audio-only", s.serveAudioOnly)
	mux.HandleFunc("GET /api/agents/events", s.serveAgentEvents)
	mux.HandleFunc("PUT /api/agents/me/presence", s.servePresence)
	mux.HandleFunc("POST /api/logs", s.servePostLogs)
	mux.HandleFunc("GET /api/logs", s.serveGetLogs)
	mux.HandleFunc("GET /api/webhooks/deliveries", s.serveDeliveries)
	mux.HandleFunc("POST /whip/{room}", s.serveWHIPPublish)
	mux.HandleFunc("PATCH /whip/{room}/{id}", s.serveLiveSession)
	mux.HandleFunc("DELETE /whip/{room}/{id}", s.serveLiveSession)
	mux.HandleFunc("POST /whep/{room}", s.serveWHEPWatch)
	mux.HandleFunc("GET /api/rooms/{room}/live", s.serveLiveStatus)
	mux.HandleFunc("PATCH /whep/{room}/{id}", s.serveLiveSession)
	mux.HandleFunc("DELETE /whep/{room}/{id}", s.serveLiveSession)
	return s.opts.Gate.Guard(mux)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// quote puts a client's string into an error message, cut to 64 bytes.
func quote(s string) string { return `"` + truncate(s, 64) + `"` }

// truncate cuts a client's string to n bytes for a message or a log line.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
