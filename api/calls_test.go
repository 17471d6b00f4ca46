package api_test

import (
	"bytes"
	"encoding/base64"
	"image/png"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	qr "github.com/piglig/go-qr"

	"github.com/stoa-video/stoa/api"
	"github.com/stoa-video/stoa/callcenter"
	"github.com/stoa-video/stoa/signaling"
)

// TestCallCenterFlow is the queue end to end: two customers queue (positions
// 1 and 2), both agents' consoles ring for both, agent 1 answers the first
// (agent 2 stops ringing for it and is refused 409 when it answers too), the
// busy agent stops ringing, and after it files the call it is online and
// rings again.
func TestCallCenterFlow(t *testing.T) {
	cs := newCallCenter(t)
	c1, c2 := cs.create("CLM-1", "Wang Fang"), cs.create("CLM-2", "Li Lei")
	a1tok, a2tok := cs.agentToken("agent-1"), cs.agentToken("agent-2")
	a1 := cs.events("agent 1", "/api/agents/events", a1tok, false)
	a2 := cs.events("agent 2", "/api/agents/events", a2tok, true)
	for _, a := range []*sseStream{a1, a2} {
		if ev := a.next(); ev.Name != "presence" || ev.Data["state"] != "online" {
			t.Fatalf("%s: first event %v, want presence online", a.name, ev)
		}
	}
	cust1 := cs.events("customer 1", "/api/calls/"+c1.ID+"/events", c1.Token, true)

	if pos := cs.request(c1); pos != 1 {
		t.Fatalf("first customer's position %d, want 1", pos)
	}
	if pos := cs.request(c2); pos != 2 {
		t.Fatalf("second customer's position %d, want 2", pos)
	}
	if pos := cs.request(c1); pos != 1 {
		t.Fatalf("asking again while queued: position %d, want 1 still", pos)
	}
	if ev, _ := cust1.until("position", nil); ev.Data["position"] != 1.0 {
		t.Fatalf("customer 1's position event %v", ev.Data)
	}
	cust2 := cs.events("customer 2", "/api/calls/"+c2.ID+"/events", c2.Token, false)
	if ev := cust2.next(); ev.Name != "position" || ev.Data["position"] != 2.0 {
		t.Fatalf("customer 2's first event %v, want position 2", ev)
	}
	for _, a := range []*sseStream{a1, a2} {
		ring, _ := a.until("ringing", callID(c1.ID))
		call := ring.Data["call"].(map[string]any)
		if call["claim"] != "CLM-1" || call["customer"] != "Wang Fang" || call["position"] != 1.0 ||
			call["device"].(map[string]any)["platform"] != "iOS" || call["queuedAt"].(float64) <= 0 {
			t.Fatalf("%s: ringing %v", a.name, call)
		}
		a.until("ringing", callID(c2.ID))
	}

	st, ans := cs.do("POST", "/api/calls/"+c1.ID+"/answer", a1tok, nil)
	if st != http.StatusOK {
		t.Fatalf("agent 1 answers: %d %v", st, ans)
	}
	if ans["room"] != callcenter.Room(c1.ID) || ans["longCallMs"] != float64(callcenter.DefaultLongCall.Milliseconds()) ||
		ans["graceMs"] != float64(callcenter.DefaultLongCallGrace.Milliseconds()) {
		t.Fatalf("answer reply %v", ans)
	}
	claims, err := cs.tokens.Verify(ans["token"].(string))
	if err != nil || claims.Room != callcenter.Room(c1.ID) || claims.UID != "agent-1" || claims.Tag != "agent" ||
		!claims.Has(signaling.GrantClaimTools) || claims.Has(signaling.GrantCallCenter) {
		t.Fatalf("agent's room token: %+v, %v", claims, err)
	}
	if ev, _ := a2.until("stop-ringing", callID(c1.ID)); ev.Data["reason"] != "answered" {
		t.Fatalf("agent 2's stop-ringing %v", ev.Data)
	}
	if st, out := cs.do("POST", "/api/calls/"+c1.ID+"/answer", a2tok, nil); st != http.StatusConflict || out["code"] != "call_taken" {
		t.Fatalf("agent 2 answers the taken call: %d %v", st, out)
	}
	if ev, _ := cust1.until("answered", nil); ev.Data["agent"] != "agent-1" || ev.Data["room"] != callcenter.Room(c1.ID) {
		t.Fatalf("customer 1's answered %v", ev.Data)
	}
	if ev, _ := cust2.until("position", nil); ev.Data["position"] != 1.0 {
		t.Fatalf("customer 2 moves up: %v", ev.Data)
	}
	// The busy agent stops ringing for the other call; agent 2 rings on, at its new position.
	if ev, _ := a1.until("stop-ringing", callID(c2.ID)); ev.Data["reason"] != "busy" {
		t.Fatalf("busy agent's stop-ringing %v", ev.Data)
	}
	a1.until("presence", state("busy"))
	if ev, _ := a2.until("ringing", callID(c2.ID)); ev.Data["call"].(map[string]any)["position"] != 1.0 {
		t.Fatalf("agent 2's ringing update %v", ev.Data)
	}
	if st, out := cs.do("POST", "/api/calls/"+c2.ID+"/answer", a1tok, nil); st != http.StatusConflict || out["code"] != "agent_busy" {
		t.Fatalf("a busy agent answers another call: %d %v", st, out)
	}
	if st, out := cs.do("POST", "/api/calls/"+c1.ID+"/end", a2tok, map[string]string{"outcome": "resolved"}); st != http.StatusForbidden {
		t.Fatalf("another agent ends the call: %d %v", st, out)
	}
	if st, out := cs.do("POST", "/api/calls/"+c1.ID+"/end", a1tok, map[string]string{"outcome": "fixed"}); st != http.StatusBadRequest {
		t.Fatalf("an outcome not in the list: %d %v", st, out)
	}

	st, rec := cs.do("POST", "/api/calls/"+c1.ID+"/end", ans["token"].(string),
		map[string]string{"outcome": "resolved", "incidentNo": "INC-77", "notes": "windscreen, photos taken"})
	if st != http.StatusOK {
		t.Fatalf("agent 1 ends the call with its room token: %d %v", st, rec)
	}
	if ev, _ := cust1.until("ended", nil); ev.Data["outcome"] != "resolved" {
		t.Fatalf("customer 1's ended %v", ev.Data)
	}
	// Online again: it rings for the call still queued, and nothing rang while it was busy.
	_, skipped := a1.until("presence", state("online"))
	for _, ev := range skipped {
		if ev.Name == "ringing" {
			t.Fatalf("the busy agent rang: %v", ev)
		}
	}
	a1.until("ringing", callID(c2.ID))

	got := cs.record(c1.ID)
	if got["state"] != "ended" || got["agent"] != "agent-1" || got["outcome"] != "resolved" || got["incidentNo"] != "INC-77" ||
		got["claim"] != "CLM-1" || got["customer"] != "Wang Fang" || got["endedBy"] != "agent" {
		t.Fatalf("record %v", got)
	}
	q, a, e := got["queuedAt"].(float64), got["answeredAt"].(float64), got["endedAt"].(float64)
	if !(q > 0 && q <= a && a <= e) || got["waitMs"] != a-q || got["talkMs"] != e-a {
		t.Fatalf("record times: queued %v answered %v ended %v wait %v talk %v", q, a, e, got["waitMs"], got["talkMs"])
	}
	if got["device"].(map[string]any)["ua"] != "Mozilla/5.0 (iPhone)" {
		t.Fatalf("record device %v", got["device"])
	}
	if st, out := cs.do("POST", "/api/calls/"+c1.ID+"/request", c1.Token, map[string]any{}); st != http.StatusConflict || out["code"] != "call_ended" {
		t.Fatalf("the link of an ended call: %d %v", st, out)
	}
}

