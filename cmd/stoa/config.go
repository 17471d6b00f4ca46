package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stoa-video/stoa/callcenter"
	"github.com/stoa-video/stoa/quality"
	"github.com/stoa-video/stoa/sfu"
)

// Config is everything `stoa serve` can be told. Defaults live in
// DefaultConfig; a YAML file (--config), STOA_* environment variables and
// flags override them in that order. docs/config.md describes every field.
type Config struct {
	Listen   string   `yaml:"listen"`    // HTTP(S)+websocket address
	PublicIP string   `yaml:"public_ip"` // NAT 1:1 address announced in ICE host candidates
	UDPPort  int      `yaml:"udp_port"`  // the single ICE UDP port (UDP mux)
	TCPPort  int      `yaml:"tcp_port"`  // ICE-TCP fallback port (0 disables)
	ICEIPs   []string `yaml:"ice_ips"`   // restrict host candidates to these local IPs (empty = all)
	// KeyframeInterval is the least time between two keyframe requests to a
	// publisher, however many viewers ask.
	KeyframeInterval time.Duration `yaml:"keyframe_interval"`
	TLSCert          string        `yaml:"tls_cert"`     // PEM certificate file
	TLSKey           string        `yaml:"tls_key"`      // PEM key file
	SelfSigned       bool          `yaml:"self_signed"`  // make a throwaway certificate at start
	APIKeys          []string      `yaml:"api_keys"`     // operator keys for POST /api/token
	TokenSecret      string        `yaml:"token_secret"` // HMAC secret for tokens; empty = random per start
	Dev              bool          `yaml:"dev"`          // pages mint tokens without a key (loopback only)
	ICEServers       []ICEServer   `yaml:"ice_servers"`  // STUN/TURN servers handed to clients
	TURN             TURNConfig    `yaml:"turn"`         // the embedded TURN server
	Grace            time.Duration `yaml:"grace"`        // websocket resume window
	LogLevel         string        `yaml:"log_level"`    // debug|info|warn|error
	DataDir          string        `yaml:"data_dir"`     // the embedded store (face gallery)
	ModelsDir        string        `yaml:"models_dir"`   // face and OCR weights; "" = <repo>/.cache/models
	// TokenMaxTTL is the longest a token may live, minted or presented.
	TokenMaxTTL time.Duration `yaml:"token_max_ttl"`
	// AllowedOrigins are web origins besides the server's own whose pages may
	// open the websocket (and, in dev mode, post to the API).
	AllowedOrigins []string      `yaml:"allowed_origins"`
	Limits         LimitsConfig  `yaml:"limits"`
	Record         RecordConfig  `yaml:"record"`
	Metrics        MetricsConfig `yaml:"metrics"`
	Quality        QualityConfig `yaml:"quality"`
	Calls          CallsConfig   `yaml:"calls"`
}

// QualityConfig holds the network tips' rules (the seed's, by default) and
// the window the pings' lost rate is measured over (docs/network-quality.md).
type QualityConfig struct {
	// Window is how far back the lost rate looks.
	Window time.Duration `yaml:"window"`
	// Down, Voice and Poor are the lost rates above which the agent is told
	// the customer is down or left, to suggest voice, or that the network is poor.
	Down  float64 `yaml:"down"`
	Voice float64 `yaml:"voice"`
	Poor  float64 `yaml:"poor"`
	// DownConsecutive is how many pings lost in a row mean down or left.
	DownConsecutive int `yaml:"down_consecutive"`
}

// MetricsConfig says where Prometheus scrapes /metrics and what it sees.
type MetricsConfig struct {
	// Listen serves /metrics, without credentials, on an address of its
	// own; empty serves it on Listen behind the operator key.
	Listen string `yaml:"listen"`
	// RoomLabels adds per-room series labelled with the room name.
	RoomLabels bool `yaml:"room_labels"`
}

// RecordConfig is the room policy for recordings and where they go.
type RecordConfig struct {
	// Tags are the participant tags recorded as soon as they publish.
	Tags []string `yaml:"tags"`
	// Dir holds the recordings; empty means DATA_DIR/recordings.
	Dir string `yaml:"dir"`
}

