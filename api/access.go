package api

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/stoa-video/stoa/signaling"
)

// claimAccess admits a claim request (snapshot, face, OCR): on the live
// routes an operator key or a token for that very room carrying
// GrantClaimTools, on the upload routes an operator key; then, for tokens,
// the per-token and per-address rates. It answers the error itself and returns who is
// asking, for the logs.
func (s *Server) claimAccess(w http.ResponseWriter, r *http.Request) (who string, ok bool) {
	room := r.PathValue("room")
	c := s.opts.Gate.Caller(r)
	switch {
	case c.Operator:
		who = "operator"
	case room != "" && c.Claims != nil && c.Claims.Room != room:
		signaling.WriteHTTPError(w, http.StatusForbidden, signaling.CodeForbidden, "the token is for another room")
		return "", false
	case room != "" && c.Claims != nil && !c.Claims.Has(signaling.GrantClaimTools):
		signaling.WriteHTTPError(w, http.StatusForbidden, signaling.CodeForbidden,
			"the token lacks the claim_tools grant: only an agent's token may take snapshots or run face and OCR checks")
		return "", false
	case room != "" && c.Claims != nil:
		who = "token:" + c.Claims.Room + "/" + c.Claims.UID
	case c.Dev:
		who = "dev"
	default:
		msg := "an operator API key is required"
		if room != "" {
			msg = "an operator API key, or an agent token of this room with the claim_tools grant, is required"
		}
		s.opts.Gate.Unauthorized(w, r, c.Refused, msg)
		return "", false
	}
	if who == "operator" || who == "dev" {
		return who, true // the operator's own calls are bounded by the job gate only
	}
	if ok, retry := s.byIP.Allow(c.IP); !ok {
		tooMany(w, retry, "too many claim requests from this address")
		return "", false
	}
	if ok, retry := s.byToken.Allow(who); !ok {
		tooMany(w, retry, "too many claim requests for this token")
		return "", false
	}
	return who, true
}

// tooMany answers 429 with a Retry-After of whole seconds, at least one.
func tooMany(w http.ResponseWriter, retry time.Duration, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(max(retry, time.Second).Seconds()))))
	signaling.WriteHTTPError(w, http.StatusTooManyRequests, signaling.CodeRateLimited, msg)
}