// TestCallCenterAway: an away agent's console stops ringing for every
// call, rings for none while away, and rings again once online.
func TestCallCenterAway(t *testing.T) {
	cs := newCallCenter(t)
	tok := cs.agentToken("agent-1")
	a := cs.events("agent", "/api/agents/events", tok, false)
	c1 := cs.create("CLM-1", "Wang Fang")
	cs.request(c1)
	a.until("ringing", callID(c1.ID))

	if st, out := cs.do("PUT", "/api/agents/me/presence", tok, map[string]string{"state": "away"}); st != http.StatusOK || out["state"] != "away" {
		t.Fatalf("go away: %d %v", st, out)
	}
	if ev, _ := a.until("stop-ringing", callID(c1.ID)); ev.Data["reason"] != "away" {
		t.Fatalf("stop-ringing %v", ev.Data)
	}
	a.until("presence", state("away"))
	c2 := cs.create("CLM-2", "Li Lei")
	cs.request(c2)
	if st, out := cs.do("PUT", "/api/agents/me/presence", tok, map[string]string{"state": "lunch"}); st != http.StatusBadRequest {
		t.Fatalf("an unknown state: %d %v", st, out)
	}
	if st, _ := cs.do("PUT", "/api/agents/me/presence", tok, map[string]string{"state": "online"}); st != http.StatusOK {
		t.Fatal("back online refused")
	}
	_, skipped := a.until("presence", state("online"))
	for _, ev := range skipped {
		if ev.Name == "ringing" {
			t.Fatalf("the away agent rang: %v", ev)
		}
	}
	a.until("ringing", callID(c1.ID))
	a.until("ringing", callID(c2.ID))
}

