package signaling

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// A resume can arrive after joined went out (from inside the room's join)
// but before join has set the session's participant: it must be refused,
// not dereference the missing participant (issue 15's review).
func TestResumeWhileJoinIsUnderway(t *testing.T) {
	s := NewServer(Options{Tokens: NewTokenIssuer([]byte("secret-0123456789abcdef")), Logger: slog.New(slog.DiscardHandler)})
	claims := &Claims{Room: "r", UID: "u", Role: RoleHost,
		RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}}
	ss := &session{srv: s, id: "sess-1", claims: claims, pendingSubs: map[string]int64{}, log: s.log}
	if err := s.addSession(ss); err != nil { // as join does before the SFU's Join returns
		t.Fatal(err)
	}
	_, err := s.resume(nil, claims, Message{Type: TypeJoin, Session: "sess-1"})
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != CodeSessionNotFound {
		t.Fatalf("resume of a session still joining: %v, want %s", err, CodeSessionNotFound)
	}
}