// LimitsConfig bounds the work clients can make: see docs/security.md.
type LimitsConfig struct {
	Jobs          int     `yaml:"jobs"`             // concurrent snapshot/face/OCR jobs; 0 = one per core
	JobQueue      int     `yaml:"job_queue"`        // jobs waiting for a slot; 0 = 2 × jobs
	ClaimRate     float64 `yaml:"claim_rate"`       // claim requests per second per agent token
	ClaimBurst    int     `yaml:"claim_burst"`      // claim requests at once per agent token
	MaxConnsPerIP int     `yaml:"max_conns_per_ip"` // open HTTP connections per client address; 0 = no cap
	// IdleTimeout closes a keep-alive connection with no request for this long.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxRooms, MaxRoomParticipants and MaxSessions are the admission limits.
	MaxRooms            int `yaml:"max_rooms"`
	MaxRoomParticipants int `yaml:"max_room_participants"`
	MaxSessions         int `yaml:"max_sessions"`
}

// ICEServer is a STUN or TURN server handed to clients in `joined`; its JSON
// form is the browser's RTCIceServer.
type ICEServer struct {
	URLs       []string `yaml:"urls" json:"urls"`
	Username   string   `yaml:"username" json:"username,omitempty"`
	Credential string   `yaml:"credential" json:"credential,omitempty"`
}

// TURNConfig configures the embedded TURN server, which relays media for
// clients whose networks block the SFU's UDP port.
type TURNConfig struct {
	Enabled  bool   `yaml:"enabled"`
	Port     int    `yaml:"port"`      // UDP and TCP
	Realm    string `yaml:"realm"`     // TURN realm
	Secret   string `yaml:"secret"`    // HMAC secret for short-lived credentials; empty = random per start
	PublicIP string `yaml:"public_ip"` // relay address; LoadConfig fills in PublicIP or 127.0.0.1
}

// DefaultConfig returns the settings used when nothing overrides them. Dev is
// false here; LoadConfig turns it on when no API key is configured and Listen
// is a loopback address.
func DefaultConfig() Config {
	return Config{
		Listen:  "127.0.0.1:8080",
		UDPPort: 50000,
		TCPPort: 50000,
		Grace:   20 * time.Second,

		KeyframeInterval: sfu.DefaultKeyframeInterval,
		Quality:          QualityConfig{Window: 20 * time.Second, Down: 0.8, Voice: 0.3, Poor: 0.1, DownConsecutive: 10},
		Record:           RecordConfig{Tags: []string{"customer"}},
		LogLevel:         "info",
		DataDir:          "stoa-data",
		TURN:             TURNConfig{Port: 3478, Realm: "stoa"},

		Calls: CallsConfig{RingTimeout: callcenter.DefaultRingTimeout, LinkTTL: 0,
			LongCall: callcenter.DefaultLongCall, LongCallGrace: callcenter.DefaultLongCallGrace, WebhookRetry: callcenter.DefaultRetryBase},

		TokenMaxTTL: 24 * time.Hour,
		Limits: LimitsConfig{ClaimRate: 2, ClaimBurst: 10, MaxConnsPerIP: 512, IdleTimeout: 60 * time.Second,
			MaxRooms: sfu.DefaultMaxRooms, MaxRoomParticipants: sfu.DefaultMaxParticipants, MaxSessions: 20_000},
	}
}

// configOption ties one setting to its YAML key, environment variable and
// flag, so that parsing, `--help` and the docs test share one list.
type configOption struct {
	yaml  string                     // key in the YAML file ("" for --config)
	env   string                     // STOA_ variable, "" if none
	flag  string                     // flag name without dashes, "" if none
	arg   string                     // value placeholder in usage ("" for booleans)
	def   string                     // default shown in usage when it is not the field's default value
	help  string                     // one line for usage
	value func(c *Config) flag.Value // binds the option to a field of c; nil for YAML-only options
}

