package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	qr "github.com/piglig/go-qr"

	"github.com/stoa-video/stoa/callcenter"
	"github.com/stoa-video/stoa/signaling"
)

// The call center's routes (docs/call-center.md): the operator creates a
// call and gets the customer's link; the customer's page queues it and
// watches it; agents' consoles ring, answer, reject and end; the records
// are read by the operator and by agents. The work is package calls'; the
// handlers say who may ask and mint the tokens.

// CallCenter is what the call center routes need.
type CallCenter struct {
	// Service runs the queue, presence, records, logs and webhooks; nil
	// answers 503 calls_off.
	Service *callcenter.Service
	// Tokens mints the customers' link tokens and the answering agents'
	// room tokens; *signaling.TokenIssuer is one.
	Tokens TokenIssuer
	// PublicURL (scheme://host[:port]) is what the customers' links and QR
	// codes point at; empty means the scheme and Host the request came with.
	PublicURL string
	// Heartbeat is the interval of the event streams' keep-alive comments;
	// 0 means 15 s.
	Heartbeat time.Duration
}

// TokenIssuer mints participant tokens; *signaling.TokenIssuer is one.
type TokenIssuer interface {
	Issue(room, uid string, role signaling.Role, tag string, ttl time.Duration, can ...signaling.Grant) (string, time.Time, error)
}

var _ TokenIssuer = (*signaling.TokenIssuer)(nil)

// Tags of the call center's tokens.
const (
	tagCustomer = "customer"
	tagAgent    = "agent"
)

// service returns the call center, or answers 503 when there is none.
func (s *Server) service(w http.ResponseWriter) *callcenter.Service {
	if s.opts.Calls.Service == nil || s.opts.Calls.Tokens == nil {
		signaling.WriteHTTPError(w, http.StatusServiceUnavailable, signaling.CodeCallsOff, "this server does not run the call center")
		return nil
	}
	return s.opts.Calls.Service
}

// callError answers err from package calls with its status and code.
func (s *Server) callError(w http.ResponseWriter, err error) {
	status, code := http.StatusInternalServerError, signaling.CodeInternal
	switch {
	case errors.Is(err, callcenter.ErrNotFound):
		status, code = http.StatusNotFound, signaling.CodeCallNotFound
	case errors.Is(err, callcenter.ErrTaken):
		status, code = http.StatusConflict, signaling.CodeCallTaken
	case errors.Is(err, callcenter.ErrState):
		status, code = http.StatusConflict, signaling.CodeCallState
	case errors.Is(err, callcenter.ErrEnded):
		status, code = http.StatusConflict, signaling.CodeCallEnded
	case errors.Is(err, callcenter.ErrAgentBusy):
		status, code = http.StatusConflict, signaling.CodeAgentBusy
	case errors.Is(err, callcenter.ErrNotAgent):
		status, code = http.StatusForbidden, signaling.CodeForbidden
	case errors.Is(err, callcenter.ErrBadInput):
		status, code = http.StatusBadRequest, signaling.CodeBadRequest
	case errors.Is(err, callcenter.ErrClosed):
		status, code = http.StatusServiceUnavailable, signaling.CodeCallsOff
	default:
		s.log.Error("call center", "err", err)
		signaling.WriteHTTPError(w, status, code, "the call center failed; see the server log")
		return
	}
	signaling.WriteHTTPError(w, status, code, err.Error())
}

// decodeBody reads a JSON body of at most limit bytes into v, answering
// 413 or 400 itself.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any, shape string) bool {
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit)).Decode(v)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		signaling.WriteHTTPError(w, http.StatusRequestEntityTooLarge, signaling.CodePayloadTooLarge,
			"the body is larger than "+strconv.FormatInt(limit, 10)+" bytes")
		return false
	case err != nil && !errors.Is(err, io.EOF):
		signaling.WriteHTTPError(w, http.StatusBadRequest, signaling.CodeBadJSON, "body must be JSON "+shape+": "+err.Error())
		return false
	}
	return true
}

