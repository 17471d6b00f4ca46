package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stoa-video/stoa/recorder"
	"github.com/stoa-video/stoa/signaling"
)

// Recordings API: start (POST /api/rooms/{room}/recordings {uid} or {all}),
// stop (DELETE /api/recordings/{id}), list and describe, fetch a part's file
// (with range requests) and its signed manifest, and the public key that
// verifies manifests. An operator key, or a host token of the recording's
// room: a customer cannot start, stop or fetch recordings.

// recordingAccess admits the caller for room ("" when the recording's room
// is not known yet). It answers the error itself.
func (s *Server) recordingAccess(w http.ResponseWriter, r *http.Request, room string) bool {
	c := s.opts.Gate.Caller(r)
	switch {
	case c.Operator, c.Dev:
		return true
	case c.Claims == nil:
		s.opts.Gate.Unauthorized(w, r, c.Refused, "an operator API key, or a host token of the room, is required")
		return false
	case room == "" || c.Claims.Room != room:
		signaling.WriteHTTPError(w, http.StatusForbidden, signaling.CodeForbidden, "the token is for another room")
		return false
	case c.Claims.Role != signaling.RoleHost:
		signaling.WriteHTTPError(w, http.StatusForbidden, signaling.CodeForbidden, "only a host of the room may manage its recordings")
		return false
	}
	return true
}

func (s *Server) recordingsOff(w http.ResponseWriter) bool {
	if s.opts.Recordings == nil {
		signaling.WriteHTTPError(w, http.StatusServiceUnavailable, signaling.CodeRecordingsOff, "recordings are not configured on this server")
		return true
	}
	return false
}

type startRecording struct {
	UID string `json:"uid"`
	All bool   `json:"all"`
}