// configOptions lists every setting in the order `--help` and docs/config.md show them.
var configOptions = []configOption{
	{yaml: "listen", env: "STOA_LISTEN", flag: "listen", arg: "ADDR",
		help:  "HTTP(S) and websocket address, host:port",
		value: func(c *Config) flag.Value { return (*optString)(&c.Listen) }},
	{yaml: "public_ip", env: "STOA_PUBLIC_IP", flag: "public-ip", arg: "IP",
		help:  "address announced in ICE host candidates behind a 1:1 NAT",
		value: func(c *Config) flag.Value { return (*optString)(&c.PublicIP) }},
	{yaml: "udp_port", env: "STOA_UDP_PORT", flag: "udp-port", arg: "PORT",
		help:  "the one UDP port all ICE media shares; 0 picks any free port",
		value: func(c *Config) flag.Value { return (*optInt)(&c.UDPPort) }},
	{yaml: "tcp_port", env: "STOA_TCP_PORT", flag: "tcp-port", arg: "PORT",
		help:  "ICE-TCP fallback port; 0 disables it",
		value: func(c *Config) flag.Value { return (*optInt)(&c.TCPPort) }},
	{yaml: "keyframe_interval", env: "STOA_KEYFRAME_INTERVAL", flag: "keyframe-interval", arg: "DURATION",
		help:  "least time between two keyframe requests to a publisher, however many viewers ask",
		value: func(c *Config) flag.Value { return (*optDuration)(&c.KeyframeInterval) }},
	{yaml: "ice_ips", env: "STOA_ICE_IPS", flag: "ice-ip", arg: "IP",
		def:   "all",
		help:  "offer host candidates only on these local IPs; repeatable or comma list",
		value: func(c *Config) flag.Value { return &optList{p: &c.ICEIPs} }},
	{yaml: "tls_cert", env: "STOA_TLS_CERT", flag: "tls-cert", arg: "FILE",
		help:  "TLS certificate file, PEM; needs --tls-key",
		value: func(c *Config) flag.Value { return (*optString)(&c.TLSCert) }},
	{yaml: "tls_key", env: "STOA_TLS_KEY", flag: "tls-key", arg: "FILE",
		help:  "TLS private key file, PEM",
		value: func(c *Config) flag.Value { return (*optString)(&c.TLSKey) }},
	{yaml: "self_signed", env: "STOA_SELF_SIGNED", flag: "self-signed",
		help:  "serve https with a throwaway certificate made at start",
		value: func(c *Config) flag.Value { return (*optBool)(&c.SelfSigned) }},
	{yaml: "api_keys", env: "STOA_API_KEYS", flag: "api-key", arg: "KEY",
		help:  "operator key for POST /api/token; repeatable or comma list",
		value: func(c *Config) flag.Value { return &optList{p: &c.APIKeys} }},
	{yaml: "token_secret", env: "STOA_TOKEN_SECRET", flag: "token-secret", arg: "SECRET",
		def:   "random per start",
		help:  "HMAC secret that signs tokens",
		value: func(c *Config) flag.Value { return (*optString)(&c.TokenSecret) }},
	{yaml: "dev", env: "STOA_DEV", flag: "dev",
		def:   "on if no API key and listen is loopback",
		help:  "dev mode: pages mint tokens without a key; loopback only",
		value: func(c *Config) flag.Value { return (*optBool)(&c.Dev) }},
	{yaml: "ice_servers",
		help: "STUN/TURN servers handed to clients: list of {urls, username, credential}"},
	{yaml: "turn.enabled", env: "STOA_TURN_ENABLED", flag: "turn",
		help:  "run the embedded TURN server",
		value: func(c *Config) flag.Value { return (*optBool)(&c.TURN.Enabled) }},
	{yaml: "turn.port", env: "STOA_TURN_PORT", flag: "turn-port", arg: "PORT",
		help:  "TURN port, UDP and TCP",
		value: func(c *Config) flag.Value { return (*optInt)(&c.TURN.Port) }},
	{yaml: "turn.realm",
		def:  "stoa",
		help: "TURN realm"},
	{yaml: "turn.secret", env: "STOA_TURN_SECRET",
		def:   "random per start",
		help:  "HMAC secret for short-lived TURN credentials",
		value: func(c *Config) flag.Value { return (*optString)(&c.TURN.Secret) }},
	{yaml: "turn.public_ip",
		def:  "public_ip, else 127.0.0.1",
		help: "relay address the TURN server announces"},
	{yaml: "grace", env: "STOA_GRACE", flag: "grace", arg: "DURATION",
		help:  "how long a participant whose websocket dropped may resume",
		value: func(c *Config) flag.Value { return (*optDuration)(&c.Grace) }},
	{yaml: "log_level", env: "STOA_LOG_LEVEL", flag: "log-level", arg: "LEVEL",
		help:  "debug, info, warn or error",
		value: func(c *Config) flag.Value { return (*optString)(&c.LogLevel) }},
	{yaml: "data_dir", env: "STOA_DATA_DIR", flag: "data-dir", arg: "DIR",
		help:  "where the embedded store keeps its files (the face gallery, the call center)",
		value: func(c *Config) flag.Value { return (*optString)(&c.DataDir) }},
	{yaml: "models_dir", env: "STOA_MODELS", flag: "models-dir", arg: "DIR",
		def:   "<repo>/.cache/models",
		help:  "face and OCR weights installed by make models",
		value: func(c *Config) flag.Value { return (*optString)(&c.ModelsDir) }},
	{yaml: "token_max_ttl", env: "STOA_TOKEN_MAX_TTL", flag: "token-max-ttl", arg: "DURATION",
		help:  "longest lifetime of a token, minted here or presented",
		value: func(c *Config) flag.Value { return (*optDuration)(&c.TokenMaxTTL) }},
	{yaml: "allowed_origins", env: "STOA_ALLOWED_ORIGINS", flag: "allowed-origin", arg: "ORIGIN",
		help:  "web origin besides the server's own allowed to open the websocket; repeatable or comma list",
		value: func(c *Config) flag.Value { return &optList{p: &c.AllowedOrigins} }},
	{yaml: "record.tags", env: "STOA_RECORD_TAGS", flag: "record-tag", arg: "TAG",
		help:  "participant tag recorded as soon as it publishes (the room policy); repeatable or comma list, empty for none",
		value: func(c *Config) flag.Value { return &optList{p: &c.Record.Tags} }},
	{yaml: "record.dir", env: "STOA_RECORD_DIR", flag: "record-dir", arg: "DIR",
		def:   "DATA_DIR/recordings",
		help:  "where recordings and their signed manifests are written",
		value: func(c *Config) flag.Value { return (*optString)(&c.Record.Dir) }},
	{yaml: "metrics.listen", env: "STOA_METRICS_LISTEN", flag: "metrics-listen", arg: "ADDR",
		help:  "Prometheus /metrics on this separate address, without a key; empty serves it on listen behind the operator key",
		value: func(c *Config) flag.Value { return (*optString)(&c.Metrics.Listen) }},
	{yaml: "metrics.room_labels", env: "STOA_METRICS_ROOM_LABELS", flag: "metrics-room-labels",
		help:  "also export per-room metrics labelled with the room name",
		value: func(c *Config) flag.Value { return (*optBool)(&c.Metrics.RoomLabels) }},
	{yaml: "calls.ring_timeout", env: "STOA_CALLS_RING_TIMEOUT", flag: "calls-ring-timeout", arg: "DURATION",
		help:  "how long a queued call rings before the customer is told nobody is free",
		value: func(c *Config) flag.Value { return (*optDuration)(&c.Calls.RingTimeout) }},
	{yaml: "calls.link_ttl", env: "STOA_CALLS_LINK_TTL", flag: "calls-link-ttl", arg: "DURATION",
		def:   "token_max_ttl",
		help:  "how long a call's link (and its customer's token) is valid; at most token_max_ttl",
		value: func(c *Config) flag.Value { return (*optDuration)(&c.Calls.LinkTTL) }},
	{yaml: "calls.long_call", env: "STOA_CALLS_LONG_CALL", flag: "calls-long-call", arg: "DURATION",
		help:  "the console asks whether to go on after a call this long",
		value: func(c *Config) flag.Value { return (*optDuration)(&c.Calls.LongCall) }},
	{yaml: "calls.long_call_grace", env: "STOA_CALLS_LONG_CALL_GRACE", flag: "calls-long-call-grace", arg: "DURATION",
		help:  "the console hangs up this long after asking, without an answer",
		value: func(c *Config) flag.Value { return (*optDuration)(&c.Calls.LongCallGrace) }},
	{yaml: "calls.public_url", env: "STOA_CALLS_PUBLIC_URL", flag: "calls-public-url", arg: "URL",
		def:   "the address the request came to",
		help:  "scheme://host the customers' links and QR codes point at",
		value: func(c *Config) flag.Value { return (*optString)(&c.Calls.PublicURL) }},
	{yaml: "calls.webhooks", env: "STOA_CALLS_WEBHOOKS", flag: "calls-webhook", arg: "URL|SECRET",
		help:  "endpoint POSTed the call events, signed with SECRET; repeatable or comma list",
		value: func(c *Config) flag.Value { return &optWebhooks{p: &c.Calls.Webhooks} }},
	{yaml: "calls.webhook_retry", env: "STOA_CALLS_WEBHOOK_RETRY",
		help:  "wait before a failed webhook's first retry; it doubles up to 5m",
		value: func(c *Config) flag.Value { return (*optDuration)(&c.Calls.WebhookRetry) }},
	{yaml: "quality.window", env: "STOA_QUALITY_WINDOW", flag: "quality-window", arg: "DURATION",
		help:  "how far back a participant's ping lost rate looks (network tips and levels)",
		value: func(c *Config) flag.Value { return (*optDuration)(&c.Quality.Window) }},
	{yaml: "quality.down", env: "STOA_QUALITY_DOWN", flag: "quality-down", arg: "RATE",
		help:  "ping lost rate above which the agent is told the customer is down or left the call page",
		value: func(c *Config) flag.Value { return (*optFloat)(&c.Quality.Down) }},
	{yaml: "quality.voice", env: "STOA_QUALITY_VOICE", flag: "quality-voice", arg: "RATE",
		help:  "ping lost rate above which the agent is told to suggest switching to voice",
		value: func(c *Config) flag.Value { return (*optFloat)(&c.Quality.Voice) }},
	{yaml: "quality.poor", env: "STOA_QUALITY_POOR", flag: "quality-poor", arg: "RATE",
		help:  "ping lost rate above which the agent is told the customer's network is poor",
		value: func(c *Config) flag.Value { return (*optFloat)(&c.Quality.Poor) }},
	{yaml: "quality.down_consecutive", env: "STOA_QUALITY_DOWN_CONSECUTIVE", flag: "quality-down-consecutive", arg: "N",
		help:  "pings lost in a row that mean down or left",
		value: func(c *Config) flag.Value { return (*optInt)(&c.Quality.DownConsecutive) }},
	{yaml: "limits.jobs", env: "STOA_JOBS", flag: "jobs", arg: "N",
		def:   "one per core",
		help:  "snapshot, face and OCR jobs that run at once",
		value: func(c *Config) flag.Value { return (*optInt)(&c.Limits.Jobs) }},
	{yaml: "limits.job_queue", env: "STOA_JOB_QUEUE",
		def:   "2 × jobs",
		help:  "jobs that may wait for a slot; beyond, 503 with Retry-After",
		value: func(c *Config) flag.Value { return (*optInt)(&c.Limits.JobQueue) }},
	{yaml: "limits.claim_rate", env: "STOA_CLAIM_RATE",
		help:  "claim requests per second per agent token (and 2.5 × per address); negative turns it off",
		value: func(c *Config) flag.Value { return (*optFloat)(&c.Limits.ClaimRate) }},
	{yaml: "limits.claim_burst",
		def:  "10",
		help: "claim requests at once per agent token"},
	{yaml: "limits.max_conns_per_ip", env: "STOA_MAX_CONNS_PER_IP", flag: "max-conns-per-ip", arg: "N",
		help:  "open HTTP connections per client address; 0 means no cap",
		value: func(c *Config) flag.Value { return (*optInt)(&c.Limits.MaxConnsPerIP) }},
	{yaml: "limits.idle_timeout", env: "STOA_IDLE_TIMEOUT", flag: "idle-timeout", arg: "DURATION",
		help:  "close a keep-alive HTTP connection idle this long",
		value: func(c *Config) flag.Value { return (*optDuration)(&c.Limits.IdleTimeout) }},
	{yaml: "limits.max_rooms", env: "STOA_MAX_ROOMS",
		help:  "rooms the server holds; a join that would open one more is refused (server_full)",
		value: func(c *Config) flag.Value { return (*optInt)(&c.Limits.MaxRooms) }},
	{yaml: "limits.max_room_participants", env: "STOA_MAX_ROOM_PARTICIPANTS",
		help:  "participants per room, live viewers included (room_full)",
		value: func(c *Config) flag.Value { return (*optInt)(&c.Limits.MaxRoomParticipants) }},
	{yaml: "limits.max_sessions", env: "STOA_MAX_SESSIONS",
		help:  "websocket sessions the server holds, connected or within their grace window (server_full)",
		value: func(c *Config) flag.Value { return (*optInt)(&c.Limits.MaxSessions) }},
}

