// Package live takes a live room's hosts and viewers over the streaming
// protocols, each an up or down track on the sfu's seam. This file is the
// sessions and WHIP (RFC 9725): a host that publishes with one HTTP request
// instead of the websocket (OBS, GStreamer's whipclientsink, hardware
// encoders); whep.go is WHEP, its viewers.
package live

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/webrtc/v4"

	"github.com/stoa-video/stoa/sfu"
)

// Errors the HTTP layer maps to the RFC's status codes.
var (
	// ErrNoSession: no WHIP session by that id in that room (404).
	ErrNoSession = errors.New("no such session")
	// ErrTooMany: the server holds its limit of WHIP sessions (503).
	ErrTooMany = errors.New("too many WHIP and WHEP sessions")
	// ErrICERestart: the fragment asks for an ICE restart, which a WHIP
	// session here does not do (422); the client publishes anew instead.
	ErrICERestart = errors.New("ICE restarts are not supported: end the session and publish again")
	// ErrBadFragment: the trickle fragment is not one (400).
	ErrBadFragment = errors.New("malformed trickle-ice-sdpfrag")
)

// DefaultMaxSessions bounds a server's WHIP and WHEP sessions by default.
const DefaultMaxSessions = 1000

// Service runs the server's WHIP and WHEP sessions. A WHIP session is a
// host of a live room whose publication the client's offer makes; a WHEP
// session an audience member receiving one host. Each lives until DELETE,
// its media ending, or the same uid joining elsewhere.
type Service struct {
	sfu *sfu.SFU
	log *slog.Logger
	max int

	mu       sync.Mutex
	sessions map[string]*session
}

type session struct {
	id, room, uid string
	// part is set once the join returns (the listener may hear events
	// before that).
	part atomic.Pointer[sfu.Participant]
	// ufrag is the client's ICE username fragment from its offer: a
	// fragment with another one asks for an ICE restart.
	ufrag string
	// pc names the session's connection in its participant; watch is the
	// host a WHEP session receives ("" for WHIP).
	pc, watch string
}

// New returns the service on media with at most maxSessions sessions (0
// means DefaultMaxSessions).
func New(media *sfu.SFU, maxSessions int, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	if maxSessions <= 0 {
		maxSessions = DefaultMaxSessions
	}
	return &Service{sfu: media, log: log, max: maxSessions, sessions: map[string]*session{}}
}

// Publish joins uid (tagged tag) to room, in live mode if it makes the room,
// as a host publishing what offer sends, and returns the session's id and
// the SDP answer (with the server's candidates: it gathers before
// answering).
func (w *Service) Publish(room, uid, tag, offer string) (id, answer string, err error) {
	if err := w.checkCapacity(); err != nil {
		return "", "", fmt.Errorf("whip %s/%s: %w", room, uid, err)
	}
	s := &session{id: newSessionID(), room: room, uid: uid, ufrag: sdpValue(offer, "a=ice-ufrag:"), pc: sfu.PubPC}
	part, err := w.sfu.Join(room, sfu.JoinOptions{UID: uid, Tag: tag, Mode: sfu.ModeLive, Role: "host", CanPublish: true,
		Listener: listener{w: w, s: s}})
	if err != nil {
		return "", "", fmt.Errorf("whip %s/%s: %w", room, uid, err)
	}
	s.part.Store(part)
	answer, err = part.Publish(offer, false, false)
	if err != nil {
		part.Close("quit")
		return "", "", fmt.Errorf("whip %s/%s: %w", room, uid, err)
	}
	w.add(s, "whip")
	return s.id, answer, nil
}

// add registers s, whose participant is joined and connected.
func (w *Service) add(s *session, kind string) {
	w.mu.Lock()
	w.sessions[s.id] = s
	w.mu.Unlock()
	w.log.Info(kind+" session started", "room", s.room, "uid", s.uid, "host", s.watch, "session", s.id)
}

// checkCapacity says whether another session fits.
func (w *Service) checkCapacity() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.sessions) >= w.max {
		return fmt.Errorf("%w (%d)", ErrTooMany, w.max)
	}
	return nil
}

// session returns the session id of room.
func (w *Service) session(room, id string) (*session, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.sessions[id]
	if s == nil || s.room != room {
		return nil, fmt.Errorf("%s/%s: %w", room, id, ErrNoSession)
	}
	return s, nil
}

// Owner returns the uid of session id of room, so the HTTP layer can check
// that a PATCH or DELETE comes from the client that made it.
func (w *Service) Owner(room, id string) (string, error) {
	s, err := w.session(room, id)
	if err != nil {
		return "", err
	}
	return s.uid, nil
}

