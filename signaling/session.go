package signaling

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/stoa-video/stoa/quality"
	"github.com/stoa-video/stoa/sfu"
)

// backlogMax bounds the events kept for a participant whose websocket is
// down; a client that comes back after more than that many events gets the
// current state in `joined` anyway.
const backlogMax = 256

// session ties one participant to its current websocket. It outlives a
// dropped socket for the grace window so the client can resume.
//
// mu is a leaf lock: nothing that takes another lock (the room's, a
// participant's) is called while it is held. The sfu sends joined and events
// through it while holding its own locks (OnJoined runs under the room's), so
// taking a room lock under mu would be the ABBA of issue 15's review.
type session struct {
	srv  *Server
	id   string
	log  *slog.Logger
	part *sfu.Participant // set under mu once join returns; read by the reading goroutine and resume

	mu          sync.Mutex
	claims      *Claims
	conn        *wsConn
	backlog     [][]byte
	grace       *time.Timer
	warnT, expT *time.Timer
	pendingSubs map[string]int64
	resumes     int // counts resumes, so one that lost a race to a later one gives up
	ended       bool

	// q is the network-quality monitor's state (its own lock).
	q sessionQuality
}

func newSessionID() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader already answered with an HTTP error
	}
	c := newWSConn(ws)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		c.writeLoop()
	}()
	defer c.kill()

	data, err := c.read(joinTimeout)
	if err != nil {
		s.rejectFrame(c, err)
		return
	}
	m, err := DecodeClientMessage(data)
	if err == nil && m.Type != TypeJoin {
		err = Errorf(CodeNotJoined, "the first message must be join, not %q", truncate(m.Type, 40))
	}
	if err != nil {
		s.countError(toProtocolError(err).Code)
		sendError(c, m.ID, err)
		c.closeWith(websocket.ClosePolicyViolation, "join first")
		return
	}
	ss, err := s.join(c, m)
	if err != nil {
		var pe *Error
		if errors.As(err, &pe) && (pe.Code == CodeTokenInvalid || pe.Code == CodeTokenExpired) {
			s.authFailed(r, pe.Code)
		}
		s.countError(toProtocolError(err).Code)
		sendError(c, m.ID, err)
		c.closeWith(websocket.ClosePolicyViolation, "join refused")
		return
	}
	for {
		data, err := c.read(readTimeout)
		if err != nil {
			if errors.Is(err, errTooLarge) {
				s.rejectFrame(c, err)
			}
			break
		}
		m, err := DecodeClientMessage(data)
		if err != nil {
			s.countError(toProtocolError(err).Code)
			sendError(c, m.ID, err)
			continue
		}
		if !ss.handle(c, m) {
			break
		}
	}
	ss.detach(c)
}

// rejectFrame answers a frame that could not be read at all.
func (s *Server) rejectFrame(c *wsConn, err error) {
	if errors.Is(err, errTooLarge) {
		sendError(c, 0, Errorf(CodeMessageTooLarge, "a message may be at most %d bytes", MaxMessageSize))
		c.closeWith(websocket.CloseMessageTooBig, "message too large")
	}
}

// countError tells the metrics about an error sent to a client.
func (s *Server) countError(code string) {
	if s.opts.Metrics != nil {
		s.opts.Metrics.CountError(code)
	}
}

func encode(m Message) []byte {
	b, err := json.Marshal(m)
	if err != nil {
		panic("signaling: cannot encode message: " + err.Error()) // only plain data types: cannot happen
	}
	return b
}

func toProtocolError(err error) *Error {
	var pe *Error
	switch {
	case errors.As(err, &pe):
		return pe
	case errors.Is(err, sfu.ErrInvalidSDP):
		return &Error{Code: CodeInvalidSDP, Message: err.Error(), Err: err}
	case errors.Is(err, sfu.ErrNotAllowed):
		return &Error{Code: CodeRoleNotAllowed, Message: err.Error(), Err: err}
	case errors.Is(err, sfu.ErrBadStreamType):
		return &Error{Code: CodeBadRequest, Message: err.Error(), Err: err}
	case errors.Is(err, sfu.ErrStreamNotFound):
		return &Error{Code: CodeStreamNotFound, Message: err.Error(), Err: err}
	case errors.Is(err, sfu.ErrPCNotFound):
		return &Error{Code: CodePCNotFound, Message: err.Error(), Err: err}
	case errors.Is(err, sfu.ErrRoomFull):
		return &Error{Code: CodeRoomFull, Message: err.Error(), Err: err}
	case errors.Is(err, sfu.ErrTooManyRooms):
		return &Error{Code: CodeServerFull, Message: err.Error(), Err: err}
	default:
		return &Error{Code: CodeInternal, Message: err.Error(), Err: err}
	}
}