// LoadConfig builds the `serve` configuration from its arguments (without
// the subcommand name): defaults, then the YAML file named by --config, then
// STOA_* variables read through getenv (nil means os.Getenv), then flags.
// `--help` prints usage to stderr and returns flag.ErrHelp. LoadConfig does
// not call Validate.
func LoadConfig(args []string, getenv func(string) string) (Config, error) {
	return loadConfig(args, getenv, os.Stderr)
}

func loadConfig(args []string, getenv func(string) string, usageOut io.Writer) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	// The flags are parsed twice: first to find --config and to reject bad
	// flags before any file is read, then onto the merged configuration so
	// that they override it.
	scratch := DefaultConfig()
	var path string
	fs := newServeFlagSet(&scratch, &path, usageOut)
	if err := fs.Parse(args); err != nil {
		return Config{}, err // flag.ErrHelp stays unwrapped for errors.Is and ==
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}

	c := DefaultConfig()
	devSet := false
	if path != "" {
		set, err := c.loadYAML(path)
		if err != nil {
			return Config{}, err
		}
		devSet = devSet || set
	}
	set, err := c.applyEnv(getenv)
	if err != nil {
		return Config{}, err
	}
	devSet = devSet || set

	fs = newServeFlagSet(&c, new(string), io.Discard)
	if err := fs.Parse(args); err != nil {
		return Config{}, fmt.Errorf("serve flags: %w", err)
	}
	fs.Visit(func(f *flag.Flag) { devSet = devSet || f.Name == "dev" })

	if !devSet {
		c.Dev = len(c.APIKeys) == 0 && loopbackListen(c.Listen)
	}
	if c.TURN.PublicIP == "" {
		c.TURN.PublicIP = c.PublicIP
		if c.TURN.PublicIP == "" {
			c.TURN.PublicIP = "127.0.0.1"
		}
	}
	return c, nil
}

