package callcenter

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// Presence is an agent's state as its console shows it.
type Presence string

// The presence states. An agent is online while one of its consoles is
// connected, unless it chose away; busy while it is in a call (whatever it
// chose); offline with no console connected. Only online agents ring.
const (
	PresenceOnline  Presence = "online"
	PresenceAway    Presence = "away"
	PresenceBusy    Presence = "busy"
	PresenceOffline Presence = "offline"
)

// Event is one thing to tell a console or a customer's page: Name is the
// Server-Sent Event's name, Data its JSON payload.
type Event struct {
	Name string
	Data any
}

// streamBuffer is how many events a stream holds for a slow reader; past
// it the stream is ended, and the client's reconnect gets the whole state
// again (every stream starts with it), so nothing is lost but the order.
const streamBuffer = 256

// Stream is one connected console's or customer page's feed of events. Its
// channel closes when the service closes or the reader fell behind; Close
// detaches it.
type Stream struct {
	s      *Service
	c      chan Event
	agent  *agent // the console's agent, nil for a customer's stream
	call   string // the customer's call id
	closed bool   // guarded by s.mu
}

// Events is the stream's channel; it is closed when the stream ends.
func (st *Stream) Events() <-chan Event { return st.c }

// Close detaches the stream; an agent whose last console went is offline.
// It is idempotent.
func (st *Stream) Close() {
	s := st.s
	s.mu.Lock()
	defer s.mu.Unlock()
	st.detachLocked()
}

// send queues ev, or ends the stream if its reader fell behind.
func (st *Stream) send(ev Event) {
	if st.closed {
		return
	}
	select {
	case st.c <- ev:
	default:
		st.s.log.Warn("event stream fell behind; ending it so the client reconnects", "agent", st.agentID(), "call", st.call)
		st.detachLocked()
	}
}

func (st *Stream) agentID() string {
	if st.agent == nil {
		return ""
	}
	return st.agent.id
}

// end closes the channel; the caller holds s.mu.
func (st *Stream) end() {
	if !st.closed {
		st.closed = true
		close(st.c)
	}
}

// detachLocked ends the stream and unregisters it.
func (st *Stream) detachLocked() {
	wasOpen := !st.closed
	st.end()
	s := st.s
	if st.agent != nil {
		a := st.agent
		if _, ok := a.streams[st]; !ok {
			return
		}
		delete(a.streams, st)
		if len(a.streams) == 0 && wasOpen && !s.closed {
			clear(a.ringing) // nobody to tell
			s.log.Info("agent offline", "agent", a.id)
			s.forgetAgentLocked(a)
		}
		return
	}
	if ws := s.watchers[st.call]; ws != nil {
		delete(ws, st)
		if len(ws) == 0 {
			delete(s.watchers, st.call)
		}
	}
}

// agent is an agent's presence and what its consoles ring for.
type agent struct {
	id      string
	streams map[*Stream]struct{}
	away    bool
	call    string         // the answered call it is in, "" if none
	ringing map[string]int // call id → the position last sent in ringing
}

// agentLocked returns agent id's entry, making it if needed.
func (s *Service) agentLocked(id string) *agent {
	a := s.agents[id]
	if a == nil {
		a = &agent{id: id, streams: map[*Stream]struct{}{}, ringing: map[string]int{}}
		s.agents[id] = a
	}
	return a
}

// forgetAgentLocked drops an agent with no console and no call.
func (s *Service) forgetAgentLocked(a *agent) {
	if len(a.streams) == 0 && a.call == "" {
		delete(s.agents, a.id)
	}
}

// presence is a's state.
func (a *agent) presence() Presence {
	switch {
	case a.call != "":
		return PresenceBusy
	case len(a.streams) == 0:
		return PresenceOffline
	case a.away:
		return PresenceAway
	}
	return PresenceOnline
}

// ConnectAgent signs in one console of agent id and returns its stream. The
// stream starts with presence and a ringing for every call the agent rings
// for. An agent's first console makes it online (not away).
func (s *Service) ConnectAgent(id string) (*Stream, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: agent is required", ErrBadInput)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	a := s.agentLocked(id)
	// Room for the first burst (presence and one ringing per queued call)
	// on top of the usual slack.
	st := &Stream{s: s, c: make(chan Event, streamBuffer+1+len(s.live)), agent: a}
	if len(a.streams) == 0 {
		a.away = false
		s.log.Info("agent online", "agent", id)
	}
	a.streams[st] = struct{}{}
	st.send(presenceEvent(a))
	queue := s.queuedLocked()
	for i, c := range queue {
		if _, ok := a.ringing[c.rec.ID]; ok {
			a.ringing[c.rec.ID] = i + 1
			st.send(ringingEvent(c, i+1))
		}
	}
	s.reconcileLocked(nil)
	return st, nil
}

// SetPresence sets agent id's chosen state, online or away, and returns its
// presence: an away agent's consoles stop ringing and get nothing until it
// is online again; a busy agent stays busy until its call ends, and then
// takes the state it chose.
func (s *Service) SetPresence(id string, p Presence) (Presence, error) {
	if p != PresenceOnline && p != PresenceAway {
		return "", fmt.Errorf("%w: state %q is not %q or %q", ErrBadInput, truncate(string(p), 32), PresenceOnline, PresenceAway)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", ErrClosed
	}
	a := s.agentLocked(id)
	if a.away != (p == PresenceAway) {
		a.away = p == PresenceAway
		s.log.Info("agent presence", "agent", id, "state", a.presence())
		// Away: stop ringing, then say so; online: say so, then ring.
		if a.away {
			s.reconcileLocked(nil)
			s.sendPresenceLocked(a)
		} else {
			s.sendPresenceLocked(a)
			s.reconcileLocked(nil)
		}
	}
	out := a.presence()
	s.forgetAgentLocked(a)
	return out, nil
}

