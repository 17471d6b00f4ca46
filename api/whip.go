package api

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/stoa-video/stoa/live"
	"github.com/stoa-video/stoa/sfu"
	"github.com/stoa-video/stoa/signaling"
)

// maxSDP bounds a WHIP offer or trickle fragment.
const maxSDP = 64 << 10

// WHIP routes (RFC 9725): POST /whip/{room} with an SDP offer and a host
// token of the room publishes, 201 with the answer and the session's
// Location; PATCH there adds trickled candidates; DELETE ends it.
func (s *Server) serveWHIPPublish(w http.ResponseWriter, r *http.Request) {
	s.serveLivePost(w, r, "whip", signaling.RoleHost)
}

// WHEP (draft-ietf-wish-whep): POST /whep/{room}[?host=UID] with the
// viewer's offer and a token of the room (audience is enough) watches the
// room's host, 201 with the answer and the session's Location; PATCH and
// DELETE as for WHIP.
func (s *Server) serveWHEPWatch(w http.ResponseWriter, r *http.Request) {
	s.serveLivePost(w, r, "whep", signaling.RoleAudience)
}

// serveLivePost admits a WHIP or WHEP offer from a token of the room whose
// role allows want, and answers it.
func (s *Server) serveLivePost(w http.ResponseWriter, r *http.Request, kind string, want signaling.Role) {
	if s.opts.Live == nil {
		signaling.WriteHTTPError(w, http.StatusNotFound, signaling.CodeBadRequest, strings.ToUpper(kind)+" is not served here")
		return
	}
	room := r.PathValue("room")
	claims, ok := s.liveCaller(w, r, room, want)
	if !ok {
		return
	}
	offer, ok := readBody(w, r, "application/sdp")
	if !ok {
		return
	}
	var id, answer string
	var err error
	if kind == "whip" {
		id, answer, err = s.opts.Live.Publish(room, claims.UID, claims.Tag, offer)
	} else {
		id, answer, err = s.opts.Live.Watch(room, claims.UID, claims.Tag, r.URL.Query().Get("host"), offer)
	}
	s.answerSession(w, "/"+kind+"/"+room+"/", id, answer, err)
}