// serveCreateCall answers POST /api/calls: the operator (or dev mode)
// creates a call for a claim and gets the customer's link and its QR code.
func (s *Server) serveCreateCall(w http.ResponseWriter, r *http.Request) {
	svc := s.service(w)
	if svc == nil {
		return
	}
	if c := s.opts.Gate.Caller(r); !c.Operator && !c.Dev {
		s.opts.Gate.Unauthorized(w, r, c.Refused, "an operator API key is required to create calls")
		return
	}
	var req struct{ Claim, Customer string }
	if !decodeBody(w, r, 4096, &req, "{claim, customer}") {
		return
	}
	rec, err := svc.Create(req.Claim, req.Customer)
	if err != nil {
		s.callError(w, err)
		return
	}
	// The customer's token lives as long as the call's link.
	tok, _, err := s.opts.Calls.Tokens.Issue(callcenter.Room(rec.ID), callcenter.CustomerUID(rec.ID), signaling.RoleHost, tagCustomer,
		time.Until(time.UnixMilli(rec.ExpiresAt)))
	if err != nil {
		s.callError(w, err)
		return
	}
	link := "/call?call=" + rec.ID + "&token=" + url.QueryEscape(tok)
	code, err := qrDataURL(s.publicBase(r) + link)
	if err != nil {
		s.callError(w, err)
		return
	}
	s.log.Info("call link issued", "call", rec.ID, "claim", rec.Claim)
	writeJSON(w, http.StatusCreated, map[string]any{"id": rec.ID, "claim": rec.Claim, "customer": rec.Customer,
		"room": callcenter.Room(rec.ID), "expiresAt": rec.ExpiresAt, "link": link, "token": tok, "qr": code})
}

// publicBase is scheme://host the customer's link is absolute under.
func (s *Server) publicBase(r *http.Request) string {
	if u := strings.TrimRight(s.opts.Calls.PublicURL, "/"); u != "" {
		return u
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// qrDataURL draws link as a QR code in a PNG data URL. piglig/go-qr is
// chosen among the Go QR libraries because it is maintained (2025-26
// releases), has no dependencies beyond the standard library, and decodes
// too, which lets the tests read the code back; skip2/go-qrcode has had no
// release since 2020, and yeqown/go-qrcode's PNG writer is a separate module
// with an image-drawing dependency tree. Medium error correction (15 %) is
// what a phone camera reading a screen needs.
func qrDataURL(link string) (string, error) {
	code, err := qr.EncodeText(link, qr.Medium)
	if err != nil {
		return "", err
	}
	png, err := code.ToPNGBytes(qr.NewQrCodeImgConfig(6, 4))
	if err != nil {
		return "", err
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(png), nil
}

// eventCaller is the Caller of an event stream, whose token may come in the
// query (?token=), since a browser's EventSource cannot set headers.
func (s *Server) eventCaller(r *http.Request) signaling.Caller {
	if tok := r.URL.Query().Get("token"); tok != "" && r.Header.Get("Authorization") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return s.opts.Gate.Caller(r)
}

// customerAccess admits the customer's token of call id.
func (s *Server) customerAccess(w http.ResponseWriter, r *http.Request, c signaling.Caller, id string) bool {
	switch {
	case c.Claims == nil:
		s.opts.Gate.Unauthorized(w, r, c.Refused, "the customer's token of this call is required")
		return false
	case c.Claims.Room != callcenter.Room(id) || c.Claims.UID != callcenter.CustomerUID(id):
		signaling.WriteHTTPError(w, http.StatusForbidden, signaling.CodeForbidden, "the token is not this call's customer's")
		return false
	}
	return true
}

// agentAccess admits an agent's sign-in token (the call_center grant) and
// returns the agent's id and token claims.
func (s *Server) agentAccess(w http.ResponseWriter, r *http.Request, c signaling.Caller) (*signaling.Claims, bool) {
	switch {
	case c.Claims == nil:
		s.opts.Gate.Unauthorized(w, r, c.Refused, "an agent token with the call_center grant is required")
		return nil, false
	case !c.Claims.Has(signaling.GrantCallCenter):
		signaling.WriteHTTPError(w, http.StatusForbidden, signaling.CodeForbidden,
			"the token lacks the call_center grant: only an agent's sign-in token may use the call center console")
		return nil, false
	}
	return c.Claims, true
}

// serveRequestCall answers POST /api/calls/{id}/request: the customer's
// page queues its call, with what it says about its device and network.
func (s *Server) serveRequestCall(w http.ResponseWriter, r *http.Request) {
	svc, id := s.service(w), r.PathValue("id")
	if svc == nil || !s.customerAccess(w, r, s.opts.Gate.Caller(r), id) {
		return
	}
	var req struct{ Device, Network json.RawMessage }
	if !decodeBody(w, r, 2*callcenter.MaxDeviceBytes+1024, &req, "{device, network}") {
		return
	}
	pos, state, err := svc.Request(id, req.Device, req.Network)
	if err != nil {
		s.callError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"position": pos, "state": state})
}

// serveCancelCall answers POST /api/calls/{id}/cancel: the customer stops waiting.
func (s *Server) serveCancelCall(w http.ResponseWriter, r *http.Request) {
	svc, id := s.service(w), r.PathValue("id")
	if svc == nil || !s.customerAccess(w, r, s.opts.Gate.Caller(r), id) {
		return
	}
	if err := svc.Cancel(id); err != nil {
		s.callError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"state": callcenter.StateCancelled})
}

// serveCallEvents answers GET /api/calls/{id}/events: the customer's page's
// stream of position, answered, timeout and ended.
func (s *Server) serveCallEvents(w http.ResponseWriter, r *http.Request) {
	svc, id := s.service(w), r.PathValue("id")
	if svc == nil || !s.customerAccess(w, r, s.eventCaller(r), id) {
		return
	}
	st, err := svc.WatchCall(id)
	if err != nil {
		s.callError(w, err)
		return
	}
	defer st.Close()
	s.stream(w, r, st)
}

// serveAgentEvents answers GET /api/agents/events: an agent's console signs
// in (online) and gets presence, ringing and stop-ringing.
func (s *Server) serveAgentEvents(w http.ResponseWriter, r *http.Request) {
	svc := s.service(w)
	if svc == nil {
		return
	}
	claims, ok := s.agentAccess(w, r, s.eventCaller(r))
	if !ok {
		return
	}
	st, err := svc.ConnectAgent(claims.UID)
	if err != nil {
		s.callError(w, err)
		return
	}
	defer st.Close()
	s.stream(w, r, st)
}

// servePresence answers PUT /api/agents/me/presence {"state": "online"|"away"}.
func (s *Server) servePresence(w http.ResponseWriter, r *http.Request) {
	svc := s.service(w)
	if svc == nil {
		return
	}
	claims, ok := s.agentAccess(w, r, s.opts.Gate.Caller(r))
	if !ok {
		return
	}
	var req struct{ State callcenter.Presence }
	if !decodeBody(w, r, 1024, &req, `{"state": "online"|"away"}`) {
		return
	}
	state, err := svc.SetPresence(claims.UID, req.State)
	if err != nil {
		s.callError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"state": state})
}