// newServeFlagSet defines the serve flags on a new FlagSet writing into c
// (and --config into path). Other subcommands can build theirs the same way.
func newServeFlagSet(c *Config, path *string, usageOut io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(usageOut)
	fs.Var((*optString)(path), "config", "YAML config file")
	for _, o := range configOptions {
		if o.flag != "" {
			fs.Var(o.value(c), o.flag, o.help)
		}
	}
	fs.Usage = func() { io.WriteString(fs.Output(), serveUsage()) }
	return fs
}

// serveUsage is the text of `stoa serve --help`; docs/config.md quotes it
// verbatim (a test checks).
func serveUsage() string {
	var b strings.Builder
	b.WriteString(`Usage: stoa serve [flags]

Runs the SFU. Each setting comes from, last one winning: its default, the
YAML file given by --config, a STOA_* environment variable, a flag.
docs/config.md explains them all.

Flags:
  --config FILE
        YAML config file (unknown keys are an error)
`)
	defaults := DefaultConfig()
	var envOnly, yamlOnly []configOption
	for _, o := range configOptions {
		switch {
		case o.flag == "" && o.env != "":
			envOnly = append(envOnly, o)
		case o.flag == "":
			yamlOnly = append(yamlOnly, o)
		default:
			name := "--" + o.flag
			if o.arg != "" {
				name += " " + o.arg
			}
			writeUsageEntry(&b, name, o.help, optionDefault(o, &defaults), "env "+o.env)
		}
	}
	b.WriteString("\nEnvironment only:\n")
	for _, o := range envOnly {
		writeUsageEntry(&b, o.env, o.help, optionDefault(o, &defaults), "yaml "+o.yaml)
	}
	b.WriteString("\nYAML only:\n")
	for _, o := range yamlOnly {
		writeUsageEntry(&b, o.yaml, o.help, optionDefault(o, &defaults))
	}
	return b.String()
}

