package signaling

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var testSecret = []byte("test-secret-0123456789abcdef")

// testClock is a fixed instant so expiry tests need no sleeps.
var testClock = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func newTestIssuer() *TokenIssuer {
	t := NewTokenIssuer(testSecret)
	t.Now = func() time.Time { return testClock }
	return t
}

// sign builds a token with arbitrary claims and method, to forge what Issue
// never would.
func sign(t *testing.T, m jwt.SigningMethod, key any, claims jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		t.Fatalf("sign with %s: %v", m.Alg(), err)
	}
	return s
}

func validClaims() Claims {
	return Claims{
		Room: "claim-42", UID: "1001", Role: RoleHost, Tag: "agent",
		RegisteredClaims: jwt.RegisteredClaims{
			IssuedAt:  jwt.NewNumericDate(testClock),
			ExpiresAt: jwt.NewNumericDate(testClock.Add(time.Hour)),
		},
	}
}

// tamper replaces the payload of a signed token, keeping header and signature.
func tamper(t *testing.T, token string, edit func(map[string]any)) string {
	t.Helper()
	parts := strings.Split(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	raw, err = json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(raw)
	return strings.Join(parts, ".")
}

func TestTokenIssueVerifyRoundTrip(t *testing.T) {
	iss := newTestIssuer()
	tok, exp, err := iss.Issue("claim-42", "user@example.com", RoleAudience, "customer", 90*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if want := testClock.Add(90 * time.Minute); !exp.Equal(want) {
		t.Errorf("expires = %v, want %v", exp, want)
	}
	c, err := iss.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Room != "claim-42" || c.UID != "user@example.com" || c.Role != RoleAudience || c.Tag != "customer" {
		t.Errorf("claims = %+v", c)
	}
	if !c.ExpiresAt.Equal(exp) || !c.IssuedAt.Equal(testClock) {
		t.Errorf("exp, iat = %v, %v; want %v, %v", c.ExpiresAt, c.IssuedAt, exp, testClock)
	}
}

func TestTokenIssueTTL(t *testing.T) {
	tests := []struct {
		name string
		ttl  time.Duration
		want time.Duration
	}{
		{"zero means default", 0, time.Hour},
		{"negative means default", -time.Second, time.Hour},
		{"as asked", 5 * time.Minute, 5 * time.Minute},
		{"capped", 30 * 24 * time.Hour, 24 * time.Hour},
		{"sub-second truncated", 1500 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, exp, err := newTestIssuer().Issue("r", "u", RoleHost, "", tt.ttl)
			if err != nil {
				t.Fatal(err)
			}
			if got := exp.Sub(testClock); got != tt.want {
				t.Errorf("ttl %v gave lifetime %v, want %v", tt.ttl, got, tt.want)
			}
		})
	}
}

func TestTokenIssueValidation(t *testing.T) {
	long := strings.Repeat("a", 65)
	tests := []struct {
		name           string
		room, uid, tag string
		role           Role
		ok             bool
	}{
		{"ok", "claim-42", "1001", "agent", RoleHost, true},
		{"all allowed chars", "Az09_.:@-", "u", "", RoleAudience, true},
		{"64 chars", strings.Repeat("a", 64), "u", "", RoleHost, true},
		{"empty room", "", "u", "", RoleHost, false},
		{"empty uid", "r", "", "", RoleHost, false},
		{"long room", long, "u", "", RoleHost, false},
		{"long uid", "r", long, "", RoleHost, false},
		{"long tag", "r", "u", long, RoleHost, false},
		{"space in room", "a room", "u", "", RoleHost, false},
		{"slash in uid", "r", "../etc", "", RoleHost, false},
		{"unicode in uid", "r", "zoë", "", RoleHost, false},
		{"newline in tag", "r", "u", "a\nb", RoleHost, false},
		{"empty role", "r", "u", "", "", false},
		{"unknown role", "r", "u", "", "admin", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := newTestIssuer().Issue(tt.room, tt.uid, tt.role, tt.tag, 0)
			if tt.ok {
				if err != nil {
					t.Fatalf("Issue: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeBadRequest {
				t.Fatalf("Issue error = %v, want code %s", err, CodeBadRequest)
			}
		})
	}
}

func TestTokenVerify(t *testing.T) {
	iss := newTestIssuer()
	good, _, err := iss.Issue("claim-42", "1001", RoleHost, "agent", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	goodPayload := strings.Split(good, ".")[1]
	with := func(edit func(*Claims)) Claims { c := validClaims(); edit(&c); return c }

	tests := []struct {
		name  string
		token string
		clock time.Time // zero: testClock
		code  string    // "" means valid
	}{
		{name: "valid", token: good},
		{name: "valid one second before exp", token: good, clock: testClock.Add(time.Hour - time.Second)},
		{name: "expired at exp", token: good, clock: testClock.Add(time.Hour), code: CodeTokenExpired},
		{name: "expired long ago", token: good, clock: testClock.Add(48 * time.Hour), code: CodeTokenExpired},
		{name: "forged: other secret", token: sign(t, jwt.SigningMethodHS256, []byte("other"), validClaims()), code: CodeTokenInvalid},
		{name: "forged and expired", token: sign(t, jwt.SigningMethodHS256, []byte("other"), validClaims()), clock: testClock.Add(48 * time.Hour), code: CodeTokenInvalid},
		{name: "alg none", token: sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, validClaims()), code: CodeTokenInvalid},
		{name: "alg none handmade", token: noneHeader + "." + goodPayload + ".", code: CodeTokenInvalid},
		{name: "alg HS512 same secret", token: sign(t, jwt.SigningMethodHS512, testSecret, validClaims()), code: CodeTokenInvalid},
		{name: "alg HS384 same secret", token: sign(t, jwt.SigningMethodHS384, testSecret, validClaims()), code: CodeTokenInvalid},
		{name: "alg ES256", token: sign(t, jwt.SigningMethodES256, ecKey, validClaims()), code: CodeTokenInvalid},
		{name: "tampered uid", token: tamper(t, good, func(m map[string]any) { m["uid"] = "2002" }), code: CodeTokenInvalid},
		{name: "tampered role", token: tamper(t, good, func(m map[string]any) { m["role"] = "host" }), code: CodeTokenInvalid},
		{name: "tampered exp", token: tamper(t, good, func(m map[string]any) { m["exp"] = 9999999999 }), code: CodeTokenInvalid},
		{name: "missing room", token: sign(t, jwt.SigningMethodHS256, testSecret, with(func(c *Claims) { c.Room = "" })), code: CodeTokenInvalid},
		{name: "missing uid", token: sign(t, jwt.SigningMethodHS256, testSecret, with(func(c *Claims) { c.UID = "" })), code: CodeTokenInvalid},
		{name: "missing role", token: sign(t, jwt.SigningMethodHS256, testSecret, with(func(c *Claims) { c.Role = "" })), code: CodeTokenInvalid},
		{name: "unknown role", token: sign(t, jwt.SigningMethodHS256, testSecret, with(func(c *Claims) { c.Role = "admin" })), code: CodeTokenInvalid},
		{name: "bad uid chars", token: sign(t, jwt.SigningMethodHS256, testSecret, with(func(c *Claims) { c.UID = "a b" })), code: CodeTokenInvalid},
		{name: "missing exp", token: sign(t, jwt.SigningMethodHS256, testSecret, with(func(c *Claims) { c.ExpiresAt = nil })), code: CodeTokenInvalid},
		{name: "role wrong type", token: sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"room": "r", "uid": "u", "role": 1, "exp": testClock.Unix() + 60}), code: CodeTokenInvalid},
		{name: "empty", token: "", code: CodeTokenInvalid},
		{name: "garbage", token: "not a token", code: CodeTokenInvalid},
		{name: "two dots", token: "..", code: CodeTokenInvalid},
		{name: "four parts", token: good + ".x", code: CodeTokenInvalid},
		{name: "bad base64", token: "@@@.@@@.@@@", code: CodeTokenInvalid},
		{name: "header not json", token: base64.RawURLEncoding.EncodeToString([]byte("hi")) + "." + goodPayload + ".x", code: CodeTokenInvalid},
		{name: "huge", token: strings.Repeat("a", 10000), code: CodeTokenInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newTestIssuer()
			if !tt.clock.IsZero() {
				v.Now = func() time.Time { return tt.clock }
			}
			c, err := v.Verify(tt.token)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if c.Room != "claim-42" || c.UID != "1001" || c.Role != RoleHost {
					t.Errorf("claims = %+v", c)
				}
				return
			}
			if c != nil {
				t.Errorf("Verify returned claims %+v with an error", c)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Verify error = %v (%T), want *Error", err, err)
			}
			if e.Code != tt.code {
				t.Errorf("code = %s (%v), want %s", e.Code, err, tt.code)
			}
			if len(tt.token) > 20 && strings.Contains(err.Error(), tt.token) {
				t.Errorf("error text contains the token: %v", err)
			}
		})
	}
}