func errorMessage(id int64, err error) Message {
	pe := toProtocolError(err)
	return Message{Type: TypeError, ID: id, Code: pe.Code, Message: pe.Message}
}

func sendError(c *wsConn, id int64, err error) { c.send(encode(errorMessage(id, err))) }

func (s *Server) join(c *wsConn, m Message) (*session, error) {
	claims, err := s.opts.Tokens.Verify(m.Token)
	if err != nil {
		return nil, err
	}
	if (m.Room != "" && m.Room != claims.Room) || (m.UID != "" && m.UID != claims.UID) {
		return nil, Errorf(CodeTokenRoomMismatch, "the token is for room %q uid %q, not room %q uid %q", claims.Room, claims.UID, m.Room, m.UID)
	}
	if m.Session != "" {
		return s.resume(c, claims, m)
	}
	role := Role(m.Role)
	if role == RoleHost && !claims.Role.Allows(RoleHost) {
		return nil, Errorf(CodeRoleNotAllowed, "the token of %q grants role %s, not host", claims.UID, claims.Role)
	}
	ss := &session{srv: s, id: newSessionID(), claims: claims, conn: c, pendingSubs: map[string]int64{},
		log: s.log.With("room", claims.Room, "uid", claims.UID)}
	ss.q.pings = quality.NewPingWindow(s.opts.Quality.Window, clientPingInterval)
	if err := s.addSession(ss); err != nil {
		return nil, err
	}
	auto := m.AutoSubscribe == nil || *m.AutoSubscribe
	part, err := s.opts.SFU.Join(claims.Room, sfu.JoinOptions{
		UID: claims.UID, Tag: claims.Tag, Mode: sfu.Mode(m.Mode), Role: m.Role,
		CanPublish: claims.Role.Allows(RoleHost), AutoSubscribe: auto, Listener: ss,
		OnJoined: func(snap sfu.JoinSnapshot) { ss.send(ss.joinedMessage(m.ID, snap, false)) },
	})
	if err != nil {
		s.removeSession(ss)
		return nil, err
	}
	ss.mu.Lock()
	ss.part = part
	ss.armExpiry()
	ss.mu.Unlock()
	return ss, nil
}

func (s *Server) resume(c *wsConn, claims *Claims, m Message) (*session, error) {
	notFound := func() error { return Errorf(CodeSessionNotFound, "session is unknown or its resume window has passed") }
	ss := s.session(m.Session)
	if ss == nil {
		return nil, notFound()
	}
	// First, under mu: check the session and take it off its old socket, so
	// that from here on its events wait in the backlog.
	ss.mu.Lock()
	if ss.ended || ss.claims.UID != claims.UID || ss.claims.Room != claims.Room {
		ss.mu.Unlock()
		return nil, notFound()
	}
	part := ss.part
	if part == nil {
		// joined went out from inside the room's join, before join returned:
		// the session has no participant to resume yet.
		ss.mu.Unlock()
		return nil, Errorf(CodeSessionNotFound, "session is still joining: resume once joined is answered")
	}
	if ss.grace != nil {
		ss.grace.Stop()
		ss.grace = nil
	}
	if old := ss.conn; old != nil {
		old.kill()
	}
	ss.conn = nil
	ss.resumes++
	gen := ss.resumes
	ss.mu.Unlock()

	// Then the room as it is now, without mu: the snapshot takes the room's
	// lock, under which the sfu calls OnJoined, which sends through mu.
	snap := part.Room().Snapshot(part)
	snap.Role = part.Info().Role

	// Last, under mu again: unless the session ended or another resume came
	// meanwhile, attach the new socket. joined goes first, then what happened
	// since the snapshot (or while the socket was down), from the backlog.
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.ended || ss.resumes != gen {
		return nil, Errorf(CodeSessionNotFound, "session ended or was resumed from another socket meanwhile")
	}
	ss.conn = c
	ss.claims = claims
	ss.armExpiry()
	c.send(encode(ss.joinedMessage(m.ID, snap, true)))
	for _, b := range ss.backlog {
		c.send(b)
	}
	ss.backlog = nil
	ss.log.Info("session resumed")
	return ss, nil
}