// TestCallCenterTimeoutRejectCancel: a call nobody answers times out (the
// customer is told, the record says so, and the same link queues it again);
// a rejecting agent stops ringing for that call only; a customer who
// cancels stops every console ringing.
func TestCallCenterTimeoutRejectCancel(t *testing.T) {
	cs := newCallCenter(t, func(c *ccConfig) { c.calls.RingTimeout = 300 * time.Millisecond })
	a1tok, a2tok := cs.agentToken("agent-1"), cs.agentToken("agent-2")
	a1 := cs.events("agent 1", "/api/agents/events", a1tok, false)
	a2 := cs.events("agent 2", "/api/agents/events", a2tok, false)
	c := cs.create("CLM-9", "Zhao Min")
	cust := cs.events("customer", "/api/calls/"+c.ID+"/events", c.Token, false)
	cs.request(c)
	a1.until("ringing", callID(c.ID))
	a2.until("ringing", callID(c.ID))

	if st, _ := cs.do("POST", "/api/calls/"+c.ID+"/reject", a1tok, nil); st != http.StatusOK {
		t.Fatal("reject refused")
	}
	if ev, _ := a1.until("stop-ringing", callID(c.ID)); ev.Data["reason"] != "rejected" {
		t.Fatalf("agent 1's stop-ringing %v", ev.Data)
	}
	ev, skipped := cust.until("timeout", nil)
	if ev.Data["message"] != callcenter.TimeoutMessage {
		t.Fatalf("timeout event %v", ev.Data)
	}
	if ev, skipped := a2.until("stop-ringing", callID(c.ID)); ev.Data["reason"] != "timeout" {
		t.Fatalf("agent 2's stop-ringing %v (after %v)", ev.Data, skipped)
	}
	for _, ev := range skipped {
		if ev.Name != "position" {
			t.Fatalf("customer got %v before timeout", ev)
		}
	}
	if got := cs.record(c.ID); got["state"] != "timeout" || got["answeredAt"] != nil || got["attempts"] != 1.0 {
		t.Fatalf("record after timeout: %v", got)
	}

	// The customer tries again: queued anew, and it rings again for both (a rejection is per attempt).
	cs.request(c)
	a1.until("ringing", callID(c.ID))
	a2.until("ringing", callID(c.ID))
	if st, _ := cs.do("POST", "/api/calls/"+c.ID+"/cancel", c.Token, nil); st != http.StatusOK {
		t.Fatal("cancel refused")
	}
	for _, a := range []*sseStream{a1, a2} {
		if ev, _ := a.until("stop-ringing", callID(c.ID)); ev.Data["reason"] != "cancelled" {
			t.Fatalf("%s: stop-ringing %v", a.name, ev.Data)
		}
	}
	if ev, _ := cust.until("ended", nil); ev.Data["outcome"] != "cancelled" {
		t.Fatalf("customer's ended %v", ev.Data)
	}
	if got := cs.record(c.ID); got["state"] != "cancelled" || got["attempts"] != 2.0 {
		t.Fatalf("record after cancel: %v", got)
	}
	if st, out := cs.do("POST", "/api/calls/"+c.ID+"/answer", a2tok, nil); st != http.StatusConflict || out["code"] != "call_state" {
		t.Fatalf("answer a cancelled call: %d %v", st, out)
	}
}

