package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/stoa-video/stoa/api"
	"github.com/stoa-video/stoa/sfu"
	"github.com/stoa-video/stoa/signaling"
	"github.com/stoa-video/stoa/signaling/client"
)

// testServer is a whole Stoa server on loopback, mounted as cmd/stoa mounts
// it: SFU, signaling (the websocket and the token API) and the HTTP API.
type testServer struct {
	t      testing.TB
	tokens *signaling.TokenIssuer
	http   *httptest.Server
	url    string // the websocket's
}

// testConfig is what a test may set before its server starts.
type testConfig struct {
	sig signaling.Options
	api api.Options
}

type serverOption func(*testConfig)

// withKey lets the operator key "operator-key" call the API.
func withKey(c *testConfig) { c.sig.APIKeys = []string{"operator-key"} }

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newTestServer(t testing.TB, opts ...serverOption) *testServer {
	t.Helper()
	media, err := sfu.New(sfu.Config{UDPPort: 0, TCPPort: -1, ICEIPs: []string{"127.0.0.1"}}, quietLogger())
	if err != nil {
		t.Fatalf("sfu: %v", err)
	}
	tokens := signaling.NewTokenIssuer([]byte("test-secret-0123456789"))
	c := testConfig{
		sig: signaling.Options{SFU: media, Tokens: tokens, Grace: 2 * time.Second, Logger: quietLogger()},
		api: api.Options{SFU: media, Logger: quietLogger()},
	}
	for _, f := range opts {
		f(&c)
	}
	sig := signaling.NewServer(c.sig)
	c.api.Gate = sig
	if c.api.Stats == nil {
		c.api.Stats = sig
	}
	mux := http.NewServeMux()
	for _, path := range []string{"/ws", "/api/token", "/api/info", "/healthz"} {
		mux.Handle(path, sig.Handler())
	}
	apiRoutes := api.New(c.api).Handler()
	mux.Handle("/api/", apiRoutes)
	mux.Handle("/whip/", apiRoutes)
	mux.Handle("/whep/", apiRoutes)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		sig.Close()
		hs.Close()
		_ = media.Close()
	})
	return &testServer{t: t, tokens: tokens, http: hs, url: "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"}
}

func (ts *testServer) token(room, uid string, role signaling.Role, can ...signaling.Grant) string {
	tok, _, err := ts.tokens.Issue(room, uid, role, "", time.Hour, can...)
	if err != nil {
		ts.t.Fatalf("issue token: %v", err)
	}
	return tok
}

// dial joins room as uid with a pion client whose candidates are on 127.0.0.1 only.
func (ts *testServer) dial(ctx context.Context, room, uid string, role signaling.Role) *client.Client {
	ts.t.Helper()
	return ts.dialTagged(ctx, room, uid, role, "")
}

// dialTagged is dial with a tag in the token (customer, agent).
func (ts *testServer) dialTagged(ctx context.Context, room, uid string, role signaling.Role, tag string) *client.Client {
	ts.t.Helper()
	loopback := loopbackAPI(ts.t)
	tok, _, err := ts.tokens.Issue(room, uid, role, tag, time.Hour)
	if err != nil {
		ts.t.Fatal(err)
	}
	c, err := client.Dial(ctx, client.Options{URL: ts.url, Token: tok, AutoSubscribe: true,
		API: loopback, Logger: quietLogger()})
	if err != nil {
		ts.t.Fatalf("dial %s/%s: %v", room, uid, err)
	}
	ts.t.Cleanup(func() { _ = c.Close() })
	return c
}

// loopbackAPI is a pion API with the default codecs and interceptors whose
// candidates are on 127.0.0.1 only.
func loopbackAPI(t testing.TB) *webrtc.API {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		t.Fatal(err)
	}
	s := webrtc.SettingEngine{}
	s.SetIncludeLoopbackCandidate(true)
	s.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(s))
}

// post sends body to the API with the operator key and decodes the JSON reply.
func post(t *testing.T, url, key string, body []byte) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	return doJSON(t, req)
}

func doJSON(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := map[string]any{}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: not JSON (%d): %.200s", req.Method, req.URL, res.StatusCode, raw)
	}
	return res.StatusCode, out
}

func httpGet(t *testing.T, url, bearer string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func testdata(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../shared/testdata", rel))
	if err != nil {
		t.Fatalf("test data (../shared beside the repository): %v", err)
	}
	return b
}

func hugePNG(t *testing.T) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 8000, 6000))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
