package main

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stoa-video/stoa/callcenter"
	"github.com/stoa-video/stoa/recorder"
)

// CallsConfig configures the call center: the queue's ring timeout, the
// customers' links, the console's long-call guard and the webhooks
// (docs/call-center.md).
type CallsConfig struct {
	// RingTimeout is how long a queued call rings before the customer is
	// told nobody is free.
	RingTimeout time.Duration `yaml:"ring_timeout"`
	// LinkTTL is how long a call's link (and its customer's token) is valid;
	// at most token_max_ttl, which 0 (the default) means.
	LinkTTL time.Duration `yaml:"link_ttl"`
	// LongCall and LongCallGrace are the console's long-call guard.
	LongCall      time.Duration `yaml:"long_call"`
	LongCallGrace time.Duration `yaml:"long_call_grace"`
	// PublicURL is what the links and QR codes point at; empty uses the
	// address the operator's request came to.
	PublicURL string `yaml:"public_url"`
	// Webhooks receive the call events, signed with their secrets.
	Webhooks []WebhookConfig `yaml:"webhooks"`
	// WebhookRetry is the wait before a failed delivery's first retry; it
	// doubles up to 5 minutes.
	WebhookRetry time.Duration `yaml:"webhook_retry"`
}

// WebhookConfig is one webhook endpoint: in YAML {url, secret} or the
// string "URL|SECRET", which is also the environment's and the flag's form.
type WebhookConfig struct {
	URL    string `yaml:"url"`
	Secret string `yaml:"secret"`
}

// UnmarshalYAML reads either form.
func (w *WebhookConfig) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return w.parse(n.Value)
	}
	type plain WebhookConfig
	return n.Decode((*plain)(w))
}

func (w *WebhookConfig) parse(s string) error {
	u, secret, ok := strings.Cut(strings.TrimSpace(s), "|")
	if !ok {
		return fmt.Errorf("webhook %q is not URL|SECRET", redactWebhook(s))
	}
	w.URL, w.Secret = strings.TrimSpace(u), strings.TrimSpace(secret)
	return nil
}

// redactWebhook keeps the URL part of a URL|SECRET string, for messages.
func redactWebhook(s string) string {
	u, _, _ := strings.Cut(s, "|")
	return u + "|***"
}

// optWebhooks is the flag and environment form of calls.webhooks: a
// repeatable, comma-separated list of URL|SECRET. As with optList, the
// first Set replaces what the file or environment gave.
type optWebhooks struct {
	p   *[]WebhookConfig
	set bool
}

func (o *optWebhooks) String() string {
	if o.p == nil {
		return ""
	}
	var parts []string
	for _, w := range *o.p {
		parts = append(parts, w.URL+"|***") // usage and errors never show a secret
	}
	return strings.Join(parts, ",")
}

func (o *optWebhooks) Set(v string) error {
	if !o.set {
		*o.p = nil
		o.set = true
	}
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		var w WebhookConfig
		if err := w.parse(s); err != nil {
			return err
		}
		*o.p = append(*o.p, w)
	}
	return nil
}

// validate adds what is wrong with the call center's settings to bad.
func (c CallsConfig) validate(tokenMaxTTL time.Duration, bad func(string, ...any)) {
	between := func(key string, d, lo, hi time.Duration) {
		if d < lo || d > hi {
			bad("calls.%s %s must be between %s and %s", key, d, lo, hi)
		}
	}
	between("ring_timeout", c.RingTimeout, time.Second, time.Hour)
	between("long_call", c.LongCall, time.Second, 24*time.Hour)
	between("long_call_grace", c.LongCallGrace, time.Second, 10*time.Minute)
	between("webhook_retry", c.WebhookRetry, 10*time.Millisecond, 5*time.Minute)
	if c.LinkTTL != 0 && (c.LinkTTL < time.Minute || c.LinkTTL > tokenMaxTTL) {
		bad("calls.link_ttl %s must be between 1m and token_max_ttl (%s): the link carries a token", c.LinkTTL, tokenMaxTTL)
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.RawQuery != "" || u.Fragment != "" {
			bad("calls.public_url %q is not a URL like https://claims.example.com", c.PublicURL)
		}
	}
	seen := map[string]bool{}
	for i, w := range c.Webhooks {
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("calls.webhooks[%d]: url %q is not an http(s) URL", i, w.URL)
		}
		if w.Secret == "" {
			bad("calls.webhooks[%d] (%s) has no secret: receivers could not tell its events from forgeries", i, w.URL)
		}
		if seen[w.URL] {
			bad("calls.webhooks[%d]: %s is listed twice", i, w.URL)
		}
		seen[w.URL] = true
	}
}

// options are the callcenter.Options these settings make; a link lives
// token_max_ttl unless calls.link_ttl says less.
func (c CallsConfig) options(tokenMaxTTL time.Duration) callcenter.Options {
	link := c.LinkTTL
	if link == 0 {
		link = tokenMaxTTL
	}
	o := callcenter.Options{RingTimeout: c.RingTimeout, LinkTTL: link, LongCall: c.LongCall,
		LongCallGrace: c.LongCallGrace, RetryBase: c.WebhookRetry}
	for _, w := range c.Webhooks {
		o.Webhooks = append(o.Webhooks, callcenter.Webhook{URL: w.URL, Secret: w.Secret})
	}
	return o
}

// redacted is c with the webhook secrets replaced by "***".
func (c CallsConfig) redacted() CallsConfig {
	if c.Webhooks != nil {
		ws := make([]WebhookConfig, len(c.Webhooks))
		for i, w := range c.Webhooks {
			if w.Secret != "" {
				w.Secret = "***"
			}
			if u, err := url.Parse(w.URL); err == nil && (u.RawQuery != "" || u.User != nil) {
				u.RawQuery, u.User = "***", nil // a query or user info may carry a credential too
				w.URL = u.String()
			}
			ws[i] = w
		}
		c.Webhooks = ws
	}
	return c
}

// fileRecording files a recording's start with its call and tells the call
// center's webhooks about it (cc is nil before the call center opens).
func fileRecording(cc *callcenter.Service, ev string, info recorder.Summary, log *slog.Logger) {
	if cc == nil {
		return
	}
	if ev == recorder.EventStarted {
		cc.AddRecording(info.Room, info.ID)
	}
	data := map[string]any{"id": info.ID, "room": info.Room, "uid": info.UID, "state": info.State}
	if call, ok := callcenter.CallOf(info.Room); ok {
		data["call"] = call
	}
	if err := cc.Emit(ev, data); err != nil {
		log.Warn("recording webhook", "event", ev, "id", info.ID, "err", err)
	}
}
