package signaling_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stoa-video/stoa/sfu"
	"github.com/stoa-video/stoa/signaling"
	"github.com/stoa-video/stoa/signaling/client"
)

// Joins past the admission limits get clear codes, and a refused join
// leaves nothing behind (no empty room, no session).
func TestAdmissionLimits(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ts := newTestServerWith(t, sfu.Config{UDPPort: 0, TCPPort: -1, ICEIPs: []string{"127.0.0.1"}, MaxRooms: 2, MaxParticipants: 2},
		func(o *signaling.Options) { o.Limits.MaxSessions = 4 })
	try := func(room, uid string, role signaling.Role) error {
		c, err := client.Dial(ctx, client.Options{URL: ts.url, Token: ts.token(room, uid, role), API: loopbackAPI(t), Logger: quietLogger()})
		if err == nil {
			t.Cleanup(func() { _ = c.Close() })
		}
		return err
	}
	code := func(err error) string {
		var pe *signaling.Error
		if errors.As(err, &pe) {
			return pe.Code
		}
		return ""
	}
	steps := []struct {
		room, uid string
		role      signaling.Role
		want      string // "" = joins
	}{
		{"a", "u1", signaling.RoleHost, ""},
		{"a", "u2", signaling.RoleHost, ""},
		{"a", "u3", signaling.RoleHost, signaling.CodeRoomFull},
		{"a", "u2", signaling.RoleHost, ""}, // the same uid again replaces itself: not counted twice
		{"b", "v1", signaling.RoleHost, ""},
		{"c", "w1", signaling.RoleHost, signaling.CodeServerFull}, // a third room
		{"b", "v2", signaling.RoleHost, ""},
		{"b", "v3", signaling.RoleHost, signaling.CodeServerFull}, // a fifth session
	}
	for i, st := range steps {
		if err := try(st.room, st.uid, st.role); code(err) != st.want || (st.want == "" && err != nil) {
			t.Fatalf("step %d: join %s/%s: %v (code %q), want %q", i, st.room, st.uid, err, code(err), st.want)
		}
	}
	if n := ts.sig.Sessions(); n != 4 {
		t.Fatalf("sessions = %d, want 4 (refused joins leave none behind)", n)
	}
	if ts.sfu.Room("c") != nil {
		t.Fatal("a refused join left room c behind")
	}
}

// A join the room refuses (an audience token asking to host) leaves no empty
// room behind: a flood of refused joins cannot grow the room map.
func TestRefusedJoinLeavesNoRoom(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ts := newTestServer(t)
	_, err := client.Dial(ctx, client.Options{URL: ts.url, Token: ts.token("ghost", "x", signaling.RoleAudience), Role: "host",
		API: loopbackAPI(t), Logger: quietLogger()})
	var pe *signaling.Error
	if !errors.As(err, &pe) || pe.Code != signaling.CodeRoleNotAllowed {
		t.Fatalf("audience token joining as host: %v", err)
	}
	if ts.sfu.Room("ghost") != nil {
		t.Error("the refused join left an empty room behind")
	}
}