// writeUsageEntry writes one usage entry: the name, then the help with the
// non-empty notes in parentheses.
func writeUsageEntry(b *strings.Builder, name, help string, notes ...string) {
	var kept []string
	for _, n := range notes {
		if n != "" {
			kept = append(kept, n)
		}
	}
	fmt.Fprintf(b, "  %s\n        %s", name, help)
	if len(kept) > 0 {
		fmt.Fprintf(b, " (%s)", strings.Join(kept, "; "))
	}
	b.WriteString("\n")
}

// optionDefault renders "default X" for usage, or "" when the default is
// empty, zero or false.
func optionDefault(o configOption, defaults *Config) string {
	d := o.def
	if d == "" && o.value != nil {
		d = o.value(defaults).String()
	}
	if d == "" || d == "0" || d == "false" {
		return ""
	}
	return "default " + d
}

// loadYAML decodes the file at path over c. Unknown keys are an error, so a
// misspelt setting is not silently ignored. devSet reports whether the file
// sets dev, which then stops LoadConfig from choosing it.
func (c *Config) loadYAML(path string) (devSet bool, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("read config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("config %s: %w", path, err)
	}
	var probe struct {
		Dev *bool `yaml:"dev"`
	}
	if err := yaml.Unmarshal(data, &probe); err != nil {
		return false, fmt.Errorf("config %s: %w", path, err)
	}
	return probe.Dev != nil, nil
}