// TestCallCenterAccess: who may do what.
func TestCallCenterAccess(t *testing.T) {
	cs := newCallCenter(t)
	c, other := cs.create("CLM-1", "Wang Fang"), cs.create("CLM-2", "Li Lei")
	noGrant := cs.agentToken("agent-x", signaling.GrantClaimTools)
	agent := cs.agentToken("agent-1")

	// The operator mints an agent's sign-in token with the new grant.
	st, out := cs.do("POST", "/api/token", operatorKey, map[string]any{"room": "call-center", "uid": "agent-7", "tag": "agent",
		"can": []string{"call_center", "claim_tools"}})
	if st != http.StatusOK {
		t.Fatalf("operator mints an agent token: %d %v", st, out)
	}
	if claims, err := cs.tokens.Verify(out["token"].(string)); err != nil || !claims.Has(signaling.GrantCallCenter) {
		t.Fatalf("minted token: %+v %v", claims, err)
	}
	if _, err := cs.openEvents("no grant", "/api/agents/events", noGrant, false); err == nil || err.(*httpStatusError).status != http.StatusForbidden {
		t.Fatalf("an agent token without call_center signs in: %v", err)
	}
	if _, err := cs.openEvents("customer", "/api/agents/events", c.Token, true); err == nil || err.(*httpStatusError).status != http.StatusForbidden {
		t.Fatalf("a customer token signs in as an agent: %v", err)
	}
	if _, err := cs.openEvents("nobody", "/api/agents/events", "", false); err == nil || err.(*httpStatusError).status != http.StatusUnauthorized {
		t.Fatalf("no token signs in: %v", err)
	}
	if _, err := cs.openEvents("other customer", "/api/calls/"+c.ID+"/events", other.Token, true); err == nil || err.(*httpStatusError).status != http.StatusForbidden {
		t.Fatalf("another call's customer watches this call: %v", err)
	}

	for _, tc := range []struct {
		name, method, path, bearer string
		want                       int
	}{
		{"customer answers", "POST", "/api/calls/" + c.ID + "/answer", c.Token, http.StatusForbidden},
		{"customer lists", "GET", "/api/calls", c.Token, http.StatusForbidden},
		{"customer reads its record", "GET", "/api/calls/" + c.ID, c.Token, http.StatusForbidden},
		{"customer creates", "POST", "/api/calls", c.Token, http.StatusUnauthorized},
		{"customer reads deliveries", "GET", "/api/webhooks/deliveries", c.Token, http.StatusUnauthorized},
		{"agent creates", "POST", "/api/calls", agent, http.StatusUnauthorized},
		{"agent queues a call", "POST", "/api/calls/" + c.ID + "/request", agent, http.StatusForbidden},
		{"agent without grant answers", "POST", "/api/calls/" + c.ID + "/answer", noGrant, http.StatusForbidden},
		{"agent without grant lists", "GET", "/api/calls", noGrant, http.StatusForbidden},
		{"another customer queues this call", "POST", "/api/calls/" + c.ID + "/request", other.Token, http.StatusForbidden},
		{"customer ends", "POST", "/api/calls/" + c.ID + "/end", c.Token, http.StatusForbidden},
		{"nobody lists", "GET", "/api/calls", "", http.StatusUnauthorized},
		{"forged token lists", "GET", "/api/calls", "eyJ.eyJ.sig", http.StatusUnauthorized},
		{"agent lists", "GET", "/api/calls", agent, http.StatusOK},
		{"agent reads a record", "GET", "/api/calls/" + c.ID, agent, http.StatusOK},
		{"operator lists", "GET", "/api/calls", operatorKey, http.StatusOK},
		{"operator reads deliveries", "GET", "/api/webhooks/deliveries", operatorKey, http.StatusOK},
		{"unknown call", "GET", "/api/calls/0123456789abcdef012345", operatorKey, http.StatusNotFound},
		{"agent answers an unknown call", "POST", "/api/calls/nope/answer", agent, http.StatusNotFound},
	} {
		body := any(nil)
		if tc.method == "POST" {
			body = map[string]any{}
		}
		if st, out := cs.do(tc.method, tc.path, tc.bearer, body); st != tc.want {
			t.Errorf("%s: %d %v, want %d", tc.name, st, out, tc.want)
		}
	}
	// The operator may close a call nobody answered.
	if st, out := cs.do("POST", "/api/calls/"+other.ID+"/end", operatorKey, map[string]string{"outcome": "other"}); st != http.StatusOK || out["endedBy"] != "operator" {
		t.Fatalf("operator ends a call: %d %v", st, out)
	}
}

