package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/stoa-video/stoa/callcenter"
	"github.com/stoa-video/stoa/signaling"
)

// Client logs (POST /api/logs) and the webhook delivery log
// (GET /api/webhooks/deliveries); docs/call-center.md has the formats.

// servePostLogs answers POST /api/logs: a browser's logger files a batch,
// once however often it resends it, under its session and, for a call's
// tokens, with the call's record.
func (s *Server) servePostLogs(w http.ResponseWriter, r *http.Request) {
	svc := s.service(w)
	if svc == nil {
		return
	}
	c := s.opts.Gate.Caller(r)
	var from string
	callOfToken := ""
	switch {
	case c.Operator:
		from = "operator"
	case c.Claims != nil:
		from = "token:" + c.Claims.Room + "/" + c.Claims.UID
		if id, ok := callcenter.CallOf(c.Claims.Room); ok {
			callOfToken = id
			from = "customer"
			if c.Claims.UID != callcenter.CustomerUID(id) {
				from = "agent:" + c.Claims.UID
			}
		} else if c.Claims.Has(signaling.GrantCallCenter) {
			from = "agent:" + c.Claims.UID
		}
	case c.Dev:
		from = "dev"
	default:
		s.opts.Gate.Unauthorized(w, r, c.Refused, "a token (the customer's or an agent's) or an operator API key is required")
		return
	}
	if from != "operator" && from != "dev" {
		if ok, retry := s.logRate.Allow(from); !ok {
			tooMany(w, retry, "too many log batches for this token")
			return
		}
	}
	b, err := callcenter.DecodeLogBatch(http.MaxBytesReader(w, r.Body, callcenter.MaxLogBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		signaling.WriteHTTPError(w, http.StatusRequestEntityTooLarge, signaling.CodePayloadTooLarge,
			"a log batch is at most "+strconv.Itoa(callcenter.MaxLogBody)+" bytes: send fewer entries per batch")
		return
	case err != nil:
		s.callError(w, err)
		return
	}
	// A call's token files logs with its own call only; an agent's sign-in
	// token and the operator with any call.
	switch {
	case callOfToken != "" && b.Call == "":
		b.Call = callOfToken
	case callOfToken != "" && b.Call != callOfToken:
		signaling.WriteHTTPError(w, http.StatusForbidden, signaling.CodeForbidden, "the token is another call's")
		return
	case b.Call != "" && c.Claims != nil && !c.Operator && callOfToken == "" && !c.Claims.Has(signaling.GrantCallCenter):
		signaling.WriteHTTPError(w, http.StatusForbidden, signaling.CodeForbidden, "only a call's tokens and agents may file logs with a call")
		return
	}
	stored, dropped, dup, err := svc.StoreLogs(b, from)
	if err != nil {
		s.callError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"stored": stored, "dropped": dropped, "duplicate": dup})
}

// serveGetLogs answers GET /api/logs?session=S&limit=N for the operator: a
// client session's newest entries.
func (s *Server) serveGetLogs(w http.ResponseWriter, r *http.Request) {
	svc := s.service(w)
	if svc == nil || !s.opts.Gate.RequireOperator(w, r) {
		return
	}
	q := r.URL.Query()
	if q.Get("session") == "" {
		signaling.WriteHTTPError(w, http.StatusBadRequest, signaling.CodeBadRequest, "session is required")
		return
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	entries, err := svc.SessionLogs(q.Get("session"), limit)
	if err != nil {
		s.callError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"session": q.Get("session"), "entries": entries})
}

// serveDeliveries answers GET /api/webhooks/deliveries?state=&limit= for
// the operator: each event's delivery to each endpoint, newest first.
func (s *Server) serveDeliveries(w http.ResponseWriter, r *http.Request) {
	svc := s.service(w)
	if svc == nil || !s.opts.Gate.RequireOperator(w, r) {
		return
	}
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	list, err := svc.Deliveries(callcenter.DeliveryFilter{State: q.Get("state"), Limit: limit})
	if err != nil {
		s.callError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": list})
}
