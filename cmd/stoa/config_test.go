package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// mapEnv is a getenv over a map, so tests never see the real environment.
func mapEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// writeYAML writes a config file into a test temp dir and returns its path.
func writeYAML(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "stoa.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func load(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	return loadConfig(args, mapEnv(env), io.Discard)
}

func TestLoadConfigDefaults(t *testing.T) {
	got, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.Dev = true // no API key, loopback listen
	want.TURN.PublicIP = "127.0.0.1"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LoadConfig() =\n%+v\nwant\n%+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("default config does not validate: %v", err)
	}
}

// TestLoadConfigPrecedence checks, setting by setting, that YAML beats the
// default, env beats YAML and a flag beats env.
func TestLoadConfigPrecedence(t *testing.T) {
	tests := []struct {
		name       string
		yaml       string
		envKey     string
		envVal     string
		flags      []string // nil: the setting has no flag
		get        func(Config) any
		def, y, e  any
		f          any
		extraYAML  string
		extraFlags []string
	}{
		{name: "listen", yaml: "listen: 127.0.0.2:1", envKey: "STOA_LISTEN", envVal: "127.0.0.3:2", flags: []string{"--listen", "127.0.0.4:3"},
			get: func(c Config) any { return c.Listen }, def: "127.0.0.1:8080", y: "127.0.0.2:1", e: "127.0.0.3:2", f: "127.0.0.4:3"},
		{name: "public_ip", yaml: "public_ip: 192.0.2.1", envKey: "STOA_PUBLIC_IP", envVal: "192.0.2.2", flags: []string{"--public-ip=192.0.2.3"},
			get: func(c Config) any { return c.PublicIP }, def: "", y: "192.0.2.1", e: "192.0.2.2", f: "192.0.2.3"},
		{name: "udp_port", yaml: "udp_port: 1", envKey: "STOA_UDP_PORT", envVal: "2", flags: []string{"--udp-port", "3"},
			get: func(c Config) any { return c.UDPPort }, def: 50000, y: 1, e: 2, f: 3},
		{name: "tcp_port", yaml: "tcp_port: 1", envKey: "STOA_TCP_PORT", envVal: "0", flags: []string{"--tcp-port", "3"},
			get: func(c Config) any { return c.TCPPort }, def: 50000, y: 1, e: 0, f: 3},
		{name: "ice_ips", yaml: "ice_ips: [10.0.0.1, 10.0.0.2]", envKey: "STOA_ICE_IPS", envVal: "10.0.0.3, 10.0.0.4", flags: []string{"--ice-ip", "127.0.0.1", "--ice-ip=::1,10.0.0.5"},
			get: func(c Config) any { return c.ICEIPs }, def: []string(nil), y: []string{"10.0.0.1", "10.0.0.2"}, e: []string{"10.0.0.3", "10.0.0.4"}, f: []string{"127.0.0.1", "::1", "10.0.0.5"}},
		{name: "tls_cert", yaml: "tls_cert: a.pem", envKey: "STOA_TLS_CERT", envVal: "b.pem", flags: []string{"--tls-cert", "c.pem"},
			get: func(c Config) any { return c.TLSCert }, def: "", y: "a.pem", e: "b.pem", f: "c.pem"},
		{name: "tls_key", yaml: "tls_key: a.key", envKey: "STOA_TLS_KEY", envVal: "b.key", flags: []string{"--tls-key", "c.key"},
			get: func(c Config) any { return c.TLSKey }, def: "", y: "a.key", e: "b.key", f: "c.key"},
		{name: "self_signed", yaml: "self_signed: true", envKey: "STOA_SELF_SIGNED", envVal: "false", flags: []string{"--self-signed"},
			get: func(c Config) any { return c.SelfSigned }, def: false, y: true, e: false, f: true},
		{name: "api_keys", yaml: "api_keys: [y1, y2]", envKey: "STOA_API_KEYS", envVal: "e1,e2,e3", flags: []string{"--api-key", "f1", "--api-key", "f2"},
			get: func(c Config) any { return c.APIKeys }, def: []string(nil), y: []string{"y1", "y2"}, e: []string{"e1", "e2", "e3"}, f: []string{"f1", "f2"}},
		{name: "token_secret", yaml: "token_secret: ys", envKey: "STOA_TOKEN_SECRET", envVal: "es", flags: []string{"--token-secret", "fs"},
			get: func(c Config) any { return c.TokenSecret }, def: "", y: "ys", e: "es", f: "fs"},
		{name: "dev", yaml: "dev: false", envKey: "STOA_DEV", envVal: "true", flags: []string{"--dev=false"},
			get: func(c Config) any { return c.Dev }, def: true, y: false, e: true, f: false},
		{name: "turn.enabled", yaml: "turn: {enabled: true}", envKey: "STOA_TURN_ENABLED", envVal: "0", flags: []string{"--turn"},
			get: func(c Config) any { return c.TURN.Enabled }, def: false, y: true, e: false, f: true},
		{name: "turn.port", yaml: "turn: {port: 1}", envKey: "STOA_TURN_PORT", envVal: "2", flags: []string{"--turn-port", "3"},
			get: func(c Config) any { return c.TURN.Port }, def: 3478, y: 1, e: 2, f: 3},
		{name: "turn.secret (no flag)", yaml: "turn: {secret: ys}", envKey: "STOA_TURN_SECRET", envVal: "es",
			get: func(c Config) any { return c.TURN.Secret }, def: "", y: "ys", e: "es"},
		{name: "grace", yaml: "grace: 1m", envKey: "STOA_GRACE", envVal: "2s", flags: []string{"--grace", "3ms"},
			get: func(c Config) any { return c.Grace }, def: 20 * time.Second, y: time.Minute, e: 2 * time.Second, f: 3 * time.Millisecond},
		{name: "log_level", yaml: "log_level: debug", envKey: "STOA_LOG_LEVEL", envVal: "warn", flags: []string{"--log-level", "error"},
			get: func(c Config) any { return c.LogLevel }, def: "info", y: "debug", e: "warn", f: "error"},
		{name: "metrics.listen", yaml: "metrics: {listen: 127.0.0.1:1}", envKey: "STOA_METRICS_LISTEN", envVal: "127.0.0.1:2",
			flags: []string{"--metrics-listen", "127.0.0.1:3"},
			get:   func(c Config) any { return c.Metrics.Listen }, def: "", y: "127.0.0.1:1", e: "127.0.0.1:2", f: "127.0.0.1:3"},
		{name: "metrics.room_labels", yaml: "metrics: {room_labels: true}", envKey: "STOA_METRICS_ROOM_LABELS", envVal: "false",
			flags: []string{"--metrics-room-labels"},
			get:   func(c Config) any { return c.Metrics.RoomLabels }, def: false, y: true, e: false, f: true},
		{name: "quality.voice", yaml: "quality: {voice: 0.35}", envKey: "STOA_QUALITY_VOICE", envVal: "0.4",
			flags: []string{"--quality-voice", "0.45"},
			get:   func(c Config) any { return c.Quality.Voice }, def: 0.3, y: 0.35, e: 0.4, f: 0.45},
		{name: "quality.window", yaml: "quality: {window: 30s}", envKey: "STOA_QUALITY_WINDOW", envVal: "40s",
			flags: []string{"--quality-window", "50s"},
			get:   func(c Config) any { return c.Quality.Window }, def: 20 * time.Second, y: 30 * time.Second, e: 40 * time.Second, f: 50 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := []string{"--config", writeYAML(t, tt.yaml)}
			env := map[string]string{tt.envKey: tt.envVal}
			layers := []struct {
				name string
				args []string
				env  map[string]string
				want any
			}{
				{"default", nil, nil, tt.def},
				{"yaml over default", cfg, nil, tt.y},
				{"env over yaml", cfg, env, tt.e},
			}
			if tt.flags != nil {
				layers = append(layers, struct {
					name string
					args []string
					env  map[string]string
					want any
				}{"flag over env", append(tt.flags, cfg...), env, tt.f})
			}
			for _, l := range layers {
				c, err := load(t, l.args, l.env)
				if err != nil {
					t.Fatalf("%s: %v", l.name, err)
				}
				if got := tt.get(c); !reflect.DeepEqual(got, l.want) {
					t.Errorf("%s: got %#v, want %#v", l.name, got, l.want)
				}
			}
		})
	}
}

