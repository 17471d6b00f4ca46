package signaling

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Role is what a participant may do in a room: a host publishes and
// subscribes, an audience member only subscribes.
type Role string

// The roles a token can grant.
const (
	RoleHost     Role = "host"
	RoleAudience Role = "audience"
)

// Allows reports whether a participant holding role r may act as want: a
// host may act as audience, not the reverse. An unknown role allows nothing.
func (r Role) Allows(want Role) bool {
	switch r {
	case RoleHost:
		return want == RoleHost || want == RoleAudience
	case RoleAudience:
		return want == RoleAudience
	}
	return false
}

// valid reports whether r is one of the defined roles.
func (r Role) valid() bool { return r == RoleHost || r == RoleAudience }

// ParseRole turns "host" or "audience" into a Role; anything else is a
// CodeBadRequest error.
func ParseRole(s string) (Role, error) {
	if r := Role(s); r.valid() {
		return r, nil
	}
	return "", Errorf(CodeBadRequest, "role %q is not %q or %q", s, RoleHost, RoleAudience)
}

// Grant is a permission a token carries beside its media role: what its
// holder may do to the call, as opposed to what it may send or receive. A
// claims customer must publish (role host) but is not an agent.
type Grant string

// GrantClaimTools lets a token take snapshots of, and run face and OCR checks
// on, the other participants of its room: the claims agent's console holds
// it, the customer's page never does.
const GrantClaimTools Grant = "claim_tools"

// GrantCallCenter lets a token sign in to the call center console: take
// calls from the queue (ringing, answer, reject, presence) and read the call
// records. The agent's sign-in token (room call-center, tag agent) holds it;
// a room token never needs it.
const GrantCallCenter Grant = "call_center"

// valid reports whether g is a grant this server knows.
func (g Grant) valid() bool { return g == GrantClaimTools || g == GrantCallCenter }

// ParseGrants checks a token request's list of grants; an unknown or repeated
// grant is a CodeBadRequest error, so a typo never silently grants nothing.
func ParseGrants(names []string) ([]Grant, error) {
	out := make([]Grant, 0, len(names))
	for _, n := range names {
		g := Grant(n)
		if !g.valid() {
			return nil, Errorf(CodeBadRequest, "grant %q is unknown; known are %q and %q", truncate(n, 64), GrantClaimTools, GrantCallCenter)
		}
		if slices.Contains(out, g) {
			return nil, Errorf(CodeBadRequest, "grant %q is given twice", n)
		}
		out = append(out, g)
	}
	return out, nil
}

// Claims are the contents of a Stoa token: which room, who, with which role,
// the grants beside the role, and an application-level tag (e.g. "agent" or
// "customer") that other participants see. The registered claims carry iat
// and exp.
type Claims struct {
	Room string  `json:"room"`
	UID  string  `json:"uid"`
	Role Role    `json:"role"`
	Tag  string  `json:"tag,omitempty"`
	Can  []Grant `json:"can,omitempty"`
	jwt.RegisteredClaims
}

// Has reports whether the token carries grant g.
func (c *Claims) Has(g Grant) bool { return slices.Contains(c.Can, g) }

// Token lifetimes: a missing ttl gets DefaultTokenTTL, and no token lives
// longer than MaxTokenTTL, so a leaked token is useful for a day at most.
const (
	DefaultTokenTTL = time.Hour
	MaxTokenTTL     = 24 * time.Hour
)

const (
	maxIDLen = 64
	// maxTokenLen bounds the work Verify does on outside input; a real token
	// with 64-character fields is about 300 bytes.
	maxTokenLen = 4096
	// signingAlg is the only algorithm Stoa issues or accepts; pinning it
	// shuts out "none" and algorithm-confusion forgeries.
	signingAlg = "HS256"
)

// TokenIssuer mints and verifies HMAC-SHA256 (HS256) JWTs with one secret.
// It is safe for concurrent use as long as Now and MaxTTL are not changed
// meanwhile.
type TokenIssuer struct {
	secret []byte
	// Now is the clock used for iat, exp and expiry checks; nil means
	// time.Now. Tests set it.
	Now func() time.Time
	// MaxTTL is the longest lifetime a token may have, minted here or
	// presented (a token signed elsewhere with the shared secret and a longer
	// life is refused); 0 means MaxTokenTTL.
	MaxTTL time.Duration
}

// lifetimeSkew is how far past MaxTTL a presented token may reach, for the
// clocks of the issuing and verifying machines to differ.
const lifetimeSkew = time.Minute

func (t *TokenIssuer) maxTTL() time.Duration {
	if t.MaxTTL > 0 {
		return t.MaxTTL
	}
	return MaxTokenTTL
}

// NewTokenIssuer returns an issuer signing with a copy of secret. An empty
// secret is replaced by 32 random bytes, so tokens then stop verifying when
// the process restarts; callers should warn about that.
func NewTokenIssuer(secret []byte) *TokenIssuer {
	if len(secret) == 0 {
		secret = make([]byte, 32)
		rand.Read(secret) // never fails (crypto/rand panics instead)
	}
	return &TokenIssuer{secret: append([]byte(nil), secret...)}
}

