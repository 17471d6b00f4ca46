package signaling

import (
	"errors"
	"testing"
	"time"
)

// FuzzVerifyToken feeds Verify outside input: it must never panic, must fail
// only with a token_* *Error, and whatever it accepts must be a complete
// claim set.
func FuzzVerifyToken(f *testing.F) {
	iss := newTestIssuer()
	good, _, err := iss.Issue("claim-42", "1001", RoleHost, "agent", time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		good,
		good + "x",
		good[:len(good)-1],
		"",
		".",
		"..",
		"a.b.c",
		"eyJhbGciOiJub25lIn0.eyJyb29tIjoiciIsInVpZCI6InUiLCJyb2xlIjoiaG9zdCJ9.",
		"eyJhbGciOiJIUzI1NiJ9.bnVsbA.x",
		"\x00\xff.\x00.\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := iss.Verify(token)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || (e.Code != CodeTokenInvalid && e.Code != CodeTokenExpired) {
				t.Fatalf("Verify error %v (%T) is not a token_* *Error", err, err)
			}
			if c != nil {
				t.Fatalf("Verify returned claims with error %v", err)
			}
			return
		}
		if c.Room == "" || c.UID == "" {
			t.Fatalf("accepted token with room %q uid %q", c.Room, c.UID)
		}
		if c.Role != RoleHost && c.Role != RoleAudience {
			t.Fatalf("accepted token with role %q", c.Role)
		}
	})
}