// joinedMessage builds the reply to join; claims must not change meanwhile.
// snap.Role is the participant's role (the caller reads it outside mu).
func (ss *session) joinedMessage(id int64, snap sfu.JoinSnapshot, resumed bool) Message {
	return Message{
		Type: TypeJoined, ID: id, Room: ss.claims.Room, UID: ss.claims.UID, Role: snap.Role, Tag: ss.claims.Tag,
		Mode: string(snap.Mode), Session: ss.id, Resumed: resumed, Participants: snap.Participants,
		Streams: snap.Streams, ICEServers: ss.srv.iceServersFor(ss.claims.UID),
		ExpiresAt: ss.claims.ExpiresAt.UnixMilli(), GraceMs: ss.srv.opts.Grace.Milliseconds(),
	}
}

// armExpiry (re)starts the token-will-expire and token-expired timers; mu held.
func (ss *session) armExpiry() {
	if ss.warnT != nil {
		ss.warnT.Stop()
	}
	if ss.expT != nil {
		ss.expT.Stop()
	}
	if ss.claims.ExpiresAt == nil {
		return
	}
	exp := ss.claims.ExpiresAt.Time
	ss.warnT = time.AfterFunc(time.Until(exp.Add(-ss.srv.opts.TokenWarning)), func() {
		ss.send(Message{Type: TypeTokenWillExpire, ExpiresAt: exp.UnixMilli()})
	})
	ss.expT = time.AfterFunc(time.Until(exp), func() {
		ss.send(Message{Type: TypeTokenExpired})
		ss.end("token-expired")
	})
}

// send queues m for the client, or keeps it while the socket is down.
func (ss *session) send(m Message) { ss.sendBytes(encode(m)) }

func (ss *session) sendBytes(b []byte) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.ended {
		return
	}
	if ss.conn == nil {
		if len(ss.backlog) < backlogMax {
			ss.backlog = append(ss.backlog, b)
		}
		return
	}
	if !ss.conn.send(b) {
		ss.log.Warn("client too slow: dropping its websocket")
		ss.conn.kill()
	}
}

// Notify turns a participant's sfu event into a protocol message.
func (ss *session) Notify(ev sfu.Event) {
	m := Message{Type: ev.Type, UID: ev.UID, Role: ev.Role, Tag: ev.Tag, Reason: ev.Reason, Stream: ev.Stream,
		PC: ev.PC, SDP: ev.SDP, Candidate: ev.Candidate, Layers: ev.Layers}
	switch ev.Type {
	case sfu.EventSubscribed:
		ss.mu.Lock()
		m.ID = ss.pendingSubs[ev.UID]
		delete(ss.pendingSubs, ev.UID)
		ss.mu.Unlock()
	case sfu.EventPeerLeave:
		if ev.UID == ss.currentClaims().UID { // the same uid joined elsewhere: this session is over
			ss.send(m)
			ss.end("")
			return
		}
	}
	ss.send(m)
}

// detach is called when c's read loop ends: unless the session ended or
// moved to another socket, start the grace window.
func (ss *session) detach(c *wsConn) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.ended || ss.conn != c {
		return
	}
	ss.conn = nil
	ss.log.Info("websocket lost; waiting for resume", "grace", ss.srv.opts.Grace)
	ss.grace = time.AfterFunc(ss.srv.opts.Grace, func() { ss.end("timeout") })
}

// end closes the session: the participant leaves with reason (none if empty).
func (ss *session) end(reason string) {
	ss.mu.Lock()
	if ss.ended {
		ss.mu.Unlock()
		return
	}
	ss.ended = true
	for _, t := range []*time.Timer{ss.grace, ss.warnT, ss.expT} {
		if t != nil {
			t.Stop()
		}
	}
	c, part := ss.conn, ss.part
	ss.conn = nil
	ss.mu.Unlock()
	ss.srv.removeSession(ss)
	if part != nil && reason != "" {
		part.Close(reason)
	}
	if c != nil {
		c.closeWith(websocket.CloseNormalClosure, reason)
	}
}

func (ss *session) currentClaims() *Claims {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.claims
}