// applyEnv sets every option whose STOA_ variable is non-empty. devSet
// reports whether STOA_DEV was among them.
func (c *Config) applyEnv(getenv func(string) string) (devSet bool, err error) {
	for _, o := range configOptions {
		if o.env == "" || o.value == nil {
			continue
		}
		v := getenv(o.env)
		if v == "" {
			continue
		}
		if err := o.value(c).Set(v); err != nil {
			return false, fmt.Errorf("environment %s: %w", o.env, err)
		}
		devSet = devSet || o.env == "STOA_DEV"
	}
	return devSet, nil
}

// Validate reports every setting that would make the server unsafe or
// unusable, joined into one error.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen %q: %w", c.Listen, err)
	}
	if c.PublicIP != "" && net.ParseIP(c.PublicIP) == nil {
		bad("public_ip %q is not an IP address", c.PublicIP)
	}
	checkPort := func(key string, p int, zeroOK bool) {
		if p < 0 || p > 65535 || (p == 0 && !zeroOK) {
			bad("%s %d is not a port number (1-65535)", key, p)
		}
	}
	if c.TokenMaxTTL < time.Minute {
		bad("token_max_ttl %s is shorter than a minute", c.TokenMaxTTL)
	}
	for _, o := range c.AllowedOrigins {
		if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			bad("allowed_origins: %q is not an origin like https://app.example.com", o)
		}
	}
	if c.Limits.Jobs < 0 || c.Limits.JobQueue < 0 || c.Limits.ClaimBurst < 0 || c.Limits.MaxConnsPerIP < 0 {
		bad("limits: jobs, job_queue, claim_burst and max_conns_per_ip must not be negative")
	}
	if c.Limits.MaxRooms < 1 || c.Limits.MaxRoomParticipants < 2 || c.Limits.MaxSessions < 2 {
		bad("limits: max_rooms must be at least 1, max_room_participants and max_sessions at least 2")
	}
	if c.KeyframeInterval < 50*time.Millisecond || c.KeyframeInterval > time.Minute {
		bad("keyframe_interval %s must be between 50ms and 1m", c.KeyframeInterval)
	}
	if c.Metrics.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			bad("metrics.listen %q: %w", c.Metrics.Listen, err)
		} else if c.Metrics.Listen == c.Listen {
			bad("metrics.listen and listen are both %q: leave metrics.listen empty to serve /metrics there", c.Listen)
		}
	}
	if err := c.Quality.thresholds().Validate(); err != nil {
		bad("%w", err)
	}
	if c.Quality.Window < 2*time.Second || c.Quality.Window > 10*time.Minute {
		bad("quality.window %s must be between 2s and 10m", c.Quality.Window)
	}
	c.Calls.validate(c.TokenMaxTTL, bad)
	if c.Limits.IdleTimeout <= 0 {
		bad("limits.idle_timeout %s must be positive", c.Limits.IdleTimeout)
	}
	checkPort("udp_port", c.UDPPort, true)
	checkPort("tcp_port", c.TCPPort, true)
	for _, ip := range c.ICEIPs {
		if net.ParseIP(ip) == nil {
			bad("ice_ips: %q is not an IP address", ip)
		}
	}

	switch {
	case c.TLSCert != "" && c.TLSKey == "":
		bad("tls_cert is set but tls_key is not: both are needed")
	case c.TLSKey != "" && c.TLSCert == "":
		bad("tls_key is set but tls_cert is not: both are needed")
	}
	if c.SelfSigned && c.TLSCert != "" {
		bad("self_signed and tls_cert are both set: choose one")
	}

	for i, k := range c.APIKeys {
		if strings.TrimSpace(k) == "" {
			bad("api_keys[%d] is empty", i)
		}
	}
	if c.Dev && !loopbackListen(c.Listen) {
		bad("dev mode is on but listen %q is not a loopback address: dev mode lets pages mint tokens "+
			"without a key, so anyone who can reach the server could join any room; use a loopback listen "+
			"address, or turn dev off and set an API key", c.Listen)
	}
	if !c.Dev && len(c.APIKeys) == 0 {
		bad("no api_keys and dev mode is off: there would be no way to get a token; set --api-key " +
			"(or STOA_API_KEYS), or use --dev with a loopback listen address")
	}

	for i, s := range c.ICEServers {
		if len(s.URLs) == 0 {
			bad("ice_servers[%d] has no urls", i)
		}
		for _, u := range s.URLs {
			if !strings.HasPrefix(u, "stun:") && !strings.HasPrefix(u, "stuns:") &&
				!strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
				bad("ice_servers[%d]: url %q is not stun:, stuns:, turn: or turns:", i, u)
			}
		}
	}

	checkPort("turn.port", c.TURN.Port, !c.TURN.Enabled)
	if c.TURN.Enabled {
		if c.TURN.Realm == "" {
			bad("turn.realm is empty")
		}
		if c.TURN.Port == c.UDPPort {
			bad("turn.port and udp_port are both %d", c.UDPPort)
		}
		if c.TURN.Port == c.TCPPort {
			bad("turn.port and tcp_port are both %d", c.TCPPort)
		}
	}
	if c.TURN.PublicIP != "" && net.ParseIP(c.TURN.PublicIP) == nil {
		bad("turn.public_ip %q is not an IP address", c.TURN.PublicIP)
	}

	if c.Grace < 0 {
		bad("grace %v is negative", c.Grace)
	}
	if _, ok := logLevels[c.LogLevel]; !ok {
		bad("log_level %q is not debug, info, warn or error", c.LogLevel)
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid config: %w", errors.Join(errs...))
	}
	return nil
}

