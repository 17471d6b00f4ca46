package live

import (
	"errors"
	"fmt"

	"github.com/stoa-video/stoa/sfu"
)

// ErrNoHost: the room has no host publishing (or not the one asked for),
// so there is nothing to watch (404).
var ErrNoHost = errors.New("nobody publishes in this room")

// ErrInUse: the viewer's uid is in the room already; joining would
// replace that participant (perhaps the host itself), so it is refused (409).
var ErrInUse = errors.New("the token's uid is in the room already")

// Watch joins uid to room as audience and subscribes it to host's stream
// (the room's first publishing host when host is ""), on a connection that
// the viewer's offer makes (WHEP). It returns the session's id and the SDP
// answer.
func (w *Service) Watch(room, uid, tag, host, offer string) (id, answer string, err error) {
	if err := w.checkCapacity(); err != nil {
		return "", "", fmt.Errorf("whep %s/%s: %w", room, uid, err)
	}
	r := w.sfu.Room(room)
	if r == nil {
		return "", "", fmt.Errorf("whep %s/%s: %w", room, uid, ErrNoHost)
	}
	if r.Participant(uid) != nil {
		return "", "", fmt.Errorf("whep %s/%s: %w", room, uid, ErrInUse)
	}
	s := &session{id: newSessionID(), room: room, uid: uid, ufrag: sdpValue(offer, "a=ice-ufrag:")}
	part, err := w.sfu.Join(room, sfu.JoinOptions{UID: uid, Tag: tag, Mode: sfu.ModeLive, Role: "audience",
		Listener: listener{w: w, s: s}, OnJoined: func(snap sfu.JoinSnapshot) {
			for _, st := range snap.Streams {
				if s.watch == "" && (host == "" || st.UID == host) {
					s.watch = st.UID
				}
			}
		}})
	if err != nil {
		return "", "", fmt.Errorf("whep %s/%s: %w", room, uid, err)
	}
	s.part.Store(part)
	if s.watch == "" {
		part.Close("quit")
		return "", "", fmt.Errorf("whep %s/%s: %w", room, uid, ErrNoHost)
	}
	s.pc = sfu.SubPC(s.watch)
	answer, err = part.SubscribeOffer(s.watch, offer)
	if err != nil {
		part.Close("quit")
		return "", "", fmt.Errorf("whep %s/%s: %w", room, uid, err)
	}
	w.add(s, "whep")
	return s.id, answer, nil
}
