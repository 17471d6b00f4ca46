package callcenter

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// call is a queued or answered call in memory.
type call struct {
	rec Record
	// rejected holds the agents who turned this call down; they stop
	// ringing for it while it stays queued.
	rejected map[string]bool
	// sentPos is the position last sent to the customer's streams.
	sentPos int
	net     netSum
}

// snapshot copies the record, with the network summary so far.
func (c *call) snapshot() Record {
	r := c.rec
	r.Recordings = slices.Clone(c.rec.Recordings)
	if n := c.net.summary(); n != nil {
		r.Network = n
	}
	return r
}

// Input bounds.
const (
	MaxClaimLen    = 64
	MaxCustomerLen = 200
	MaxNotesLen    = 4000
	MaxIncidentLen = 64
	// MaxDeviceBytes bounds the device and network descriptions a
	// customer's page sends with its request.
	MaxDeviceBytes = 8 << 10
)

// checkText checks a person-typed field: valid UTF-8 without control
// characters (line breaks allowed where multiline), at most max runes.
func checkText(what, s string, maxRunes int, required, multiline bool) error {
	if required && strings.TrimSpace(s) == "" {
		return fmt.Errorf("%w: %s is required", ErrBadInput, what)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrBadInput, what)
	}
	if n := utf8.RuneCountInString(s); n > maxRunes {
		return fmt.Errorf("%w: %s is %d characters long, at most %d allowed", ErrBadInput, what, n, maxRunes)
	}
	if strings.ContainsFunc(s, func(r rune) bool {
		return (r < 0x20 && !(multiline && (r == '\n' || r == '\r' || r == '\t'))) || r == 0x7f
	}) {
		return fmt.Errorf("%w: %s has control characters", ErrBadInput, what)
	}
	return nil
}

// Create makes a call for claim and the customer's name; its link is valid
// for Options.LinkTTL (Record.ExpiresAt).
func (s *Service) Create(claim, customer string) (Record, error) {
	claim, customer = strings.TrimSpace(claim), strings.TrimSpace(customer)
	if err := checkText("claim", claim, MaxClaimLen, true, false); err != nil {
		return Record{}, err
	}
	if err := checkText("customer", customer, MaxCustomerLen, true, false); err != nil {
		return Record{}, err
	}
	now := s.now()
	r := Record{ID: newID(now), Claim: claim, Customer: customer, State: StateCreated,
		CreatedAt: ms(now), ExpiresAt: ms(now.Add(s.opts.LinkTTL)), Recordings: []string{}}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Record{}, ErrClosed
	}
	if err := s.save(&r, ""); err != nil {
		return Record{}, err
	}
	s.log.Info("call created", "call", r.ID, "claim", r.Claim)
	return r, nil
}

// lookupLocked returns the live call id, or its stored record wrapped as a
// call that is not (yet) live.
func (s *Service) lookupLocked(id string) (*call, bool, error) {
	if c := s.live[id]; c != nil {
		return c, true, nil
	}
	if !validID(id) {
		return nil, false, fmt.Errorf("call %q: %w", id, ErrNotFound)
	}
	var r Record
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		r, err = getRecord(tx, id)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return &call{rec: r, rejected: map[string]bool{}}, false, nil
}