func TestLoadConfigYAMLKeepsUnsetDefaults(t *testing.T) {
	c, err := load(t, []string{"--config", writeYAML(t, "turn:\n  enabled: true\nice_servers:\n  - urls: [\"stun:stun.example.org:3478\"]\n")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.TURN.Port != 3478 || c.TURN.Realm != "stoa" || c.UDPPort != 50000 || c.Grace != 20*time.Second {
		t.Errorf("defaults lost under partial YAML: %+v", c)
	}
	want := []ICEServer{{URLs: []string{"stun:stun.example.org:3478"}}}
	if !reflect.DeepEqual(c.ICEServers, want) {
		t.Errorf("ice_servers = %+v, want %+v", c.ICEServers, want)
	}
}

func TestLoadConfigTURNPublicIP(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"default", "", "127.0.0.1"},
		{"from public_ip", "public_ip: 203.0.113.9", "203.0.113.9"},
		{"own", "public_ip: 203.0.113.9\nturn: {public_ip: 198.51.100.1}", "198.51.100.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, []string{"--config", writeYAML(t, tt.yaml)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.TURN.PublicIP != tt.want {
				t.Errorf("turn.public_ip = %q, want %q", c.TURN.PublicIP, tt.want)
			}
		})
	}
}

func TestLoadConfigDevMode(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		yaml    string
		wantDev bool
		invalid string // substring of the Validate error; "" means valid
	}{
		{name: "nothing set: dev on", wantDev: true},
		{name: "api key: dev off", args: []string{"--api-key", "k"}, wantDev: false},
		{name: "api key from env: dev off", env: map[string]string{"STOA_API_KEYS": "k"}, wantDev: false},
		{name: "localhost: dev on", args: []string{"--listen", "localhost:8080"}, wantDev: true},
		{name: "ipv6 loopback: dev on", args: []string{"--listen", "[::1]:8080"}, wantDev: true},
		{name: "all interfaces: dev off, no key", args: []string{"--listen", ":8080"}, wantDev: false, invalid: "no way to get a token"},
		{name: "LAN address: dev off, no key", args: []string{"--listen", "192.168.1.5:8080"}, wantDev: false, invalid: "no api_keys"},
		{name: "public with key", args: []string{"--listen", "0.0.0.0:8443", "--api-key", "k"}, wantDev: false},
		{name: "explicit dev on public listen refused", args: []string{"--dev", "--listen", "0.0.0.0:8080"}, wantDev: true, invalid: "not a loopback address"},
		{name: "env dev on public listen refused", env: map[string]string{"STOA_DEV": "1", "STOA_LISTEN": "0.0.0.0:8080"}, wantDev: true, invalid: "mint tokens without a key"},
		{name: "yaml dev on public listen refused", yaml: "dev: true\nlisten: 10.0.0.1:8080\napi_keys: [k]", wantDev: true, invalid: "loopback"},
		{name: "explicit dev with key on loopback", args: []string{"--dev", "--api-key", "k"}, wantDev: true},
		{name: "explicit dev off without key refused", args: []string{"--dev=false"}, wantDev: false, invalid: "no api_keys"},
		{name: "yaml dev off, flag on", yaml: "dev: false", args: []string{"--dev"}, wantDev: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.yaml != "" {
				args = append([]string{"--config", writeYAML(t, tt.yaml)}, args...)
			}
			c, err := load(t, args, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if c.Dev != tt.wantDev {
				t.Errorf("Dev = %v, want %v", c.Dev, tt.wantDev)
			}
			err = c.Validate()
			switch {
			case tt.invalid == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tt.invalid != "" && (err == nil || !strings.Contains(err.Error(), tt.invalid)):
				t.Errorf("Validate error = %v, want one containing %q", err, tt.invalid)
			}
		})
	}
}

func TestLoadConfigErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{name: "unknown yaml key", args: []string{"--config", writeYAML(t, "listen: 127.0.0.1:1\nlisten_addr: x\n")}, want: "listen_addr"},
		{name: "unknown nested yaml key", args: []string{"--config", writeYAML(t, "turn:\n  prot: 1\n")}, want: "prot"},
		{name: "yaml wrong type", args: []string{"--config", writeYAML(t, "udp_port: many\n")}, want: "line 1"},
		{name: "yaml bad duration", args: []string{"--config", writeYAML(t, "grace: soon\n")}, want: "soon"},
		{name: "missing config file", args: []string{"--config", missing}, want: missing},
		{name: "unknown flag", args: []string{"--colour"}, want: "colour"},
		{name: "bad flag value", args: []string{"--udp-port", "x"}, want: "udp-port"},
		{name: "positional argument", args: []string{"extra"}, want: `unexpected argument "extra"`},
		{name: "bad env int", env: map[string]string{"STOA_TURN_PORT": "big"}, want: "STOA_TURN_PORT"},
		{name: "bad env bool", env: map[string]string{"STOA_DEV": "yes"}, want: "STOA_DEV"},
		{name: "bad env duration", env: map[string]string{"STOA_GRACE": "20"}, want: "STOA_GRACE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.args, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	_, err := load(t, []string{"--config", missing}, nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file error %v does not wrap fs.ErrNotExist", err)
	}
}