func (t *TokenIssuer) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// Issue mints a token for uid in room with the given role, tag and grants,
// valid for ttl (≤ 0 means DefaultTokenTTL; capped at MaxTTL). Room, uid and
// a non-empty tag must be at most 64 characters of [A-Za-z0-9_.:@-]; bad
// input is a CodeBadRequest error. expires is the token's exp (whole seconds).
func (t *TokenIssuer) Issue(room, uid string, role Role, tag string, ttl time.Duration, can ...Grant) (token string, expires time.Time, err error) {
	if err := checkID("room", room, false); err != nil {
		return "", time.Time{}, err
	}
	if err := checkID("uid", uid, false); err != nil {
		return "", time.Time{}, err
	}
	if err := checkID("tag", tag, true); err != nil {
		return "", time.Time{}, err
	}
	if !role.valid() {
		return "", time.Time{}, Errorf(CodeBadRequest, "role %q is not %q or %q", role, RoleHost, RoleAudience)
	}
	for _, g := range can {
		if !g.valid() {
			return "", time.Time{}, Errorf(CodeBadRequest, "grant %q is unknown", g)
		}
	}
	if ttl <= 0 {
		ttl = min(DefaultTokenTTL, t.maxTTL())
	}
	ttl = min(ttl, t.maxTTL())

	now := t.now()
	exp := jwt.NewNumericDate(now.Add(ttl))
	claims := Claims{
		Room: room,
		UID:  uid,
		Role: role,
		Tag:  tag,
		Can:  slices.Clip(can),
		RegisteredClaims: jwt.RegisteredClaims{
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: exp,
		},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.secret)
	if err != nil {
		return "", time.Time{}, &Error{Code: CodeInternal, Message: "sign token", Err: err}
	}
	return s, exp.Time, nil
}

// Verify checks token's signature (HS256 only; any other alg, "none"
// included, counts as forged) and expiry, and returns its claims. Errors are
// *Error: CodeTokenExpired once exp has passed, CodeTokenInvalid for anything
// malformed, forged or incomplete, with the jwt cause in Err. The token text
// itself is never put in an error, so errors are safe to log.
func (t *TokenIssuer) Verify(token string) (*Claims, error) {
	if len(token) > maxTokenLen {
		return nil, Errorf(CodeTokenInvalid, "token is longer than %d bytes", maxTokenLen)
	}
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, t.key,
		jwt.WithValidMethods([]string{signingAlg}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(t.now),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired) && c.ExpiresAt != nil:
		// The signature verified before claims were checked, so this token
		// is ours and merely old.
		return nil, &Error{
			Code:    CodeTokenExpired,
			Message: "token expired at " + c.ExpiresAt.UTC().Format(time.RFC3339),
			Err:     err,
		}
	case err != nil:
		return nil, &Error{Code: CodeTokenInvalid, Message: "token does not verify", Err: err}
	}
	if err := checkID("room", c.Room, false); err != nil {
		return nil, &Error{Code: CodeTokenInvalid, Message: "token has a bad room claim", Err: err}
	}
	if err := checkID("uid", c.UID, false); err != nil {
		return nil, &Error{Code: CodeTokenInvalid, Message: "token has a bad uid claim", Err: err}
	}
	if !c.Role.valid() {
		return nil, Errorf(CodeTokenInvalid, "token has role %q, want %q or %q", c.Role, RoleHost, RoleAudience)
	}
	for _, g := range c.Can {
		if !g.valid() {
			return nil, Errorf(CodeTokenInvalid, "token has grant %q, which this server does not know", truncate(string(g), 64))
		}
	}
	// A token's whole life, and what is left of it, must fit in MaxTTL: a
	// ten-year token (signed with a leaked or shared secret) is refused.
	limit := t.maxTTL() + lifetimeSkew
	if left := c.ExpiresAt.Sub(t.now()); left > limit {
		return nil, Errorf(CodeTokenInvalid, "token expires in %s, beyond the %s maximum lifetime", left.Round(time.Second), t.maxTTL())
	}
	if c.IssuedAt != nil && c.ExpiresAt.Sub(c.IssuedAt.Time) > limit {
		return nil, Errorf(CodeTokenInvalid, "token lives %s, beyond the %s maximum lifetime", c.ExpiresAt.Sub(c.IssuedAt.Time).Round(time.Second), t.maxTTL())
	}
	return &c, nil
}

// key is the jwt.Keyfunc: it hands out the secret only for HS256, a second
// guard behind WithValidMethods.
func (t *TokenIssuer) key(tok *jwt.Token) (any, error) {
	if tok.Method != jwt.SigningMethodHS256 {
		return nil, fmt.Errorf("signing method %v is not %s", tok.Header["alg"], signingAlg)
	}
	return t.secret, nil
}

// checkID checks a room, uid or tag: at most 64 characters of
// [A-Za-z0-9_.:@-], non-empty unless emptyOK. The charset keeps ids safe in
// logs, URLs and file names.
func checkID(what, s string, emptyOK bool) error {
	if s == "" {
		if emptyOK {
			return nil
		}
		return Errorf(CodeBadRequest, "%s is required", what)
	}
	if len(s) > maxIDLen {
		return Errorf(CodeBadRequest, "%s is %d characters long, at most %d allowed", what, len(s), maxIDLen)
	}
	for i := 0; i < len(s); i++ {
		if !idChar(s[i]) {
			return Errorf(CodeBadRequest, "%s %q has character %q; allowed are A-Z a-z 0-9 _ . : @ -", what, s, s[i])
		}
	}
	return nil
}

func idChar(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	switch b {
	case '_', '.', ':', '@', '-':
		return true
	}
	return false
}