// Request queues call id for the customer: its consoles ring. The device
// and network descriptions are stored as given (JSON objects, or empty).
// Asking again while queued changes nothing; asking after an answer reports
// the state, with position 0.
func (s *Service) Request(id string, device, network json.RawMessage) (position int, state State, err error) {
	for what, raw := range map[string]json.RawMessage{"device": device, "network": network} {
		if len(raw) > MaxDeviceBytes {
			return 0, "", fmt.Errorf("%w: %s is %d bytes, at most %d allowed", ErrBadInput, what, len(raw), MaxDeviceBytes)
		}
		if len(raw) > 0 && string(raw) != "null" && !jsonObject(raw) {
			return 0, "", fmt.Errorf("%w: %s must be a JSON object", ErrBadInput, what)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, "", ErrClosed
	}
	c, live, err := s.lookupLocked(id)
	if err != nil {
		return 0, "", err
	}
	now := s.now()
	switch c.rec.State {
	case StateQueued:
		return s.positionLocked(id), StateQueued, nil
	case StateAnswered:
		return 0, StateAnswered, nil
	case StateEnded:
		return 0, StateEnded, fmt.Errorf("call %s: %w", id, ErrEnded)
	}
	if live {
		return 0, "", fmt.Errorf("call %s is %s: %w", id, c.rec.State, ErrState) // not reached: live calls are queued or answered
	}
	if now.UnixMilli() >= c.rec.ExpiresAt {
		return 0, c.rec.State, fmt.Errorf("call %s: its link expired: %w", id, ErrEnded)
	}
	c.rec.State, c.rec.QueuedAt = StateQueued, ms(now)
	c.rec.Attempts++
	c.rec.EndedAt, c.rec.WaitMs = 0, 0
	if len(device) > 0 && string(device) != "null" {
		c.rec.Device = slices.Clone(device)
	}
	if len(network) > 0 && string(network) != "null" {
		c.rec.ClientNetwork = slices.Clone(network)
	}
	if err := s.save(&c.rec, "call-queued"); err != nil {
		return 0, "", err
	}
	s.live[id] = c
	s.log.Info("call queued", "call", id, "claim", c.rec.Claim, "attempt", c.rec.Attempts)
	s.pokeTimeouts()
	s.queueChangedLocked(nil)
	return s.positionLocked(id), StateQueued, nil
}

// queuedLocked returns the queued calls, first come first.
func (s *Service) queuedLocked() []*call {
	var q []*call
	for _, c := range s.live {
		if c.rec.State == StateQueued {
			q = append(q, c)
		}
	}
	slices.SortFunc(q, func(a, b *call) int {
		if a.rec.QueuedAt != b.rec.QueuedAt {
			return int(a.rec.QueuedAt - b.rec.QueuedAt)
		}
		return strings.Compare(a.rec.ID, b.rec.ID)
	})
	return q
}

// positionLocked is call id's place in the queue, from 1; 0 if not queued.
func (s *Service) positionLocked(id string) int {
	for i, c := range s.queuedLocked() {
		if c.rec.ID == id {
			return i + 1
		}
	}
	return 0
}

// Cancel takes the customer's call id out of the queue. Cancelling a call
// already cancelled succeeds again; one that was answered or ended is
// ErrState.
func (s *Service) Cancel(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	c, _, err := s.lookupLocked(id)
	if err != nil {
		return err
	}
	switch c.rec.State {
	case StateCancelled:
		return nil
	case StateQueued:
	default:
		return fmt.Errorf("call %s is %s: %w", id, c.rec.State, ErrState)
	}
	return s.finishQueuedLocked(c, StateCancelled, "call-cancelled")
}

// finishQueuedLocked ends a queued call's wait as timeout or cancelled.
func (s *Service) finishQueuedLocked(c *call, state State, event string) error {
	prev := c.rec
	now := s.now()
	c.rec.State, c.rec.EndedAt = state, ms(now)
	c.rec.WaitMs = max(0, c.rec.EndedAt-c.rec.QueuedAt)
	if err := s.save(&c.rec, event); err != nil {
		c.rec = prev
		return err
	}
	delete(s.live, c.rec.ID)
	s.log.Info("call left the queue", "call", c.rec.ID, "state", state, "waitMs", c.rec.WaitMs)
	if state == StateTimeout {
		s.tellCustomerLocked(c.rec.ID, Event{Name: "timeout", Data: map[string]any{"message": TimeoutMessage}})
	} else {
		s.tellCustomerLocked(c.rec.ID, Event{Name: "ended", Data: map[string]any{"outcome": string(state)}})
	}
	s.queueChangedLocked(map[string]string{c.rec.ID: string(state)})
	return nil
}

// Answer gives call id to agent, if it is still queued: the first agent
// wins, the others get ErrTaken (and their consoles stop ringing). An agent
// already in another call gets ErrAgentBusy. Answering one's own answered
// call again returns it again.
func (s *Service) Answer(id, agentID string) (Record, error) {
	if agentID == "" {
		return Record{}, fmt.Errorf("%w: agent is required", ErrBadInput)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Record{}, ErrClosed
	}
	c, _, err := s.lookupLocked(id)
	if err != nil {
		return Record{}, err
	}
	switch {
	case c.rec.State == StateAnswered && c.rec.Agent == agentID:
		return c.snapshot(), nil
	case c.rec.State == StateAnswered || c.rec.State == StateEnded && c.rec.Agent != "":
		return Record{}, fmt.Errorf("call %s: %w", id, ErrTaken)
	case c.rec.State != StateQueued:
		return Record{}, fmt.Errorf("call %s is %s: %w", id, c.rec.State, ErrState)
	}
	a := s.agentLocked(agentID)
	if a.call != "" {
		return Record{}, fmt.Errorf("agent %s is in call %s: %w", agentID, a.call, ErrAgentBusy)
	}
	prev := c.rec
	now := s.now()
	c.rec.State, c.rec.Agent, c.rec.AnsweredAt = StateAnswered, agentID, ms(now)
	c.rec.WaitMs = max(0, c.rec.AnsweredAt-c.rec.QueuedAt)
	if err := s.save(&c.rec, "call-answered"); err != nil {
		c.rec = prev
		return Record{}, err
	}
	a.call = id
	s.log.Info("call answered", "call", id, "agent", agentID, "waitMs", c.rec.WaitMs)
	s.tellCustomerLocked(id, Event{Name: "answered", Data: map[string]any{"agent": agentID, "room": Room(id)}})
	s.queueChangedLocked(map[string]string{id: "answered"}) // its consoles stop ringing, then hear they are busy
	s.sendPresenceLocked(a)
	return c.snapshot(), nil
}

// Reject stops agent's consoles ringing for call id; the others go on
// ringing. Rejecting a call that is no longer queued changes nothing.
func (s *Service) Reject(id, agentID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	c, live, err := s.lookupLocked(id)
	if err != nil {
		return err
	}
	if !live || c.rec.State != StateQueued {
		return nil
	}
	c.rejected[agentID] = true
	s.reconcileLocked(nil)
	return nil
}

// EndInfo is how a call is filed when it ends.
type EndInfo struct {
	Outcome    Outcome
	IncidentNo string
	Notes      string
}

// Check reports what is wrong with e, if anything.
func (e EndInfo) Check() error {
	if !slices.Contains(Outcomes, e.Outcome) {
		return fmt.Errorf("%w: outcome %q is not one of %v", ErrBadInput, truncate(string(e.Outcome), 32), Outcomes)
	}
	if err := checkText("incidentNo", e.IncidentNo, MaxIncidentLen, false, false); err != nil {
		return err
	}
	return checkText("notes", e.Notes, MaxNotesLen, false, true)
}

// End files call id with e. agentID is the agent asking, who must be the one
// who answered; "" is the operator, who may also close a call nobody
// answered. The customer's stream gets ended, the agent is free again, and
// the webhooks get call-ended.
func (s *Service) End(id, agentID string, e EndInfo) (Record, error) {
	if err := e.Check(); err != nil {
		return Record{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Record{}, ErrClosed
	}
	c, live, err := s.lookupLocked(id)
	if err != nil {
		return Record{}, err
	}
	switch {
	case agentID != "" && c.rec.Agent != agentID:
		return Record{}, fmt.Errorf("call %s: %w", id, ErrNotAgent)
	case c.rec.State == StateEnded:
		return Record{}, fmt.Errorf("call %s has ended already: %w", id, ErrState)
	case agentID != "" && c.rec.State != StateAnswered:
		return Record{}, fmt.Errorf("call %s is %s: %w", id, c.rec.State, ErrState)
	}
	prev := c.rec
	now := s.now()
	wasQueued := c.rec.State == StateQueued
	c.rec.State, c.rec.EndedAt = StateEnded, ms(now)
	c.rec.Outcome, c.rec.IncidentNo, c.rec.Notes = e.Outcome, e.IncidentNo, e.Notes
	c.rec.EndedBy = "operator"
	if agentID != "" {
		c.rec.EndedBy = "agent"
	}
	if c.rec.AnsweredAt > 0 {
		c.rec.TalkMs = max(0, c.rec.EndedAt-c.rec.AnsweredAt)
	} else if c.rec.QueuedAt > 0 && wasQueued {
		c.rec.WaitMs = max(0, c.rec.EndedAt-c.rec.QueuedAt)
	}
	if n := c.net.summary(); n != nil {
		c.rec.Network = n
	}
	if err := s.save(&c.rec, "call-ended"); err != nil {
		c.rec = prev
		return Record{}, err
	}
	if live {
		delete(s.live, id)
	}
	s.log.Info("call ended", "call", id, "agent", c.rec.Agent, "outcome", e.Outcome, "talkMs", c.rec.TalkMs)
	s.tellCustomerLocked(id, Event{Name: "ended", Data: map[string]any{"outcome": string(e.Outcome)}})
	if a := s.agents[c.rec.Agent]; a != nil && a.call == id {
		a.call = ""
		s.sendPresenceLocked(a)
		s.forgetAgentLocked(a)
	}
	s.queueChangedLocked(map[string]string{id: "cancelled"}) // an operator closing a queued call
	return c.snapshot(), nil
}

// timeoutLoop times out queued calls nobody answered: it sleeps until the
// oldest queued call's deadline, or until the queue changes.
func (s *Service) timeoutLoop() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		now := s.now()
		var next time.Time
		for _, c := range s.queuedLocked() {
			deadline := time.UnixMilli(c.rec.QueuedAt).Add(s.opts.RingTimeout)
			if !deadline.After(now) {
				if err := s.finishQueuedLocked(c, StateTimeout, "call-timeout"); err != nil {
					s.log.Error("time out a call", "call", c.rec.ID, "err", err)
				}
				continue
			}
			if next.IsZero() || deadline.Before(next) {
				next = deadline
			}
		}
		s.mu.Unlock()
		wait := time.Hour
		if !next.IsZero() {
			wait = next.Sub(now)
		}
		t := time.NewTimer(wait)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-s.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// pokeTimeouts makes the timeout loop look at the queue again.
func (s *Service) pokeTimeouts() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// AskAudioOnly asks the customer's page of call id, answered by agentID, to
// turn its camera off and go on with voice (the console's "switch to audio
// only" when the network is poor): an audio-only event on the call's stream.
func (s *Service) AskAudioOnly(id, agentID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	c, live, err := s.lookupLocked(id)
	if err != nil {
		return err
	}
	switch {
	case !live || c.rec.State != StateAnswered:
		return fmt.Errorf("call %s is %s: %w", id, c.rec.State, ErrState)
	case c.rec.Agent != agentID:
		return fmt.Errorf("call %s: %w", id, ErrNotAgent)
	}
	s.tellCustomerLocked(id, Event{Name: "audio-only", Data: map[string]string{"agent": agentID}})
	s.log.Info("agent asked the customer to switch to voice", "call", id, "agent", agentID)
	return nil
}