// TestCallCenterLink: the customer's link carries a token for the call's
// room, and the QR code reads back as the absolute link.
func TestCallCenterLink(t *testing.T) {
	for _, public := range []string{"", "https://claims.example.com/"} {
		cs := newCallCenter(t, func(c *ccConfig) { c.center.PublicURL = public })
		c := cs.create("CLM-1", "Wang Fang")
		u, err := url.Parse(c.Link)
		if err != nil || u.Path != "/call" || u.Query().Get("call") != c.ID || u.Query().Get("token") != c.Token {
			t.Fatalf("link %q", c.Link)
		}
		claims, err := cs.tokens.Verify(c.Token)
		if err != nil || claims.Room != callcenter.Room(c.ID) || claims.UID != callcenter.CustomerUID(c.ID) || claims.Tag != "customer" ||
			claims.Role != signaling.RoleHost || len(claims.Can) != 0 {
			t.Fatalf("customer token %+v %v", claims, err)
		}
		if life := claims.ExpiresAt.Sub(claims.IssuedAt.Time); life < callcenter.DefaultLinkTTL-time.Minute {
			t.Fatalf("the customer's token lives %s, not the call's lifetime", life)
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(c.QR, "data:image/png;base64,"))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		text, err := qr.Decode(img)
		base := strings.TrimRight(public, "/")
		if public == "" {
			base = cs.url
		}
		if err != nil || text != base+c.Link {
			t.Fatalf("QR code reads %q (%v), want %q", text, err, base+c.Link)
		}
	}
	cs := newCallCenter(t)
	for _, body := range []map[string]string{{"claim": "", "customer": "x"}, {"claim": "CLM-1"},
		{"claim": strings.Repeat("9", 65), "customer": "x"}, {"claim": "CLM\x01", "customer": "x"}} {
		if st, out := cs.do("POST", "/api/calls", operatorKey, body); st != http.StatusBadRequest {
			t.Errorf("create %v: %d %v", body, st, out)
		}
	}
}

// TestCallCenterDevMode: dev mode's pages create calls and mint agent tokens without a key.
func TestCallCenterDevMode(t *testing.T) {
	cs := newCallCenter(t, func(c *ccConfig) { c.dev = true })
	if st, out := cs.do("POST", "/api/calls", "", map[string]string{"claim": "CLM-1", "customer": "Wang Fang"}); st != http.StatusCreated {
		t.Fatalf("dev mode creates a call: %d %v", st, out)
	}
	st, out := cs.do("POST", "/api/token", "", map[string]any{"room": "call-center", "uid": "agent-1", "tag": "agent",
		"can": []string{"call_center", "claim_tools"}})
	if st != http.StatusOK {
		t.Fatalf("dev mode mints an agent token: %d %v", st, out)
	}
	a := cs.events("agent", "/api/agents/events", out["token"].(string), true)
	a.until("presence", state("online"))
}

