package api

import (
	"context"
	"errors"
	"image"
	"image/png"
	"net/http"
	"time"

	"github.com/stoa-video/stoa/sfu"
	"github.com/stoa-video/stoa/signaling"
)

// snapshotTimeout bounds how long a snapshot waits for a keyframe unless the
// request says otherwise (`timeout=2s`, at most 10 s).
const snapshotTimeout = 3 * time.Second

// participantImage resolves {room}/{uid} and takes a snapshot of its video,
// answering the HTTP error itself when it cannot. The caller has admitted
// the request (claimAccess) and holds a job slot.
func (s *Server) participantImage(w http.ResponseWriter, r *http.Request) (image.Image, bool) {
	room, uid := r.PathValue("room"), r.PathValue("uid")
	rm := s.opts.SFU.Room(room)
	if rm == nil {
		signaling.WriteHTTPError(w, http.StatusNotFound, signaling.CodeRoomNotFound, "no room "+quote(room))
		return nil, false
	}
	p := rm.Participant(uid)
	if p == nil {
		signaling.WriteHTTPError(w, http.StatusNotFound, signaling.CodeParticipantNotFound, "no participant "+quote(uid)+" in room "+quote(room))
		return nil, false
	}
	timeout := snapshotTimeout
	if d, err := time.ParseDuration(r.URL.Query().Get("timeout")); err == nil && d > 0 && d <= 10*time.Second {
		timeout = d
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	img, err := p.Snapshot(ctx)
	switch {
	case err == nil:
		return img, true
	case errors.Is(err, sfu.ErrNoVideo):
		signaling.WriteHTTPError(w, http.StatusConflict, signaling.CodeNoVideo, err.Error())
	case errors.Is(err, sfu.ErrVideoMuted):
		signaling.WriteHTTPError(w, http.StatusConflict, signaling.CodeVideoMuted, err.Error())
	case errors.Is(err, sfu.ErrFrameTooLarge):
		s.log.Warn("snapshot refused: the publisher's keyframe claims an oversized picture", "room", room, "uid", uid, "err", err)
		signaling.WriteHTTPError(w, http.StatusUnprocessableEntity, signaling.CodeFrameTooLarge, err.Error())
	case errors.Is(err, sfu.ErrSnapshotTimeout):
		signaling.WriteHTTPError(w, http.StatusGatewayTimeout, signaling.CodeSnapshotTimeout, err.Error())
	default:
		s.log.Error("snapshot failed", "room", room, "uid", uid, "err", err)
		signaling.WriteHTTPError(w, http.StatusInternalServerError, signaling.CodeInternal, err.Error())
	}
	return nil, false
}

// serveSnapshot answers GET /api/rooms/{room}/participants/{uid}/snapshot
// with a JPEG (default, `format=jpeg`) or PNG (`format=png`) still of the
// participant's video.
func (s *Server) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	format := r.URL.Query().Get("format")
	if format != "" && format != "jpeg" && format != "jpg" && format != "png" {
		signaling.WriteHTTPError(w, http.StatusBadRequest, signaling.CodeBadRequest, "format must be jpeg or png")
		return
	}
	if _, ok := s.claimAccess(w, r); !ok {
		return
	}
	release, ok := s.startJob(w, r)
	if !ok {
		return
	}
	defer release()
	img, ok := s.participantImage(w, r)
	if !ok {
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if format == "png" {
		w.Header().Set("Content-Type", "image/png")
		_ = png.Encode(w, img)
		return
	}
	b, err := encodeJPEG(img)
	if err != nil {
		signaling.WriteHTTPError(w, http.StatusInternalServerError, signaling.CodeInternal, "encode the snapshot: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	_, _ = w.Write(b)
}
