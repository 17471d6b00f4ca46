package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestConfigCalls: the call center's settings from each source, the two
// YAML forms of a webhook, and their checks.
func TestConfigCalls(t *testing.T) {
	c, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Calls.RingTimeout != time.Minute || c.Calls.LongCall != 30*time.Minute || c.Calls.LongCallGrace != 30*time.Second ||
		c.Calls.LinkTTL != 0 || c.Calls.WebhookRetry != time.Second || len(c.Calls.Webhooks) != 0 {
		t.Fatalf("defaults %+v", c.Calls)
	}

	yamlFile := writeYAML(t, `
calls:
  ring_timeout: 45s
  public_url: https://claims.example.com
  webhooks:
    - url: https://hooks.example.com/stoa
      secret: s3cret-one
    - "https://other.example.com/in|s3cret-two"
`)
	c, err = load(t, []string{"--config", yamlFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Calls.RingTimeout != 45*time.Second || c.Calls.PublicURL != "https://claims.example.com" || len(c.Calls.Webhooks) != 2 ||
		c.Calls.Webhooks[0] != (WebhookConfig{"https://hooks.example.com/stoa", "s3cret-one"}) ||
		c.Calls.Webhooks[1] != (WebhookConfig{"https://other.example.com/in", "s3cret-two"}) {
		t.Fatalf("from YAML %+v", c.Calls)
	}

	env := map[string]string{"STOA_CALLS_WEBHOOKS": "https://a.example.com/h|env-secret", "STOA_CALLS_LONG_CALL": "10s"}
	c, err = load(t, []string{"--config", yamlFile, "--calls-ring-timeout", "5s"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Calls.RingTimeout != 5*time.Second || c.Calls.LongCall != 10*time.Second || len(c.Calls.Webhooks) != 1 ||
		c.Calls.Webhooks[0].Secret != "env-secret" {
		t.Fatalf("env over YAML, flags over env: %+v", c.Calls)
	}
	c, err = load(t, []string{"--calls-webhook", "https://f.example.com|one", "--calls-webhook", "https://g.example.com|two"}, env)
	if err != nil || len(c.Calls.Webhooks) != 2 || c.Calls.Webhooks[1].URL != "https://g.example.com" {
		t.Fatalf("repeated flag: %+v %v", c.Calls.Webhooks, err)
	}
	if _, err := load(t, []string{"--calls-webhook", "https://no-secret.example.com"}, nil); err == nil {
		t.Fatal("a webhook without |SECRET was taken")
	}

	for _, tc := range []struct {
		name string
		set  func(*CallsConfig)
		want string
	}{
		{"ring timeout", func(c *CallsConfig) { c.RingTimeout = 0 }, "calls.ring_timeout"},
		{"link beyond token lifetime", func(c *CallsConfig) { c.LinkTTL = 48 * time.Hour }, "calls.link_ttl"},
		{"grace", func(c *CallsConfig) { c.LongCallGrace = time.Hour }, "calls.long_call_grace"},
		{"public url", func(c *CallsConfig) { c.PublicURL = "claims.example.com" }, "calls.public_url"},
		{"webhook url", func(c *CallsConfig) { c.Webhooks = []WebhookConfig{{URL: "ftp://x", Secret: "s"}} }, "calls.webhooks[0]"},
		{"webhook secret", func(c *CallsConfig) { c.Webhooks = []WebhookConfig{{URL: "https://x"}} }, "has no secret"},
		{"webhook twice", func(c *CallsConfig) {
			c.Webhooks = []WebhookConfig{{URL: "https://x", Secret: "a"}, {URL: "https://x", Secret: "b"}}
		}, "listed twice"},
	} {
		cfg := DefaultConfig()
		cfg.Dev = true
		tc.set(&cfg.Calls)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error about %s", tc.name, err, tc.want)
		}
	}
}

// TestConfigCallsRedacted: webhook secrets, and credentials in a webhook
// URL's query, never reach the log.
func TestConfigCallsRedacted(t *testing.T) {
	c := DefaultConfig()
	c.Calls.Webhooks = []WebhookConfig{{URL: "https://hooks.example.com/in?key=url-credential", Secret: "hook-secret-1"}}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "config", c)
	for _, s := range []string{"hook-secret-1", "url-credential"} {
		if strings.Contains(buf.String(), s) {
			t.Errorf("log output contains %q: %s", s, buf.String())
		}
	}
	if !strings.Contains(buf.String(), "hooks.example.com") || c.Calls.Webhooks[0].Secret != "hook-secret-1" {
		t.Errorf("redaction lost the endpoint or changed the original: %s", buf.String())
	}
}