// TestCallCenterRecords: the list filters by claim, agent, state and time,
// newest first, and a live call's record is readable.
func TestCallCenterRecords(t *testing.T) {
	cs := newCallCenter(t)
	a := cs.create("CLM-A", "One")
	b := cs.create("CLM-B", "Two")
	a2 := cs.create("CLM-A", "Three")
	tok := cs.agentToken("agent-1")
	cs.request(b)
	if st, out := cs.do("POST", "/api/calls/"+b.ID+"/answer", tok, nil); st != http.StatusOK {
		t.Fatalf("answer: %d %v", st, out)
	}
	ids := func(q string) []string {
		st, out := cs.do("GET", "/api/calls"+q, tok, nil)
		if st != http.StatusOK {
			t.Fatalf("list %s: %d %v", q, st, out)
		}
		var got []string
		for _, r := range out["calls"].([]any) {
			got = append(got, r.(map[string]any)["id"].(string))
		}
		return got
	}
	created := func(c createdCall) int64 { return int64(cs.record(c.ID)["createdAt"].(float64)) }
	for _, tc := range []struct {
		q    string
		want []string
	}{
		{"", []string{a2.ID, b.ID, a.ID}},
		{"?claim=CLM-A", []string{a2.ID, a.ID}},
		{"?agent=agent-1", []string{b.ID}},
		{"?state=answered", []string{b.ID}},
		{"?state=created&limit=1", []string{a2.ID}},
		{"?since=" + itoa(created(b)), []string{a2.ID, b.ID}},
		{"?until=" + itoa(created(b)), []string{b.ID, a.ID}},
		{"?claim=CLM-Z", nil},
	} {
		got := ids(tc.q)
		// Calls created in the same millisecond may list in either order, so compare as sets where times tie.
		if strings.Join(sorted(got), ",") != strings.Join(sorted(tc.want), ",") {
			t.Errorf("list %s: %v, want %v", tc.q, got, tc.want)
		}
	}
	if st, _ := cs.do("GET", "/api/calls?since=yesterday", tok, nil); st != http.StatusBadRequest {
		t.Errorf("a bad since: %d", st)
	}
	if got := cs.record(b.ID); got["state"] != "answered" || got["agent"] != "agent-1" || got["network"] != nil {
		t.Fatalf("live record %v", got)
	}
	// The hooks the rest of the server calls: recordings and the customer's network.
	cs.svc.AddRecording(callcenter.Room(b.ID), "rec-1")
	cs.svc.AddRecording(callcenter.Room(b.ID), "rec-1")
	cs.svc.AddRecording("some-other-room", "rec-2")
	cs.svc.NoteQuality(callcenter.Room(b.ID), callcenter.CustomerUID(b.ID), 1, 2, 0.05)
	cs.svc.NoteQuality(callcenter.Room(b.ID), callcenter.CustomerUID(b.ID), 4, 0, 0.3)
	cs.svc.NoteQuality(callcenter.Room(b.ID), "agent-1", 6, 6, 0.9) // the agent's own network is not the summary's
	if st, out := cs.do("POST", "/api/calls/"+b.ID+"/end", tok, map[string]string{"outcome": "follow-up"}); st != http.StatusOK {
		t.Fatalf("end: %d %v", st, out)
	}
	cs.svc.AddRecording(callcenter.Room(b.ID), "rec-3") // a recording finalised after the call
	got := cs.record(b.ID)
	net := got["network"].(map[string]any)
	if net["minLevel"] != 2.0 || net["maxLevel"] != 4.0 || net["avgLevel"] != 3.0 || net["maxLoss"] != 0.3 {
		t.Fatalf("network summary %v", net)
	}
	if recs := got["recordings"].([]any); len(recs) != 2 || recs[0] != "rec-1" || recs[1] != "rec-3" {
		t.Fatalf("recordings %v", recs)
	}
}

