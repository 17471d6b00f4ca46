package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/stoa-video/stoa/signaling"
	"github.com/stoa-video/stoa/signaling/client"
)

// stoaDriver plays publishers and subscribers over Stoa's own protocol
// (docs/signaling.md) with the Go client.
type stoaDriver struct {
	cfg    *Config
	apis   *apis
	issuer *signaling.TokenIssuer // nil: tokens come from POST /api/token
	http   *http.Client
	log    *slog.Logger
}

func newStoaDriver(cfg *Config, a *apis) *stoaDriver {
	d := &stoaDriver{cfg: cfg, apis: a, http: &http.Client{Timeout: 10 * time.Second}, log: cfg.logger()}
	if len(cfg.Secret) > 0 {
		d.issuer = signaling.NewTokenIssuer(cfg.Secret)
	}
	return d
}

// token mints a token for uid: signed here with --secret, or asked of the
// server's POST /api/token (open in dev mode from loopback, else --api-key).
func (d *stoaDriver) token(ctx context.Context, uid string, role signaling.Role) (string, error) {
	ttl := max(time.Hour, d.cfg.JoinTimeout+d.cfg.Duration+10*time.Minute)
	if d.issuer != nil {
		tok, _, err := d.issuer.Issue(d.cfg.Room, uid, role, "", ttl)
		if err != nil {
			return "", fmt.Errorf("sign token for %s: %w", uid, err)
		}
		return tok, nil
	}
	u, err := url.Parse(d.cfg.URL)
	if err != nil {
		return "", fmt.Errorf("parse server URL: %w", err)
	}
	u.Scheme = strings.Replace(u.Scheme, "ws", "http", 1)
	u.Path, u.RawQuery = "/api/token", ""
	body, _ := json.Marshal(map[string]any{"room": d.cfg.Room, "uid": uid, "role": role, "ttl": int(ttl.Seconds())})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("token request for %s: %w", uid, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if d.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+d.cfg.APIKey)
	}
	res, err := d.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("POST %s for %s: %w", u, uid, err)
	}
	defer res.Body.Close()
	var out struct{ Token, Code, Message string }
	if err := json.NewDecoder(io.LimitReader(res.Body, 64<<10)).Decode(&out); err != nil || res.StatusCode != http.StatusOK || out.Token == "" {
		return "", fmt.Errorf("POST %s for %s: HTTP %d %s %s (not in dev mode? give --secret or --api-key): %v",
			u, uid, res.StatusCode, out.Code, out.Message, err)
	}
	return out.Token, nil
}

func (d *stoaDriver) publish(ctx context.Context, p *publisher) (*publication, error) {
	tok, err := d.token(ctx, p.uid, signaling.RoleHost)
	if err != nil {
		return nil, err
	}
	c, err := client.Dial(ctx, client.Options{URL: d.cfg.URL, Token: tok, Role: string(signaling.RoleHost),
		API: d.apis.pub, Logger: d.log})
	if err != nil {
		return nil, fmt.Errorf("join as %s: %w", p.uid, err)
	}
	if err := c.Publish(ctx, p.tracks()...); err != nil {
		return nil, fmt.Errorf("%w (and closing: %v)", err, c.Close())
	}
	return &publication{pc: c.PublishPC(), senders: c.PublishSenders(), close: func() error { return leave(c) }}, nil
}

// subscribe joins as s (audience), waits until every publisher's stream is
// announced and subscribes to each, timing the join and each subscribe.
func (d *stoaDriver) subscribe(ctx context.Context, s *subscriber) (func() error, error) {
	tok, err := d.token(ctx, s.uid, signaling.RoleAudience)
	if err != nil {
		return nil, err
	}
	s.joinStart.Store(max(s.now(), 1))
	c, err := client.Dial(ctx, client.Options{URL: d.cfg.URL, Token: tok, Role: string(signaling.RoleAudience),
		API: d.apis.sub, Logger: d.log})
	if err != nil {
		return nil, fmt.Errorf("join as %s: %w", s.uid, err)
	}
	c.OnTrack(func(uid string, tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		s.receive(uid, tr, c.SubscribePC(uid))
	})
	missing := map[string]bool{}
	for uid := range s.subs {
		missing[uid] = true
	}
	for _, st := range c.Joined().Streams {
		delete(missing, st.UID)
	}
	for len(missing) > 0 {
		m, err := c.WaitEvent(ctx, signaling.TypeStreamAdded, func(m signaling.Message) bool {
			return m.Stream != nil && missing[m.Stream.UID]
		})
		if err != nil {
			return nil, fmt.Errorf("%s waiting for the publishers' streams: %w (and closing: %v)", s.uid, err, c.Close())
		}
		delete(missing, m.Stream.UID)
	}
	for uid, sub := range s.subs {
		sub.subscribeAt.Store(max(s.now(), 1))
		if err := c.Subscribe(ctx, uid); err != nil {
			return nil, fmt.Errorf("%s: %w (and closing: %v)", s.uid, err, c.Close())
		}
	}
	return func() error { return leave(c) }, nil
}

// leave says goodbye, so the server frees the participant at once instead
// of keeping it for its resume window, then closes the client.
func leave(c *client.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Leave(ctx)
}
