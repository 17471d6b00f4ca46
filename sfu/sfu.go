package sfu

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// Errors callers map to protocol error codes.
var (
	ErrInvalidSDP     = errors.New("invalid SDP")
	ErrNotAllowed     = errors.New("not allowed for this role")
	ErrStreamNotFound = errors.New("stream not found")
	ErrPCNotFound     = errors.New("peer connection not found")
	ErrClosed         = errors.New("participant closed")
	// ErrAlreadySubscribed says a subscription exists already; not a failure.
	ErrAlreadySubscribed = errors.New("already subscribed")
	// ErrTooManyRooms and ErrRoomFull refuse a join past Config.MaxRooms or
	// Config.MaxParticipants.
	ErrTooManyRooms = errors.New("the server holds as many rooms as it is configured for")
	ErrRoomFull     = errors.New("the room holds as many participants as it is configured for")
	// ErrBadStreamType refuses a stream type other than StreamHigh or StreamLow.
	ErrBadStreamType = errors.New("unknown stream type")
)

// SFU owns the rooms and the ICE sockets every PeerConnection shares.
type SFU struct {
	log *slog.Logger
	eng *engine
	// maxRooms and maxParts are Config.MaxRooms and MaxParticipants.
	maxRooms, maxParts int
	// keyframeEvery is Config.KeyframeInterval.
	keyframeEvery time.Duration

	mu     sync.Mutex
	rooms  map[string]*Room
	closed bool
	obs    Observer
	// retired keeps the counters of ended tracks for Counters.
	retired retired
	// beforeUpPC, if set, runs before a publisher's PeerConnection is
	// made: tests hold it there to show that no participant lock is held.
	beforeUpPC func()
}

// New opens the ICE UDP (and TCP) ports and returns an SFU with no rooms.
func New(cfg Config, log *slog.Logger) (*SFU, error) {
	if log == nil {
		log = slog.Default()
	}
	eng, err := newEngine(cfg, log)
	if err != nil {
		return nil, err
	}
	s := &SFU{log: log, eng: eng, rooms: map[string]*Room{}, maxRooms: cfg.MaxRooms, maxParts: cfg.MaxParticipants}
	if s.maxRooms <= 0 {
		s.maxRooms = DefaultMaxRooms
	}
	if s.maxParts <= 0 {
		s.maxParts = DefaultMaxParticipants
	}
	s.keyframeEvery = cfg.KeyframeInterval
	if s.keyframeEvery <= 0 {
		s.keyframeEvery = DefaultKeyframeInterval
	}
	return s, nil
}

// Observer is told when a participant's stream is announced to the room and
// when it ends, so that a service like the recorder can follow publications
// without the media core knowing it. Its methods must not block.
type Observer interface {
	StreamPublished(p *Participant)
	StreamUnpublished(p *Participant)
	// ParticipantJoined comes after the participant was told it joined,
	// so the observer may tell it what is under way (a recording).
	ParticipantJoined(p *Participant)
}

// SetObserver installs the one Observer (nil removes it).
func (s *SFU) SetObserver(o Observer) {
	s.mu.Lock()
	s.obs = o
	s.mu.Unlock()
}

func (s *SFU) observer() Observer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.obs
}

// UDPAddrs are the local addresses of the shared ICE UDP port.
func (s *SFU) UDPAddrs() []net.Addr { return s.eng.udpAddrs }

// Close ends every participant of every room and releases the ICE ports.
func (s *SFU) Close() error {
	s.mu.Lock()
	s.closed = true
	rooms := make([]*Room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	for _, r := range rooms {
		for _, p := range r.Participants() {
			p.Close("server-shutdown")
		}
	}
	return s.eng.close()
}

// Room returns the room with the given id, or nil.
func (s *SFU) Room(id string) *Room {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rooms[id]
}

// Rooms returns how many rooms exist.
func (s *SFU) Rooms() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.rooms)
}

// JoinOptions describes a participant joining a room.
type JoinOptions struct {
	UID string
	Tag string
	// Mode is the room's mode if this participant creates it.
	Mode Mode
	// Role is the role to start with ("host" or "audience").
	Role string
	// CanPublish says whether the participant may become a host (its token's role).
	CanPublish bool
	// AutoSubscribe subscribes the participant to every stream as it appears.
	AutoSubscribe bool
	// Listener receives the participant's events; it must not block.
	Listener Listener
	// OnJoined is called once, before any event reaches Listener, with the
	// room as the participant first sees it.
	OnJoined func(JoinSnapshot)
}

// JoinSnapshot is the room as a participant sees it on joining.
type JoinSnapshot struct {
	Mode Mode
	// Role is the joining participant's own role (set on join only).
	Role         string
	Participants []ParticipantInfo
	Streams      []StreamInfo
}

// Join adds a participant to a room, creating the room if needed. A
// participant already present with the same uid is replaced (kicked), as in
// Agora.
func (s *SFU) Join(roomID string, o JoinOptions) (*Participant, error) {
	if o.Listener == nil {
		return nil, fmt.Errorf("join %s/%s: no listener", roomID, o.UID)
	}
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, fmt.Errorf("join %s: %w", roomID, ErrClosed)
		}
		r := s.rooms[roomID]
		if r == nil && len(s.rooms) >= s.maxRooms {
			s.mu.Unlock()
			return nil, fmt.Errorf("join %s: %w (%d)", roomID, ErrTooManyRooms, s.maxRooms)
		}
		if r == nil {
			mode := o.Mode
			if mode == "" {
				mode = ModeRTC
			}
			r = &Room{id: roomID, mode: mode, sfu: s, parts: map[string]*Participant{}}
			s.rooms[roomID] = r
			s.log.Info("room created", "room", roomID, "mode", mode)
		}
		s.mu.Unlock()
		p, err := r.join(o)
		if errors.Is(err, errRoomGone) {
			continue // the room emptied and was removed meanwhile: make a new one
		}
		if err != nil {
			s.removeRoomIfEmpty(r) // a refused join must not leave an empty room behind
		}
		return p, err
	}
}

func (s *SFU) removeRoomIfEmpty(r *Room) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.parts) == 0 && !r.gone && s.rooms[r.id] == r {
		r.gone = true
		delete(s.rooms, r.id)
		s.log.Info("room closed", "room", r.id)
	}
}

// newUpPC and newDownPC create PeerConnections for each direction.
func (s *SFU) newUpPC() (*webrtc.PeerConnection, error) {
	if s.beforeUpPC != nil {
		s.beforeUpPC()
	}
	return s.eng.up.NewPeerConnection(webrtc.Configuration{})
}

func (s *SFU) newDownPC() (*webrtc.PeerConnection, error) {
	return s.eng.down.NewPeerConnection(webrtc.Configuration{})
}