func TestLoadConfigEmptyYAML(t *testing.T) {
	if _, err := load(t, []string{"--config", writeYAML(t, "# nothing yet\n")}, nil); err != nil {
		t.Errorf("empty config file: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	ok.Dev = true
	tests := []struct {
		name string
		edit func(*Config)
		want string // "" means valid
	}{
		{"default dev", func(*Config) {}, ""},
		{"production", func(c *Config) {
			c.Dev, c.Listen, c.APIKeys, c.TLSCert, c.TLSKey = false, "0.0.0.0:443", []string{"k"}, "c.pem", "k.pem"
		}, ""},
		{"udp port 0 is any free port", func(c *Config) { c.UDPPort = 0 }, ""},
		{"tcp disabled", func(c *Config) { c.TCPPort = 0 }, ""},
		{"turn on", func(c *Config) { c.TURN.Enabled = true }, ""},
		{"bad listen", func(c *Config) { c.Listen = "8080" }, "listen"},
		{"udp port too big", func(c *Config) { c.UDPPort = 70000 }, "udp_port 70000"},
		{"tcp port negative", func(c *Config) { c.TCPPort = -1 }, "tcp_port -1"},
		{"turn port 0 when on", func(c *Config) { c.TURN.Enabled, c.TURN.Port = true, 0 }, "turn.port 0"},
		{"turn port clash", func(c *Config) { c.TURN.Enabled, c.TURN.Port = true, 50000 }, "turn.port and udp_port"},
		{"cert without key", func(c *Config) { c.TLSCert = "c.pem" }, "tls_key is not"},
		{"key without cert", func(c *Config) { c.TLSKey = "k.pem" }, "tls_cert is not"},
		{"self-signed and cert", func(c *Config) { c.TLSCert, c.TLSKey, c.SelfSigned = "c", "k", true }, "choose one"},
		{"unknown log level", func(c *Config) { c.LogLevel = "verbose" }, `log_level "verbose"`},
		{"bad public ip", func(c *Config) { c.PublicIP = "example.com" }, "public_ip"},
		{"bad ice ip", func(c *Config) { c.ICEIPs = []string{"eth0"} }, "ice_ips"},
		{"empty api key", func(c *Config) { c.APIKeys = []string{" "} }, "api_keys[0]"},
		{"negative grace", func(c *Config) { c.Grace = -time.Second }, "grace"},
		{"ice server without urls", func(c *Config) { c.ICEServers = []ICEServer{{}} }, "no urls"},
		{"ice server bad url", func(c *Config) { c.ICEServers = []ICEServer{{URLs: []string{"http://x"}}} }, "http://x"},
		{"metrics on their own address", func(c *Config) { c.Metrics.Listen = "127.0.0.1:9464" }, ""},
		{"bad metrics listen", func(c *Config) { c.Metrics.Listen = "9464" }, "metrics.listen"},
		{"metrics listen is listen", func(c *Config) { c.Metrics.Listen = c.Listen }, "metrics.listen and listen"},
		{"stricter tips", func(c *Config) { c.Quality.Poor, c.Quality.Voice, c.Quality.Down = 0.05, 0.2, 0.5 }, ""},
		{"tips out of order", func(c *Config) { c.Quality.Voice = 0.9 }, "poor"},
		{"no pings in a row", func(c *Config) { c.Quality.DownConsecutive = 0 }, "in a row"},
		{"a one-second window", func(c *Config) { c.Quality.Window = time.Second }, "quality.window"},
		{"several problems reported together", func(c *Config) { c.UDPPort, c.LogLevel = -5, "loud" }, "loud"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Errorf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestConfigRedacted(t *testing.T) {
	c := DefaultConfig()
	c.TokenSecret = "tok-secret-1"
	c.APIKeys = []string{"api-key-1", "api-key-2"}
	c.TURN.Secret = "turn-secret-1"
	c.ICEServers = []ICEServer{{URLs: []string{"turn:t.example.org"}, Username: "u", Credential: "ice-cred-1"}}
	secrets := []string{"tok-secret-1", "api-key-1", "api-key-2", "turn-secret-1", "ice-cred-1"}

	r := c.Redacted()
	if r.TokenSecret != "***" || r.TURN.Secret != "***" || r.ICEServers[0].Credential != "***" ||
		!reflect.DeepEqual(r.APIKeys, []string{"***", "***"}) {
		t.Errorf("Redacted() = %+v", r)
	}
	if c.APIKeys[0] != "api-key-1" || c.ICEServers[0].Credential != "ice-cred-1" {
		t.Error("Redacted changed the original")
	}
	if r.Listen != c.Listen || r.ICEServers[0].Username != "u" {
		t.Error("Redacted changed non-secret fields")
	}
	if empty := DefaultConfig().Redacted(); empty.TokenSecret != "" || empty.APIKeys != nil {
		t.Errorf("unset secrets should stay unset: %+v", empty)
	}

	// Logging a Config by mistake must not leak either.
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	logger.Info("config", "config", c)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", c)
	for _, s := range secrets {
		if strings.Contains(buf.String(), s) {
			t.Errorf("log output contains secret %q: %s", s, buf.String())
		}
	}
	if !strings.Contains(buf.String(), "127.0.0.1:8080") {
		t.Errorf("log output lacks the config itself: %s", buf.String())
	}
}

func TestConfigSlogLevel(t *testing.T) {
	tests := []struct {
		level string
		want  slog.Level
	}{
		{"debug", slog.LevelDebug}, {"info", slog.LevelInfo}, {"warn", slog.LevelWarn}, {"error", slog.LevelError}, {"bogus", slog.LevelInfo},
	}
	for _, tt := range tests {
		if got := (Config{LogLevel: tt.level}).SlogLevel(); got != tt.want {
			t.Errorf("SlogLevel(%q) = %v, want %v", tt.level, got, tt.want)
		}
	}
}

func TestLoadConfigHelp(t *testing.T) {
	var out bytes.Buffer
	_, err := loadConfig([]string{"--help"}, mapEnv(nil), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help error = %v, want flag.ErrHelp", err)
	}
	if out.String() != serveUsage() {
		t.Errorf("--help printed\n%s\nwant\n%s", out.String(), serveUsage())
	}
	for _, o := range configOptions {
		if o.flag != "" && !strings.Contains(out.String(), "--"+o.flag) {
			t.Errorf("usage lacks --%s", o.flag)
		}
	}
}

// TestConfigDocs keeps docs/config.md and `stoa serve --help` saying the same
// things: the doc quotes the usage verbatim and names every key, variable and flag.
func TestConfigDocs(t *testing.T) {
	raw, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	if !strings.Contains(doc, serveUsage()) {
		t.Errorf("docs/config.md does not quote the current usage; paste this in:\n%s", serveUsage())
	}
	for _, o := range configOptions {
		for _, name := range []string{o.yaml, o.env} {
			if name != "" && !strings.Contains(doc, "`"+name+"`") {
				t.Errorf("docs/config.md does not mention `%s`", name)
			}
		}
		if o.flag != "" && !strings.Contains(doc, "`--"+o.flag) {
			t.Errorf("docs/config.md does not mention `--%s`", o.flag)
		}
	}
}

// TestConfigDocsExample loads the example YAML of docs/config.md, so the
// example an operator copies is one the server accepts.
func TestConfigDocsExample(t *testing.T) {
	raw, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(raw), "```yaml\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/config.md has no ```yaml example")
	}
	c, err := load(t, []string{"--config", writeYAML(t, example)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("the docs example does not validate: %v", err)
	}
	if c.Dev || !c.TURN.Enabled || c.TURN.PublicIP != c.PublicIP {
		t.Errorf("docs example loaded as %+v", c.Redacted())
	}
}