func TestTokenExpiredMessage(t *testing.T) {
	iss := newTestIssuer()
	tok, exp, err := iss.Issue("r", "u", RoleHost, "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	iss.Now = func() time.Time { return testClock.Add(time.Hour) }
	_, err = iss.Verify(tok)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeTokenExpired {
		t.Fatalf("err = %v, want %s", err, CodeTokenExpired)
	}
	if want := "token expired at " + exp.UTC().Format(time.RFC3339); e.Message != want {
		t.Errorf("message = %q, want %q", e.Message, want)
	}
	if !errors.Is(err, jwt.ErrTokenExpired) {
		t.Errorf("cause %v does not wrap jwt.ErrTokenExpired", e.Err)
	}
}

func TestNewTokenIssuerEmptySecret(t *testing.T) {
	a, b := NewTokenIssuer(nil), NewTokenIssuer(nil)
	tok, _, err := a.Issue("r", "u", RoleHost, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Verify(tok); err != nil {
		t.Errorf("same issuer: %v", err)
	}
	if _, err := b.Verify(tok); err == nil {
		t.Error("two issuers with empty secrets accept each other's tokens")
	}
}

func TestNewTokenIssuerCopiesSecret(t *testing.T) {
	secret := []byte("s3cret")
	iss := NewTokenIssuer(secret)
	tok, _, err := iss.Issue("r", "u", RoleHost, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	secret[0] = 'x'
	if _, err := iss.Verify(tok); err != nil {
		t.Errorf("changing the caller's slice changed the issuer: %v", err)
	}
}

func TestRoleAllows(t *testing.T) {
	tests := []struct {
		have, want Role
		ok         bool
	}{
		{RoleHost, RoleHost, true},
		{RoleHost, RoleAudience, true},
		{RoleAudience, RoleAudience, true},
		{RoleAudience, RoleHost, false},
		{"", RoleAudience, false},
		{"admin", RoleHost, false},
		{RoleHost, "admin", false},
	}
	for _, tt := range tests {
		if got := tt.have.Allows(tt.want); got != tt.ok {
			t.Errorf("%q.Allows(%q) = %v, want %v", tt.have, tt.want, got, tt.ok)
		}
	}
}

func TestParseRole(t *testing.T) {
	tests := []struct {
		in   string
		want Role
		ok   bool
	}{
		{"host", RoleHost, true},
		{"audience", RoleAudience, true},
		{"", "", false},
		{"Host", "", false},
		{"admin", "", false},
	}
	for _, tt := range tests {
		got, err := ParseRole(tt.in)
		if tt.ok {
			if err != nil || got != tt.want {
				t.Errorf("ParseRole(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeBadRequest {
			t.Errorf("ParseRole(%q) error = %v, want code %s", tt.in, err, CodeBadRequest)
		}
	}
}

// TestParseGrants: the known grants, in any order, and nothing else.
func TestParseGrants(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []Grant
		ok   bool
	}{
		{nil, []Grant{}, true},
		{[]string{"claim_tools"}, []Grant{GrantClaimTools}, true},
		{[]string{"call_center", "claim_tools"}, []Grant{GrantCallCenter, GrantClaimTools}, true},
		{[]string{"call_center", "call_center"}, nil, false},
		{[]string{"admin"}, nil, false},
	} {
		got, err := ParseGrants(tc.in)
		if (err == nil) != tc.ok || (tc.ok && !slices.Equal(got, tc.want)) {
			t.Errorf("ParseGrants(%q) = %q, %v", tc.in, got, err)
		}
	}
	tok := NewTokenIssuer([]byte("secret"))
	s, _, err := tok.Issue("call-center", "agent-1", RoleHost, "agent", time.Hour, GrantCallCenter, GrantClaimTools)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := tok.Verify(s); err != nil || !c.Has(GrantCallCenter) || !c.Has(GrantClaimTools) {
		t.Fatalf("a call center sign-in token verifies as %+v, %v", c, err)
	}
}