func (s *Server) serveStartRecording(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	if s.recordingsOff(w) || !s.recordingAccess(w, r, room) {
		return
	}
	var req startRecording
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil {
		signaling.WriteHTTPError(w, http.StatusBadRequest, signaling.CodeBadJSON, "the body must be {\"uid\": \"...\"} or {\"all\": true}")
		return
	}
	if (req.UID == "") == !req.All {
		signaling.WriteHTTPError(w, http.StatusBadRequest, signaling.CodeBadRequest, "give either a uid or all: true")
		return
	}
	rm := s.opts.SFU.Room(room)
	if rm == nil {
		signaling.WriteHTTPError(w, http.StatusNotFound, signaling.CodeRoomNotFound, "no such room: "+quote(room))
		return
	}
	var ids []string
	for _, p := range rm.Participants() {
		if !req.All && p.UID() != req.UID {
			continue
		}
		id, err := s.opts.Recordings.Start(p)
		if errors.Is(err, recorder.ErrNotPublished) && req.All {
			continue
		}
		if err != nil {
			status, code := http.StatusInternalServerError, signaling.CodeInternal
			if errors.Is(err, recorder.ErrNotPublished) {
				status, code = http.StatusConflict, signaling.CodeStreamNotFound
			}
			signaling.WriteHTTPError(w, status, code, err.Error())
			return
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		signaling.WriteHTTPError(w, http.StatusNotFound, signaling.CodeStreamNotFound, "nobody in the room publishes to record")
		return
	}
	if !req.All {
		writeJSON(w, http.StatusCreated, map[string]string{"id": ids[0]})
		return
	}
	writeJSON(w, http.StatusCreated, map[string][]string{"ids": ids})
}

func (s *Server) serveRecording(w http.ResponseWriter, r *http.Request) {
	if s.recordingsOff(w) {
		return
	}
	id := r.PathValue("id")
	info, ok := s.opts.Recordings.Get(id)
	if !ok {
		if s.recordingAccess(w, r, "") { // an operator learns it is unknown; others, nothing
			signaling.WriteHTTPError(w, http.StatusNotFound, signaling.CodeRecordingNotFound, "no such recording")
		}
		return
	}
	if !s.recordingAccess(w, r, info.Room) {
		return
	}
	switch r.Method {
	case http.MethodDelete:
		if info.State != "recording" { // a finished recording: delete its files (evidence: the operator only)
			if c := s.opts.Gate.Caller(r); !c.Operator && !c.Dev {
				signaling.WriteHTTPError(w, http.StatusForbidden, signaling.CodeForbidden, "only the operator may delete a recording")
				return
			}
			if err := s.opts.Recordings.Delete(id); err != nil {
				signaling.WriteHTTPError(w, http.StatusInternalServerError, signaling.CodeInternal, err.Error())
				return
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		info, err := s.opts.Recordings.Stop(id)
		if err != nil && !errors.Is(err, recorder.ErrNotFound) {
			s.opts.Logger.Warn("stop recording", "id", id, "err", err)
		}
		writeJSON(w, http.StatusOK, info)
	default:
		writeJSON(w, http.StatusOK, info)
	}
}

func (s *Server) serveRecordingList(w http.ResponseWriter, r *http.Request) {
	room := r.URL.Query().Get("room")
	if s.recordingsOff(w) || !s.recordingAccess(w, r, room) {
		return
	}
	q := r.URL.Query()
	f := recorder.Filter{Room: room, UID: q.Get("uid"), Tag: q.Get("tag")}
	for _, b := range []struct {
		name string
		t    *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(b.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				signaling.WriteHTTPError(w, http.StatusBadRequest, signaling.CodeBadRequest, b.name+" must be an RFC 3339 time")
				return
			}
			*b.t = t
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"recordings": s.opts.Recordings.List(f)})
}

// recordingFile admits a request for one of a recording's files ({id} and
// {file} in the path; its manifest too when manifests is set) and returns
// the recording, the file's name and its path. It answers the error itself.
func (s *Server) recordingFile(w http.ResponseWriter, r *http.Request, manifests bool) (info recorder.Summary, name, path string, ok bool) {
	if s.recordingsOff(w) {
		return info, "", "", false
	}
	info, ok = s.opts.Recordings.Get(r.PathValue("id"))
	if !ok {
		signaling.WriteHTTPError(w, http.StatusNotFound, signaling.CodeRecordingNotFound, "no such recording")
		return info, "", "", false
	}
	if !s.recordingAccess(w, r, info.Room) {
		return info, "", "", false
	}
	name = r.PathValue("file")
	known := false
	for _, p := range info.Parts {
		known = known || name == p.File || (manifests && name == p.File+".json")
	}
	path, err := s.opts.Recordings.FilePath(name)
	if !known || err != nil {
		signaling.WriteHTTPError(w, http.StatusNotFound, signaling.CodeRecordingNotFound, "no such file in this recording")
		return info, "", "", false
	}
	return info, name, path, true
}

// serveRecordingFile serves a part (GET /api/recordings/{id}/files/{file}),
// with range requests for seeking, or its manifest (file + ".json").
func (s *Server) serveRecordingFile(w http.ResponseWriter, r *http.Request) {
	_, name, path, ok := s.recordingFile(w, r, true)
	if !ok {
		return
	}
	f, err := os.Open(path)
	if err != nil {
		signaling.WriteHTTPError(w, http.StatusNotFound, signaling.CodeRecordingNotFound, "the file is gone")
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		signaling.WriteHTTPError(w, http.StatusInternalServerError, signaling.CodeInternal, "stat the file")
		return
	}
	switch {
	case strings.HasSuffix(name, ".json"):
		w.Header().Set("Content-Type", "application/json")
	case filepath.Ext(name) == ".mkv":
		w.Header().Set("Content-Type", "video/x-matroska")
	default:
		w.Header().Set("Content-Type", "video/webm")
	}
	http.ServeContent(w, r, name, st.ModTime(), f)
}

// serveRecordingKey gives the public key that verifies the manifests.
func (s *Server) serveRecordingKey(w http.ResponseWriter, r *http.Request) {
	if s.recordingsOff(w) {
		return
	}
	key := s.opts.Recordings.PublicKey()
	if key == nil {
		signaling.WriteHTTPError(w, http.StatusNotFound, signaling.CodeRecordingNotFound, "manifests are not signed on this server")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"algorithm": "Ed25519", "public_key": recorder.EncodePublicKey(key)})
}
