package api

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/stoa-video/stoa/signaling"
)

// RoomStats is what the stats route asks: every participant's network
// quality and counters. *signaling.Server is one.
type RoomStats interface {
	RoomStats(room string) ([]signaling.ParticipantStats, bool)
}

var _ RoomStats = (*signaling.Server)(nil)

// serveRoomStats answers GET /api/rooms/{room}/stats for the console: the
// operator, or an agent token of the room.
func (s *Server) serveRoomStats(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.claimAccess(w, r); !ok {
		return
	}
	if s.opts.Stats == nil {
		signaling.WriteHTTPError(w, http.StatusServiceUnavailable, signaling.CodeInternal, "room statistics are not served here")
		return
	}
	parts, ok := s.opts.Stats.RoomStats(r.PathValue("room"))
	if !ok {
		signaling.WriteHTTPError(w, http.StatusNotFound, signaling.CodeRoomNotFound, "nobody is connected in that room")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"room": r.PathValue("room"), "participants": parts})
}

// impairRequest asks the server to drop a fraction of a participant's
// incoming packets and pings.
type impairRequest struct {
	Room string  `json:"room"`
	UID  string  `json:"uid"`
	Loss float64 `json:"loss"`
}

// serveImpair answers POST /api/dev/impair: a drill that shows the agent a
// customer's poor network without a poor network. Dev mode on loopback or
// the operator only.
func (s *Server) serveImpair(w http.ResponseWriter, r *http.Request) {
	c := s.opts.Gate.Caller(r)
	if !c.Dev && !c.Operator {
		s.opts.Gate.Unauthorized(w, r, c.Refused, "network drills are for the operator, or dev mode on loopback")
		return
	}
	var req impairRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil {
		signaling.WriteHTTPError(w, http.StatusBadRequest, signaling.CodeBadJSON, "body must be JSON {room, uid, loss}: "+err.Error())
		return
	}
	if req.Loss < 0 || req.Loss > 1 {
		signaling.WriteHTTPError(w, http.StatusBadRequest, signaling.CodeBadRequest, "loss must be between 0 and 1")
		return
	}
	room := s.opts.SFU.Room(req.Room)
	if room == nil || room.Participant(req.UID) == nil {
		signaling.WriteHTTPError(w, http.StatusNotFound, signaling.CodeStreamNotFound, "no such participant in that room")
		return
	}
	room.Participant(req.UID).Impair(req.Loss)
	s.log.Warn("network drill: dropping a participant's incoming packets", "room", req.Room, "uid", req.UID, "loss", req.Loss)
	writeJSON(w, http.StatusOK, req)
}