// serveAnswerCall answers POST /api/calls/{id}/answer: the first agent gets
// the call and a token for its room; the others 409 call_taken.
func (s *Server) serveAnswerCall(w http.ResponseWriter, r *http.Request) {
	svc, id := s.service(w), r.PathValue("id")
	if svc == nil {
		return
	}
	claims, ok := s.agentAccess(w, r, s.opts.Gate.Caller(r))
	if !ok {
		return
	}
	if _, ok := callcenter.CallOf(callcenter.Room(id)); !ok {
		signaling.WriteHTTPError(w, http.StatusNotFound, signaling.CodeCallNotFound, "no call has id "+quote(id))
		return
	}
	// The room token is minted first, so an answered call always comes with
	// one; it lives as long as the agent's sign-in.
	ttl := time.Hour
	if claims.ExpiresAt != nil {
		ttl = time.Until(claims.ExpiresAt.Time)
	}
	tok, exp, err := s.opts.Calls.Tokens.Issue(callcenter.Room(id), claims.UID, signaling.RoleHost, tagAgent, ttl, signaling.GrantClaimTools)
	if err != nil {
		s.callError(w, err)
		return
	}
	rec, err := svc.Answer(id, claims.UID)
	if err != nil {
		s.callError(w, err)
		return
	}
	long, grace := svc.LongCall()
	writeJSON(w, http.StatusOK, map[string]any{"room": callcenter.Room(id), "token": tok, "expiresAt": exp.UnixMilli(),
		"longCallMs": long.Milliseconds(), "graceMs": grace.Milliseconds(), "call": rec})
}

// serveRejectCall answers POST /api/calls/{id}/reject: this agent's consoles
// stop ringing for the call.
func (s *Server) serveRejectCall(w http.ResponseWriter, r *http.Request) {
	svc, id := s.service(w), r.PathValue("id")
	if svc == nil {
		return
	}
	claims, ok := s.agentAccess(w, r, s.opts.Gate.Caller(r))
	if !ok {
		return
	}
	if err := svc.Reject(id, claims.UID); err != nil {
		s.callError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "rejected": true})
}