// TestCallCenterStreamOutlivesServerTimeouts: an event stream stays open
// past the HTTP server's read and write timeouts (2 and 3 minutes in
// production; a fraction of a second here), which would otherwise end it.
func TestCallCenterStreamOutlivesServerTimeouts(t *testing.T) {
	cs := newCallCenter(t, func(c *ccConfig) {
		c.readTimeout, c.writeTimeout = 200*time.Millisecond, 200*time.Millisecond
		c.center.Heartbeat = 50 * time.Millisecond
	})
	// The short timeouts are the stream's alone: the service itself makes
	// the call (an HTTP request might outlast them on a loaded machine).
	rec, err := cs.svc.Create("CLM-1", "Wang Fang")
	if err != nil {
		t.Fatal(err)
	}
	a := cs.events("agent", "/api/agents/events", cs.agentToken("agent-1"), false)
	a.until("presence", state("online"))
	// Twenty heartbeats are a second: well past both timeouts.
	for i := 0; i < 20; i++ {
		select {
		case <-a.pings:
		case <-time.After(waitTimeout):
			t.Fatalf("heartbeat %d never came", i)
		}
	}
	if _, _, err := cs.svc.Request(rec.ID, nil, nil); err != nil {
		t.Fatal(err)
	}
	a.until("ringing", callID(rec.ID))
}

// TestCallCenterCloseEndsStreams: closing the service ends every stream,
// so the HTTP server's shutdown does not wait for them.
func TestCallCenterCloseEndsStreams(t *testing.T) {
	cs := newCallCenter(t)
	c := cs.create("CLM-1", "Wang Fang")
	a := cs.events("agent", "/api/agents/events", cs.agentToken("agent-1"), false)
	cust := cs.events("customer", "/api/calls/"+c.ID+"/events", c.Token, false)
	a.until("presence", nil)
	if err := cs.svc.Close(); err != nil {
		t.Fatal(err)
	}
	if !a.ended() || !cust.ended() {
		t.Fatal("a stream outlived the service")
	}
	if st, out := cs.do("GET", "/api/calls", operatorKey, nil); st != http.StatusServiceUnavailable {
		t.Fatalf("after close: %d %v", st, out)
	}
}

// TestCallCenterOff: a server without the call center says so.
func TestCallCenterOff(t *testing.T) {
	ts := newTestServer(t, withKey, func(c *testConfig) { c.api.Calls = api.CallCenter{} })
	st, out := post(t, ts.http.URL+"/api/calls", "operator-key", []byte(`{"claim":"C","customer":"x"}`))
	if st != http.StatusServiceUnavailable || out["code"] != "calls_off" {
		t.Fatalf("%d %v", st, out)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

// TestCallCenterAudioOnly: the answering agent, and only it, asks the
// customer's page of an answered call to go on with voice.
func TestCallCenterAudioOnly(t *testing.T) {
	cs := newCallCenter(t)
	a1tok, a2tok := cs.agentToken("agent-1"), cs.agentToken("agent-2")
	c := cs.create("CLM-9", "Wang Fang")
	cust := cs.events("customer", "/api/calls/"+c.ID+"/events", c.Token, false)
	cs.request(c)
	if st, out := cs.do("POST", "/api/calls/"+c.ID+"/audio-only", a1tok, nil); st != http.StatusConflict {
		t.Fatalf("audio-only on a queued call: %d %v", st, out)
	}
	if st, out := cs.do("POST", "/api/calls/"+c.ID+"/answer", a1tok, nil); st != http.StatusOK {
		t.Fatalf("answer: %d %v", st, out)
	}
	for _, who := range []struct {
		name, token string
		want        int
	}{
		{"another agent", a2tok, http.StatusForbidden},
		{"the customer", c.Token, http.StatusForbidden},
		{"the answering agent", a1tok, http.StatusOK},
	} {
		if st, out := cs.do("POST", "/api/calls/"+c.ID+"/audio-only", who.token, nil); st != who.want {
			t.Errorf("%s: %d %v, want %d", who.name, st, out, who.want)
		}
	}
	if ev, _ := cust.until("audio-only", nil); ev.Data["agent"] != "agent-1" {
		t.Fatalf("the customer's audio-only event: %v", ev.Data)
	}
}