// Trickle adds the candidates of a trickle-ice-sdpfrag (RFC 8840) to the
// session's connection.
func (w *Service) Trickle(room, id, frag string) error {
	s, err := w.session(room, id)
	if err != nil {
		return err
	}
	f, err := ParseSDPFrag(frag)
	if err != nil {
		return err
	}
	if f.Ufrag != "" && s.ufrag != "" && f.Ufrag != s.ufrag {
		return ErrICERestart
	}
	for _, c := range f.Candidates {
		if err := s.part.Load().AddCandidate(s.pc, c); err != nil {
			return fmt.Errorf("%s/%s: %w: %w", room, id, ErrBadFragment, err)
		}
	}
	return nil
}

// End closes session id of room: its participant leaves (a host's viewers
// are told).
func (w *Service) End(room, id string) error {
	s, err := w.session(room, id)
	if err != nil {
		return err
	}
	w.forget(s)
	s.part.Load().Close("quit")
	w.log.Info("live session ended", "room", room, "uid", s.uid, "session", id)
	return nil
}

// Close ends every session (the server shuts down).
func (w *Service) Close() {
	w.mu.Lock()
	all := make([]*session, 0, len(w.sessions))
	for _, s := range w.sessions {
		all = append(all, s)
	}
	w.sessions = map[string]*session{}
	w.mu.Unlock()
	for _, s := range all {
		s.part.Load().Close("server-shutdown")
	}
}

// Sessions is how many WHIP and WHEP sessions run.
func (w *Service) Sessions() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.sessions)
}

func (w *Service) forget(s *session) {
	w.mu.Lock()
	if w.sessions[s.id] == s {
		delete(w.sessions, s.id)
	}
	w.mu.Unlock()
}

// listener takes a session participant's events: nobody reads them but
// the end of the session, when the same uid joined elsewhere (it was
// replaced), a WHIP host's publication ended (its connection failed), or
// the host a WHEP viewer receives stopped or left.
type listener struct {
	w *Service
	s *session
}

func (l listener) Notify(ev sfu.Event) {
	mine, watched := ev.UID == l.s.uid, l.s.watch != "" && ev.UID == l.s.watch
	switch {
	case ev.Type == sfu.EventPeerLeave && (mine || watched),
		ev.Type == sfu.EventRoleChanged && mine && ev.Role == "audience" && l.s.watch == "",
		ev.Type == sfu.EventStreamRemoved && watched:
		l.w.forget(l.s)
		if p := l.s.part.Load(); p != nil {
			go p.Close("quit") // not on the notifier's goroutine
		}
	}
}

// SDPFrag is what a trickle-ice-sdpfrag carries.
type SDPFrag struct {
	Ufrag, Pwd string
	Candidates []webrtc.ICECandidateInit
	// End is set by a=end-of-candidates.
	End bool
}

// maxFragLines bounds the lines of a fragment a client may send.
const maxFragLines = 256

// ParseSDPFrag reads a trickle-ice-sdpfrag body: the ICE credentials, and
// each m= section's candidates tagged with its a=mid.
func ParseSDPFrag(body string) (SDPFrag, error) {
	var f SDPFrag
	var mid *string
	index := -1
	lines := strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n")
	if len(lines) > maxFragLines {
		return f, fmt.Errorf("%w: %d lines, at most %d", ErrBadFragment, len(lines), maxFragLines)
	}
	for _, line := range lines {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			f.Ufrag = strings.TrimPrefix(line, "a=ice-ufrag:")
		case strings.HasPrefix(line, "a=ice-pwd:"):
			f.Pwd = strings.TrimPrefix(line, "a=ice-pwd:")
		case strings.HasPrefix(line, "m="):
			index++
			mid = nil
		case strings.HasPrefix(line, "a=mid:"):
			m := strings.TrimPrefix(line, "a=mid:")
			mid = &m
		case strings.HasPrefix(line, "a=candidate:"):
			c := webrtc.ICECandidateInit{Candidate: strings.TrimPrefix(line, "a=")}
			if mid != nil {
				c.SDPMid = mid
			} else if index >= 0 {
				i := uint16(index)
				c.SDPMLineIndex = &i
			}
			if len(strings.Fields(c.Candidate)) < 8 {
				return f, fmt.Errorf("%w: candidate %q", ErrBadFragment, truncate(line, 80))
			}
			f.Candidates = append(f.Candidates, c)
		case line == "a=end-of-candidates":
			f.End = true
		case strings.HasPrefix(line, "a=") || strings.HasPrefix(line, "c=") || strings.HasPrefix(line, "b="):
			// other attributes (a=ice-options, a=group) carry nothing for us
		default:
			return f, fmt.Errorf("%w: line %q", ErrBadFragment, truncate(line, 80))
		}
	}
	return f, nil
}

// sdpValue is the value of the first line of sdp starting with prefix.
func sdpValue(sdp, prefix string) string {
	for _, line := range strings.Split(sdp, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
			return v
		}
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func newSessionID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