// answerSession answers a WHIP or WHEP POST: 201 with the SDP answer and
// the session's Location, or the error's status.
func (s *Server) answerSession(w http.ResponseWriter, prefix, id, answer string, err error) {
	switch {
	case errors.Is(err, live.ErrNoHost), errors.Is(err, sfu.ErrStreamNotFound):
		signaling.WriteHTTPError(w, http.StatusNotFound, signaling.CodeStreamNotFound, err.Error())
		return
	case errors.Is(err, live.ErrInUse):
		signaling.WriteHTTPError(w, http.StatusConflict, signaling.CodeAlreadyJoined, err.Error())
		return
	case errors.Is(err, live.ErrTooMany), errors.Is(err, sfu.ErrTooManyRooms):
		signaling.WriteHTTPError(w, http.StatusServiceUnavailable, signaling.CodeServerFull, err.Error())
		return
	case errors.Is(err, sfu.ErrRoomFull):
		signaling.WriteHTTPError(w, http.StatusServiceUnavailable, signaling.CodeRoomFull, err.Error())
		return
	case errors.Is(err, sfu.ErrClosed):
		signaling.WriteHTTPError(w, http.StatusServiceUnavailable, signaling.CodeBusy, "the server is shutting down")
		return
	case err != nil: // the offer is what the SFU could not answer
		signaling.WriteHTTPError(w, http.StatusBadRequest, signaling.CodeInvalidSDP, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", prefix+id)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

// serveLiveSession takes PATCH (trickle ICE) and DELETE on a WHIP or WHEP
// session, from the client that made it (a token of the same uid).
func (s *Server) serveLiveSession(w http.ResponseWriter, r *http.Request) {
	if s.opts.Live == nil {
		signaling.WriteHTTPError(w, http.StatusNotFound, signaling.CodeBadRequest, "WHIP is not served here")
		return
	}
	room, id := r.PathValue("room"), r.PathValue("id")
	claims, ok := s.liveCaller(w, r, room, signaling.RoleAudience)
	if !ok {
		return
	}
	owner, err := s.opts.Live.Owner(room, id)
	if err != nil {
		signaling.WriteHTTPError(w, http.StatusNotFound, signaling.CodeSessionNotFound, err.Error())
		return
	}
	if owner != claims.UID {
		signaling.WriteHTTPError(w, http.StatusForbidden, signaling.CodeForbidden, "the session is another participant's")
		return
	}
	if r.Method == http.MethodDelete {
		if err := s.opts.Live.End(room, id); err != nil {
			signaling.WriteHTTPError(w, http.StatusNotFound, signaling.CodeSessionNotFound, err.Error())
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	frag, ok := readBody(w, r, "application/trickle-ice-sdpfrag")
	if !ok {
		return
	}
	switch err := s.opts.Live.Trickle(room, id, frag); {
	case errors.Is(err, live.ErrNoSession):
		signaling.WriteHTTPError(w, http.StatusNotFound, signaling.CodeSessionNotFound, err.Error())
	case errors.Is(err, live.ErrICERestart):
		signaling.WriteHTTPError(w, http.StatusUnprocessableEntity, signaling.CodeBadRequest, err.Error())
	case err != nil:
		signaling.WriteHTTPError(w, http.StatusBadRequest, signaling.CodeBadRequest, err.Error())
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// serveLiveStatus answers GET /api/rooms/{room}/live: the room's hosts,
// how each publishes, its codec and bitrate, and its viewers per protocol;
// for the operator or a host token of the room.
func (s *Server) serveLiveStatus(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	if c := s.opts.Gate.Caller(r); !c.Operator && !c.Dev {
		if _, ok := s.liveClaims(w, r, c, room, signaling.RoleHost); !ok {
			return
		}
	}
	if s.opts.Live == nil {
		signaling.WriteHTTPError(w, http.StatusNotFound, signaling.CodeBadRequest, "live streaming is not served here")
		return
	}
	hosts, ok := s.opts.Live.Status(room)
	if !ok {
		signaling.WriteHTTPError(w, http.StatusNotFound, signaling.CodeRoomNotFound, "nobody is connected in that room")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"room": room, "hosts": hosts})
}

// liveCaller admits a request that carries a token of room whose role
// allows want, answering 401 (no or a bad token) or 403 (another room, an
// audience token where a host's is needed) itself.
func (s *Server) liveCaller(w http.ResponseWriter, r *http.Request, room string, want signaling.Role) (*signaling.Claims, bool) {
	return s.liveClaims(w, r, s.opts.Gate.Caller(r), room, want)
}

// liveClaims is liveCaller for a caller already verified.
func (s *Server) liveClaims(w http.ResponseWriter, r *http.Request, c signaling.Caller, room string, want signaling.Role) (*signaling.Claims, bool) {
	switch {
	case c.Claims == nil:
		s.opts.Gate.Unauthorized(w, r, c.Refused, "a token of this room is required (Authorization: Bearer TOKEN)")
		return nil, false
	case c.Claims.Room != room:
		signaling.WriteHTTPError(w, http.StatusForbidden, signaling.CodeForbidden, "the token is for another room")
		return nil, false
	case !c.Claims.Role.Allows(want):
		signaling.WriteHTTPError(w, http.StatusForbidden, signaling.CodeRoleNotAllowed, "an audience token may watch, not publish")
		return nil, false
	}
	return c.Claims, true
}

// readBody reads a request body of the content type want, at most maxSDP
// bytes, answering 415 or 413 itself.
func readBody(w http.ResponseWriter, r *http.Request, want string) (string, bool) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != want {
		w.Header().Set("Accept", want)
		signaling.WriteHTTPError(w, http.StatusUnsupportedMediaType, signaling.CodeBadRequest, "the body must be "+want)
		return "", false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSDP))
	if err != nil {
		signaling.WriteHTTPError(w, http.StatusRequestEntityTooLarge, signaling.CodePayloadTooLarge, "the body is larger than 64 KiB")
		return "", false
	}
	return string(body), true
}
