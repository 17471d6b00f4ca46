package api

import (
	"errors"
	"io"
	"mime"
	"net/http"

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
	if s.opts.WHIP == nil {
		signaling.WriteHTTPError(w, http.StatusNotFound, signaling.CodeBadRequest, "WHIP is not served here")
		return
	}
	room := r.PathValue("room")
	claims, ok := s.whipHost(w, r, room)
	if !ok {
		return
	}
	offer, ok := readBody(w, r, "application/sdp")
	if !ok {
		return
	}
	id, answer, err := s.opts.WHIP.Publish(room, claims.UID, claims.Tag, offer)
	switch {
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
	w.Header().Set("Location", "/whip/"+room+"/"+id)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

// serveWHIPSession takes PATCH (trickle ICE) and DELETE on a WHIP session,
// from the host that made it.
func (s *Server) serveWHIPSession(w http.ResponseWriter, r *http.Request) {
	if s.opts.WHIP == nil {
		signaling.WriteHTTPError(w, http.StatusNotFound, signaling.CodeBadRequest, "WHIP is not served here")
		return
	}
	room, id := r.PathValue("room"), r.PathValue("id")
	claims, ok := s.whipHost(w, r, room)
	if !ok {
		return
	}
	owner, err := s.opts.WHIP.Owner(room, id)
	if err != nil {
		signaling.WriteHTTPError(w, http.StatusNotFound, signaling.CodeSessionNotFound, err.Error())
		return
	}
	if owner != claims.UID {
		signaling.WriteHTTPError(w, http.StatusForbidden, signaling.CodeForbidden, "the session is another host's")
		return
	}
	if r.Method == http.MethodDelete {
		if err := s.opts.WHIP.End(room, id); err != nil {
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
	switch err := s.opts.WHIP.Trickle(room, id, frag); {
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

// whipHost admits a request that carries a host token of room, answering
// 401 (no or a bad token) or 403 (another room, an audience token) itself.
func (s *Server) whipHost(w http.ResponseWriter, r *http.Request, room string) (*signaling.Claims, bool) {
	c := s.opts.Gate.Caller(r)
	switch {
	case c.Claims == nil:
		s.opts.Gate.Unauthorized(w, r, c.Refused, "a host token of this room is required (Authorization: Bearer TOKEN)")
		return nil, false
	case c.Claims.Room != room:
		signaling.WriteHTTPError(w, http.StatusForbidden, signaling.CodeForbidden, "the token is for another room")
		return nil, false
	case !c.Claims.Role.Allows(signaling.RoleHost):
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