// serveAudioOnly answers POST /api/calls/{id}/audio-only: the answering
// agent asks the customer's page to turn its camera off and go on with voice.
func (s *Server) serveAudioOnly(w http.ResponseWriter, r *http.Request) {
	svc, id := s.service(w), r.PathValue("id")
	if svc == nil {
		return
	}
	claims, ok := s.agentAccess(w, r, s.opts.Gate.Caller(r))
	if !ok {
		return
	}
	if err := svc.AskAudioOnly(id, claims.UID); err != nil {
		s.callError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "asked": "audio-only"})
}

// serveEndCall answers POST /api/calls/{id}/end: the answering agent (its
// sign-in token, or its token of the call's room) or the operator files the
// call with an outcome.
func (s *Server) serveEndCall(w http.ResponseWriter, r *http.Request) {
	svc, id := s.service(w), r.PathValue("id")
	if svc == nil {
		return
	}
	c := s.opts.Gate.Caller(r)
	agent := ""
	switch {
	case c.Operator, c.Dev:
	case c.Claims == nil:
		s.opts.Gate.Unauthorized(w, r, c.Refused, "the answering agent's token or an operator API key is required")
		return
	case c.Claims.Has(signaling.GrantCallCenter) || (c.Claims.Room == callcenter.Room(id) && c.Claims.Tag == tagAgent):
		agent = c.Claims.UID
	default:
		signaling.WriteHTTPError(w, http.StatusForbidden, signaling.CodeForbidden, "only the answering agent or the operator may end a call")
		return
	}
	var req struct {
		Outcome    callcenter.Outcome `json:"outcome"`
		IncidentNo string             `json:"incidentNo"`
		Notes      string             `json:"notes"`
	}
	if !decodeBody(w, r, 16<<10, &req, "{outcome, incidentNo, notes}") {
		return
	}
	rec, err := svc.End(id, agent, callcenter.EndInfo{Outcome: req.Outcome, IncidentNo: req.IncidentNo, Notes: req.Notes})
	if err != nil {
		s.callError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

// recordAccess admits a reader of call records: the operator, dev mode, or
// an agent's sign-in token.
func (s *Server) recordAccess(w http.ResponseWriter, r *http.Request) bool {
	c := s.opts.Gate.Caller(r)
	switch {
	case c.Operator, c.Dev:
		return true
	case c.Claims == nil:
		s.opts.Gate.Unauthorized(w, r, c.Refused, "an operator API key or an agent token with the call_center grant is required")
		return false
	case !c.Claims.Has(signaling.GrantCallCenter):
		signaling.WriteHTTPError(w, http.StatusForbidden, signaling.CodeForbidden, "only agents (the call_center grant) and the operator may read call records")
		return false
	}
	return true
}

// serveCallList answers GET /api/calls?claim=&agent=&state=&since=&until=&limit=.
func (s *Server) serveCallList(w http.ResponseWriter, r *http.Request) {
	svc := s.service(w)
	if svc == nil || !s.recordAccess(w, r) {
		return
	}
	q := r.URL.Query()
	f := callcenter.Filter{Claim: q.Get("claim"), Agent: q.Get("agent"), State: callcenter.State(q.Get("state"))}
	var err error
	if f.Since, err = parseTime(q.Get("since")); err == nil {
		f.Until, err = parseTime(q.Get("until"))
	}
	if err == nil && q.Get("limit") != "" {
		f.Limit, err = strconv.Atoi(q.Get("limit"))
	}
	if err != nil {
		signaling.WriteHTTPError(w, http.StatusBadRequest, signaling.CodeBadRequest,
			"since and until are RFC 3339 times or Unix milliseconds, limit a number: "+err.Error())
		return
	}
	list, err := svc.List(f)
	if err != nil {
		s.callError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"calls": list})
}

// parseTime reads an RFC 3339 time or Unix milliseconds; "" is the zero time.
func parseTime(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.UnixMilli(n), nil
	}
	return time.Parse(time.RFC3339, v)
}

// serveCall answers GET /api/calls/{id}: the record with its client logs.
func (s *Server) serveCall(w http.ResponseWriter, r *http.Request) {
	svc := s.service(w)
	if svc == nil || !s.recordAccess(w, r) {
		return
	}
	rec, err := svc.Get(r.PathValue("id"), true)
	if err != nil {
		s.callError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}
