package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stoa-video/stoa/signaling"
)

// The room's stats are the agent's and the operator's: a customer's token,
// another room's agent and no credentials are refused.
func TestRoomStatsAccess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ts := newTestServer(t, withKey)
	ts.dialTagged(ctx, "claim-1", "cust", signaling.RoleHost, "customer")
	ts.dialTagged(ctx, "claim-1", "agent", signaling.RoleHost, "agent")
	url := ts.http.URL + "/api/rooms/claim-1/stats"
	for _, c := range []struct {
		name   string
		bearer string
		want   int
	}{
		{"no credentials", "", http.StatusUnauthorized},
		{"the customer", ts.token("claim-1", "cust", signaling.RoleHost), http.StatusForbidden},
		{"another room's agent", ts.token("claim-2", "agent", signaling.RoleHost, signaling.GrantClaimTools), http.StatusForbidden},
		{"the room's agent", ts.token("claim-1", "agent", signaling.RoleHost, signaling.GrantClaimTools), http.StatusOK},
		{"the operator", "operator-key", http.StatusOK},
	} {
		res, body := httpGet(t, url, c.bearer)
		if res.StatusCode != c.want {
			t.Errorf("%s: %d, want %d: %.200s", c.name, res.StatusCode, c.want, body)
			continue
		}
		if c.want != http.StatusOK {
			continue
		}
		var got struct {
			Room         string                       `json:"room"`
			Participants []signaling.ParticipantStats `json:"participants"`
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got.Room != "claim-1" || len(got.Participants) != 2 || got.Participants[0].UID != "agent" || got.Participants[1].Tag != "customer" {
			t.Errorf("%s: %+v", c.name, got)
		}
	}
	if res, _ := httpGet(t, ts.http.URL+"/api/rooms/nobody/stats", "operator-key"); res.StatusCode != http.StatusNotFound {
		t.Errorf("an empty room: %d, want 404", res.StatusCode)
	}
}

// Network drills are the operator's (or dev mode's on loopback), and
// checked.
func TestImpairDrill(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ts := newTestServer(t, withKey)
	ts.dialTagged(ctx, "claim-1", "cust", signaling.RoleHost, "customer")
	url := ts.http.URL + "/api/dev/impair"
	agent := ts.token("claim-1", "agent", signaling.RoleHost, signaling.GrantClaimTools)
	for _, c := range []struct {
		name, key, body string
		want            int
	}{
		{"no key", "", `{"room":"claim-1","uid":"cust","loss":0.5}`, http.StatusUnauthorized},
		{"an agent's token", agent, `{"room":"claim-1","uid":"cust","loss":0.5}`, http.StatusUnauthorized},
		{"loss above 1", "operator-key", `{"room":"claim-1","uid":"cust","loss":1.5}`, http.StatusBadRequest},
		{"not JSON", "operator-key", `loss=1`, http.StatusBadRequest},
		{"nobody", "operator-key", `{"room":"claim-1","uid":"ghost","loss":0.5}`, http.StatusNotFound},
		{"the operator", "operator-key", `{"room":"claim-1","uid":"cust","loss":0.5}`, http.StatusOK},
		{"and back", "operator-key", `{"room":"claim-1","uid":"cust","loss":0}`, http.StatusOK},
	} {
		if got, body := post(t, url, c.key, []byte(c.body)); got != c.want {
			t.Errorf("%s: %d, want %d: %v", c.name, got, c.want, body)
		}
	}
}