var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug,
	"info":  slog.LevelInfo,
	"warn":  slog.LevelWarn,
	"error": slog.LevelError,
}

// SlogLevel returns LogLevel as a slog.Level; an unknown level (which
// Validate refuses) gives slog.LevelInfo.
func (c Config) SlogLevel() slog.Level {
	return logLevels[c.LogLevel] // the zero Level is LevelInfo
}

// Redacted returns a copy safe to log: non-empty TokenSecret, TURN.Secret,
// API keys, ICE server credentials and webhook secrets become "***". Empty secrets stay
// empty, so the log still shows that a random one is in use.
func (c Config) Redacted() Config {
	const mask = "***"
	r := c
	if r.TokenSecret != "" {
		r.TokenSecret = mask
	}
	if r.TURN.Secret != "" {
		r.TURN.Secret = mask
	}
	if c.APIKeys != nil {
		r.APIKeys = make([]string, len(c.APIKeys))
		for i := range r.APIKeys {
			r.APIKeys[i] = mask
		}
	}
	r.ICEIPs = append([]string(nil), c.ICEIPs...)
	r.Calls = c.Calls.redacted()
	if c.ICEServers != nil {
		r.ICEServers = make([]ICEServer, len(c.ICEServers))
		for i, s := range c.ICEServers {
			s.URLs = append([]string(nil), s.URLs...)
			if s.Credential != "" {
				s.Credential = mask
			}
			r.ICEServers[i] = s
		}
	}
	return r
}

// redactedConfig has Config's fields but not its LogValue method, so slog
// does not redact it again forever.
type redactedConfig Config

// LogValue makes slog print the Redacted form, so logging a Config never
// leaks its secrets.
func (c Config) LogValue() slog.Value {
	return slog.AnyValue(redactedConfig(c.Redacted()))
}

// loopbackListen reports whether a listen address accepts only local
// connections: "localhost" or a loopback IP. An empty host (":8080")
// listens everywhere, and other names cannot be known to be local.
func loopbackListen(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// thresholds are the tip rules as the quality package takes them.
func (q QualityConfig) thresholds() quality.Thresholds {
	return quality.Thresholds{Down: q.Down, Voice: q.Voice, Poor: q.Poor, DownConsecutive: q.DownConsecutive}
}
