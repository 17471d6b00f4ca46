package sfu

import (
	"errors"
	"fmt"
	"sync"

	"github.com/pion/webrtc/v4"
)

var errRoomGone = errors.New("room closed")

// Event types sent to a Listener; the names are the signaling protocol's.
const (
	EventParticipantJoined = "participant-joined"
	EventPeerLeave         = "peer-leave"
	EventStreamAdded       = "stream-added"
	EventStreamRemoved     = "stream-removed"
	EventStreamUpdated     = "stream-updated"
	EventRoleChanged       = "role-changed"
	EventOffer             = "offer"
	EventCandidate         = "candidate"
	EventSubscribed        = "subscribed"
	EventUnsubscribed      = "unsubscribed"
	EventLayers            = "layers"
)

// Event is something a participant must be told: a change in its room or a
// negotiation step of one of its PeerConnections.
type Event struct {
	Type      string
	UID       string
	Role      string
	Tag       string
	Reason    string
	Stream    *StreamInfo
	PC        string
	SDP       string
	Candidate *webrtc.ICECandidateInit
	// Layers, in a "layers" event to a simulcast publisher, are the RTP
	// stream ids it should send; it pauses the others (nobody watches them).
	Layers []string
}

// Listener receives a participant's events. Notify must not block: the
// signaling layer queues the event for the participant's websocket.
type Listener interface {
	Notify(Event)
}

// Room is a set of participants that see each other's media and nobody else's.
type Room struct {
	id   string
	mode Mode
	sfu  *SFU

	mu    sync.Mutex
	parts map[string]*Participant
	gone  bool
}

// ID is the room's name.
func (r *Room) ID() string { return r.id }

// Mode is rtc or live.
func (r *Room) Mode() Mode { return r.mode }

// Participants returns the current participants.
func (r *Room) Participants() []*Participant {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Participant, 0, len(r.parts))
	for _, p := range r.parts {
		out = append(out, p)
	}
	return out
}

// Participant returns the participant with the given uid, or nil.
func (r *Room) Participant(uid string) *Participant {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.parts[uid]
}

func (r *Room) others(except *Participant) []*Participant {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Participant, 0, len(r.parts))
	for _, p := range r.parts {
		if p != except {
			out = append(out, p)
		}
	}
	return out
}

func (r *Room) join(o JoinOptions) (*Participant, error) {
	role := o.Role
	if role == "" {
		role = "host"
		if r.mode == ModeLive {
			role = "audience"
		}
	}
	if role == "host" && !o.CanPublish {
		return nil, ErrNotAllowed
	}
	p := newParticipant(r, o, role)
	r.mu.Lock()
	if r.gone {
		r.mu.Unlock()
		return nil, errRoomGone
	}
	old := r.parts[o.UID]
	if old == nil && len(r.parts) >= r.sfu.maxParts {
		r.mu.Unlock()
		return nil, fmt.Errorf("join %s/%s: %w (%d)", r.id, o.UID, ErrRoomFull, r.sfu.maxParts)
	}
	r.parts[o.UID] = p
	snap := JoinSnapshot{Mode: r.mode, Role: role}
	others := make([]*Participant, 0, len(r.parts))
	for uid, q := range r.parts {
		if q == p {
			continue
		}
		if q != old {
			others = append(others, q)
		}
		snap.Participants = append(snap.Participants, q.Info())
		if s, ok := q.streamInfo(); ok {
			snap.Streams = append(snap.Streams, s)
		}
		_ = uid
	}
	if o.OnJoined != nil {
		o.OnJoined(snap)
	}
	r.mu.Unlock()
	if old != nil {
		old.closeReplaced()
	}
	info := p.Info()
	for _, q := range others {
		q.notify(Event{Type: EventParticipantJoined, UID: info.UID, Role: info.Role, Tag: info.Tag})
	}
	r.sfu.log.Info("participant joined", "room", r.id, "uid", o.UID, "role", role, "tag", o.Tag)
	if obs := r.sfu.observer(); obs != nil {
		obs.ParticipantJoined(p)
	}
	if o.AutoSubscribe {
		for _, s := range snap.Streams {
			if err := p.Subscribe(s.UID); err != nil && !errors.Is(err, ErrAlreadySubscribed) {
				r.sfu.log.Warn("auto-subscribe failed", "room", r.id, "uid", o.UID, "publisher", s.UID, "err", err)
			}
		}
	}
	return p, nil
}

// leave removes p and tells the others why it left.
func (r *Room) leave(p *Participant, reason string) {
	r.mu.Lock()
	if r.parts[p.uid] == p {
		delete(r.parts, p.uid)
	} else {
		reason = "" // replaced by a newer join with the same uid: nobody left
	}
	r.mu.Unlock()
	if reason != "" {
		for _, q := range r.others(p) {
			q.dropSubscription(p.uid)
			q.notify(Event{Type: EventPeerLeave, UID: p.uid, Reason: reason})
		}
		r.sfu.log.Info("participant left", "room", r.id, "uid", p.uid, "reason", reason)
	}
	r.sfu.removeRoomIfEmpty(r)
}

func (r *Room) streamAdded(p *Participant, s StreamInfo) {
	if o := r.sfu.observer(); o != nil {
		o.StreamPublished(p)
	}
	for _, q := range r.others(p) {
		q.notify(Event{Type: EventStreamAdded, UID: s.UID, Stream: &s})
		if q.autoSubscribe {
			q.autoSubscribeTo(p.uid)
		}
	}
}

func (r *Room) streamRemoved(p *Participant) {
	if o := r.sfu.observer(); o != nil {
		o.StreamUnpublished(p)
	}
	for _, q := range r.others(p) {
		q.dropSubscription(p.uid)
		q.notify(Event{Type: EventStreamRemoved, UID: p.uid})
	}
}

// Notify tells every participant of the room about ev (a recording that
// started or stopped, say); Notify must not block.
func (r *Room) Notify(ev Event) { r.broadcast(nil, ev) }

func (r *Room) broadcast(from *Participant, ev Event) {
	for _, q := range r.others(from) {
		q.notify(ev)
	}
}

// Snapshot describes the room as participant p sees it: everyone else and
// their announced streams.
func (r *Room) Snapshot(p *Participant) JoinSnapshot {
	snap := JoinSnapshot{Mode: r.mode}
	for _, q := range r.others(p) {
		snap.Participants = append(snap.Participants, q.Info())
		if s, ok := q.streamInfo(); ok {
			snap.Streams = append(snap.Streams, s)
		}
	}
	return snap
}