// handle runs one request; false ends the read loop.
func (ss *session) handle(c *wsConn, m Message) bool {
	ss.mu.Lock()
	p := ss.part
	ss.mu.Unlock()
	reply := func(r Message) {
		r.ID = m.ID
		ss.send(r)
	}
	fail := func(err error) {
		pe := toProtocolError(err)
		if pe.Code == CodeInternal {
			ss.log.Error("request failed", "type", m.Type, "err", err)
		}
		ss.srv.countError(pe.Code)
		ss.send(errorMessage(m.ID, pe))
	}
	switch m.Type {
	case TypeJoin:
		fail(Errorf(CodeAlreadyJoined, "this websocket has already joined"))
	case TypePublish:
		if !ss.currentClaims().Role.Allows(RoleHost) {
			fail(Errorf(CodeRoleNotAllowed, "an audience token cannot publish"))
			return true
		}
		answer, err := p.Publish(m.SDP, m.AudioMuted, m.VideoMuted)
		if err != nil {
			fail(err)
			return true
		}
		reply(Message{Type: TypeAnswer, PC: sfu.PubPC, SDP: answer})
	case TypeUnpublish:
		p.Unpublish()
		reply(Message{Type: TypeUnpublished})
	case TypeSubscribe:
		ss.mu.Lock()
		ss.pendingSubs[m.UID] = m.ID
		ss.mu.Unlock()
		if err := p.Subscribe(m.UID); err != nil {
			ss.mu.Lock()
			delete(ss.pendingSubs, m.UID)
			ss.mu.Unlock()
			if errors.Is(err, sfu.ErrAlreadySubscribed) {
				reply(Message{Type: TypeSubscribed, UID: m.UID})
				return true
			}
			fail(err)
		}
	case TypeUnsubscribe:
		if err := p.Unsubscribe(m.UID); err != nil {
			fail(err)
			return true
		}
		reply(Message{Type: TypeUnsubscribed, UID: m.UID})
	case TypeOffer:
		answer, err := p.Renegotiate(m.PC, m.SDP)
		if err != nil {
			fail(err)
			return true
		}
		reply(Message{Type: TypeAnswer, PC: m.PC, SDP: answer})
	case TypeAnswer:
		if err := p.SetAnswer(m.PC, m.SDP); err != nil {
			fail(err)
		}
	case TypeCandidate:
		if m.Candidate == nil || m.Candidate.Candidate == "" {
			return true // end of candidates
		}
		if err := p.AddCandidate(m.PC, *m.Candidate); err != nil {
			fail(err)
		}
	case TypeRestart:
		if err := p.RestartICE(m.PC); err != nil {
			fail(err)
		}
	case TypeMute:
		p.Mute(m.Kind, *m.Muted)
		reply(Message{Type: TypeMuted, Kind: m.Kind, Muted: m.Muted})
	case TypeSetStreamType:
		// Any participant may: it only changes what this one receives.
		if err := p.SetRemoteStreamType(m.UID, sfu.StreamType(*m.StreamType)); err != nil {
			fail(err)
			return true
		}
		reply(Message{Type: TypeStreamTypeSet, UID: m.UID, StreamType: m.StreamType})
	case TypeRenew:
		ss.renew(m, reply, fail)
	case TypePing:
		if m.Seq != nil && *m.Seq > 0 { // a client that does not publish pings here, once a second
			ss.Ping(*m.Seq, time.Duration(m.RTT*float64(time.Millisecond)))
		}
		reply(Message{Type: TypePong, T: m.T, Seq: m.Seq, RTT: c.RTT()})
	case TypeLeave:
		reply(Message{Type: TypeLeft})
		ss.end("quit")
		return false
	}
	return true
}

func (ss *session) renew(m Message, reply func(Message), fail func(error)) {
	claims, err := ss.srv.opts.Tokens.Verify(m.Token)
	if err != nil {
		fail(err)
		return
	}
	ss.mu.Lock()
	if claims.Room != ss.claims.Room || claims.UID != ss.claims.UID {
		ss.mu.Unlock()
		fail(Errorf(CodeTokenRoomMismatch, "the new token is for %s/%s, this session is %s/%s", claims.Room, claims.UID, ss.claims.Room, ss.claims.UID))
		return
	}
	ss.claims = claims
	ss.armExpiry()
	ss.mu.Unlock()
	reply(Message{Type: TypeRenewed, ExpiresAt: claims.ExpiresAt.UnixMilli()})
}