// Presence returns agent id's presence.
func (s *Service) Presence(id string) Presence {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.agents[id]; a != nil {
		return a.presence()
	}
	return PresenceOffline
}

// WatchCall returns a stream of call id's events for its customer's page. It
// starts with the call's state: position while queued, answered, timeout or
// ended; nothing before the call is requested.
func (s *Service) WatchCall(id string) (*Stream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	c, _, err := s.lookupLocked(id)
	if err != nil {
		return nil, err
	}
	st := &Stream{s: s, c: make(chan Event, streamBuffer), call: id}
	if s.watchers[id] == nil {
		s.watchers[id] = map[*Stream]struct{}{}
	}
	s.watchers[id][st] = struct{}{}
	switch c.rec.State {
	case StateQueued:
		st.send(Event{Name: "position", Data: map[string]any{"position": s.positionLocked(id)}})
	case StateAnswered:
		st.send(Event{Name: "answered", Data: map[string]any{"agent": c.rec.Agent, "room": Room(id)}})
	case StateTimeout:
		st.send(Event{Name: "timeout", Data: map[string]any{"message": TimeoutMessage}})
	case StateEnded:
		st.send(Event{Name: "ended", Data: map[string]any{"outcome": string(c.rec.Outcome)}})
	case StateCancelled:
		st.send(Event{Name: "ended", Data: map[string]any{"outcome": string(StateCancelled)}})
	}
	return st, nil
}

// tellCustomerLocked sends ev to every stream watching call id.
func (s *Service) tellCustomerLocked(id string, ev Event) {
	for st := range maps.Clone(s.watchers[id]) {
		st.send(ev)
	}
}

// sendPresenceLocked tells a's consoles its presence.
func (s *Service) sendPresenceLocked(a *agent) {
	ev := presenceEvent(a)
	for st := range maps.Clone(a.streams) {
		st.send(ev)
	}
}

func presenceEvent(a *agent) Event {
	return Event{Name: "presence", Data: map[string]any{"state": a.presence()}}
}

// RingingCall is what a ringing console shows of a queued call.
type RingingCall struct {
	ID       string `json:"id"`
	Claim    string `json:"claim"`
	Customer string `json:"customer"`
	// Device and Network are what the customer's page reported about
	// itself and its connection when it asked for the call.
	Device   json.RawMessage `json:"device"`
	Network  json.RawMessage `json:"network"`
	QueuedAt int64           `json:"queuedAt"`
	Position int             `json:"position"`
}

func ringingEvent(c *call, pos int) Event {
	rc := RingingCall{ID: c.rec.ID, Claim: c.rec.Claim, Customer: c.rec.Customer,
		Device: c.rec.Device, Network: c.rec.ClientNetwork, QueuedAt: c.rec.QueuedAt, Position: pos}
	if len(rc.Device) == 0 {
		rc.Device = json.RawMessage("null")
	}
	if len(rc.Network) == 0 {
		rc.Network = json.RawMessage("null")
	}
	return Event{Name: "ringing", Data: map[string]any{"call": rc}}
}

// queueChangedLocked brings everyone up to date after the queue changed:
// the customers' positions and what each console rings for. gone names the
// calls that left the queue, with the reason their consoles stop ringing.
func (s *Service) queueChangedLocked(gone map[string]string) {
	for i, c := range s.queuedLocked() {
		if pos := i + 1; pos != c.sentPos {
			c.sentPos = pos
			s.tellCustomerLocked(c.rec.ID, Event{Name: "position", Data: map[string]any{"position": pos}})
		}
	}
	s.reconcileLocked(gone)
}

// reconcileLocked makes every online console ring for exactly the queued
// calls it should (all of them but those its agent rejected), sending
// ringing for new calls and moved positions, and stop-ringing with a
// reason for the rest: the call's own (answered, timeout, cancelled, from
// gone), rejected, or the agent's (away, busy).
func (s *Service) reconcileLocked(gone map[string]string) {
	queue := s.queuedLocked()
	pos := make(map[string]int, len(queue))
	for i, c := range queue {
		pos[c.rec.ID] = i + 1
	}
	for _, id := range slices.Sorted(maps.Keys(s.agents)) {
		a := s.agents[id]
		if len(a.streams) == 0 {
			continue
		}
		online := a.presence() == PresenceOnline
		for callID := range maps.Clone(a.ringing) {
			p, queued := pos[callID]
			c := s.live[callID]
			reason := ""
			switch {
			case !queued:
				reason = gone[callID]
				if reason == "" {
					reason = "answered"
				}
			case c.rejected[id]:
				reason = "rejected"
			case !online:
				reason = string(a.presence())
			}
			if reason != "" {
				delete(a.ringing, callID)
				s.toAgentLocked(a, Event{Name: "stop-ringing", Data: map[string]any{"id": callID, "reason": reason}})
				continue
			}
			if a.ringing[callID] != p {
				a.ringing[callID] = p
				s.toAgentLocked(a, ringingEvent(c, p))
			}
		}
		if !online {
			continue
		}
		for _, c := range queue {
			if _, ok := a.ringing[c.rec.ID]; ok || c.rejected[id] {
				continue
			}
			a.ringing[c.rec.ID] = pos[c.rec.ID]
			s.toAgentLocked(a, ringingEvent(c, pos[c.rec.ID]))
		}
	}
}

func (s *Service) toAgentLocked(a *agent, ev Event) {
	for st := range maps.Clone(a.streams) {
		st.send(ev)
	}
}
