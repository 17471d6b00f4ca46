//go:build browser

// What the browser tests stand on: the real stoa binary serving on loopback (as `make run` does), a headless
// Chromium with a fake camera and microphone, tabs driven through chromedp, and a poll that fails with
// everything needed to see why (each tab's state and events, its console, the server log).

package webui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const (
	chromiumPath = "/usr/bin/chromium"
	// stepTimeout bounds each awaited step (a join, first frames, a mute seen on the other side): a
	// bound only a real defect trips on a busy 2-core machine; a step returns as soon as it holds.
	stepTimeout = 45 * time.Second
	pollEvery   = 100 * time.Millisecond
	evalTimeout = 30 * time.Second
)

// setup is what every browser test needs once: Chromium, and the stoa binary built from ./cmd/stoa into dir.
// It runs at the first test that needs it, so a -run that selects no browser test builds and installs nothing.
var setup struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if setup.dir != "" {
		os.RemoveAll(setup.dir)
	}
	os.Exit(code)
}

// stoaBinary installs Chromium if missing and builds stoa (once), failing the test if either fails.
func stoaBinary(t *testing.T) string {
	t.Helper()
	setup.once.Do(func() {
		if setup.err = ensureChromium(); setup.err != nil {
			return
		}
		if setup.dir, setup.err = os.MkdirTemp("", "stoa-browser-test"); setup.err != nil {
			return
		}
		setup.bin = filepath.Join(setup.dir, "stoa")
		build := exec.Command("go", "build", "-o", setup.bin, "./cmd/stoa")
		build.Dir = ".." // the repository root
		if out, err := build.CombinedOutput(); err != nil {
			setup.err = fmt.Errorf("go build ./cmd/stoa: %w\n%s", err, out)
		}
	})
	if setup.err != nil {
		t.Fatalf("browser test setup: %v", setup.err)
	}
	return setup.bin
}

// ensureChromium installs Debian's chromium when it is missing. It never skips: no browser is a failure.
func ensureChromium() error {
	if _, err := os.Stat(chromiumPath); err == nil {
		return nil
	}
	fmt.Fprintln(os.Stderr, "browser tests: installing chromium with apt-get")
	apt := func(args ...string) error {
		name := "apt-get"
		if os.Geteuid() != 0 {
			name, args = "sudo", append([]string{"apt-get"}, args...)
		}
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		return cmd.Run()
	}
	if err := apt("install", "-y", "chromium"); err != nil {
		// A fresh machine may have no package lists yet.
		if err := apt("update"); err != nil {
			return fmt.Errorf("apt-get update: %w", err)
		}
		if err := apt("install", "-y", "chromium"); err != nil {
			return fmt.Errorf("apt-get install chromium: %w", err)
		}
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		return fmt.Errorf("chromium installed but %s is missing: %w", chromiumPath, err)
	}
	return nil
}

/* ------------------------------------------------------------------ the server */

// server is a running `stoa serve` in dev mode on loopback, with its output kept for failure reports.
type server struct {
	url   string // http://127.0.0.1:port
	log   *tailBuffer
	shown int // how much of log a failure report has shown already
}

// startServer runs the stoa binary as `make run` does, on a free port, with ICE on 127.0.0.1 only (one UDP
// port, no ICE-TCP), and stops it (SIGTERM, then wait) when the test ends.
func startServer(t *testing.T) *server {
	t.Helper()
	bin := stoaBinary(t)
	port := freePort(t)
	s := &server{url: fmt.Sprintf("http://127.0.0.1:%d", port), log: &tailBuffer{}}
	cmd := exec.Command(bin, "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--udp-port", "0", "--tcp-port", "0", "--ice-ip", "127.0.0.1", "--dev", "--data-dir", t.TempDir())
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start stoa serve: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second): // a bound only a hung shutdown trips
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("stoa serve did not exit within 30 s of SIGTERM")
		}
		switch {
		case !t.Failed():
		case s.shown == 0:
			t.Logf("stoa serve output (last 200 lines):\n%s", s.log.tail(200))
		default:
			t.Logf("stoa serve output after the failure report:\n%s", s.log.from(s.shown))
		}
	})

	deadline := time.Now().Add(stepTimeout)
	for {
		res, err := http.Get(s.url + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("stoa serve exited before it was healthy: %v\n%s", err, s.log.tail(50))
		case <-time.After(pollEvery):
		}
		if time.Now().After(deadline) {
			t.Fatalf("stoa serve not healthy within %v (last error: %v)\n%s", stepTimeout, err, s.log.tail(50))
		}
	}
}

// token asks the server for a token as an app's backend does (dev mode on loopback needs no key).
func (s *server) token(t *testing.T, room, uid, tag string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"room": room, "uid": uid, "role": "host", "tag": tag})
	res, err := http.Post(s.url+"/api/token", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST /api/token: %v", err)
	}
	defer res.Body.Close()
	var out struct {
		Token   string `json:"token"`
		Message string `json:"message"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusOK || out.Token == "" {
		t.Fatalf("POST /api/token: status %d, message %q, decode error %v", res.StatusCode, out.Message, err)
	}
	return out.Token
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// tailBuffer keeps what a process writes, for its last lines in failure reports.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// size is how much has been written so far.
func (b *tailBuffer) size() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

// from is what was written after the first off bytes.
func (b *tailBuffer) from(off int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()[off:]
}

// tail is the last n lines.
func (b *tailBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	lines := strings.Split(strings.TrimRight(b.buf.String(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

/* ------------------------------------------------------------------ the browser and its tabs */

// browser is one headless Chromium for one test; its tabs are the two sides of a call.
type browser struct {
	t    *testing.T
	ctx  context.Context
	srv  *server
	tabs []*tab
}

// newBrowser starts Chromium with a fake camera and microphone that need no permission prompt, WebRTC
// allowed over loopback and sound allowed to autoplay, in a fresh profile (chromedp makes a temporary
// --user-data-dir and removes it). It closes when the test ends.
func newBrowser(t *testing.T, srv *server, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	stoaBinary(t) // installs Chromium if missing
	// The defaults: headless, --no-first-run, --disable-sync, --disable-background-networking and more; the
	// flags the tests rely on are repeated below so they do not depend on chromedp's list.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox, // Chromium refuses to start as root without it
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
	)
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx, srv: srv}
}

// tab is one page in the browser, e.g. the agent's console or the customer's call page.
type tab struct {
	name    string
	ctx     context.Context
	b       *browser
	console *tailBuffer
}

// open opens path (on the server) in a new tab, keeping the page's console output for failure reports.
func (b *browser) open(name, path string) *tab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	b.t.Cleanup(cancel)
	tb := &tab{name: name, ctx: ctx, b: b, console: &tailBuffer{}}
	b.tabs = append(b.tabs, tb)
	if err := chromedp.Do(ctx); err != nil { // opens the tab, so the console subscription below has a target
		b.fail("%s: open a tab: %v", name, err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			where := ""
			if m.Source != "" { // an entry of the browser log, e.g. a failed request: say which
				where = " (" + m.Source + " " + m.URL + ")"
			}
			fmt.Fprintf(tb.console, "%s %s%s\n", m.Type, oneLine(m.String(), 300), where)
		}
	}()
	if err := chromedp.Do(ctx, chromedp.Navigate(b.srv.url+path)); err != nil {
		b.fail("%s: open %s: %v", name, path, err)
	}
	return tb
}

// fail ends the test with the message and what every tab and the server were doing.
func (b *browser) fail(format string, args ...any) {
	b.t.Helper()
	var sb strings.Builder
	fmt.Fprintf(&sb, format, args...)
	for _, tb := range b.tabs {
		state, err := evalJS[string](tb, dumpJS)
		if err != nil {
			state = "(could not read: " + err.Error() + ")"
		}
		fmt.Fprintf(&sb, "\n--- %s: %s\n    console (last 20 lines):\n%s", tb.name, state, indent(tb.console.tail(20)))
	}
	b.srv.shown = b.srv.log.size()
	fmt.Fprintf(&sb, "\n--- stoa serve (last 40 lines):\n%s", indent(b.srv.log.tail(40)))
	b.t.Fatal(sb.String())
}

// dumpJS describes a page's state: the pages' test hooks (window.__stoa), or what the seed app recorded.
const dumpJS = `JSON.stringify({
  page: location.pathname + location.search,
  state: window.__stoa?.state,
  status: document.getElementById('status')?.textContent,
  remoteMuted: document.getElementById('remote-muted')?.dataset,
  metrics: window.__stoa?.metrics,
  network: window.__stoa?.network && { ...__stoa.network, ping: __stoa.client?.getPingStats?.() },
  events: (window.__stoa?.events ?? window.__seed?.events ?? []).slice(-20).map((e) => e.name + ':' + e.uid),
  seed: window.__seed && { afterJoin: __seed.afterJoin, dispatched: __seed.dispatched, alerts: __seed.alerts,
    notes: __seed.notes, log: __seed.log.slice(-15).map((m) => String(m.message)) },
})`

// evalJS evaluates a JavaScript expression in the tab, awaiting it if it is a promise.
func evalJS[T any](tb *tab, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(tb.ctx, evalTimeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// mustEval is evalJS that fails the test on an error.
func mustEval[T any](tb *tab, expr string) T {
	tb.b.t.Helper()
	v, err := evalJS[T](tb, expr)
	if err != nil {
		tb.b.fail("%s: evaluate %s: %v", tb.name, oneLine(expr, 200), err)
	}
	return v
}

// click clicks the element with that id as a user would (a mouse click at its centre).
func (tb *tab) click(id string) {
	tb.b.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, evalTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID(id))); err != nil {
		tb.b.fail("%s: click #%s: %v", tb.name, id, err)
	}
}

// waitUntil calls check every 100 ms until it reports true; after stepTimeout the test fails with desc and
// the last error check returned (which may also say what it saw instead).
func (tb *tab) waitUntil(desc string, check func() (bool, error)) {
	tb.b.t.Helper()
	tb.waitWithin(stepTimeout, desc, check)
}

// waitWithin is waitUntil with another bound, for a step that waits on something slower by design (a
// measurement window filling up).
func (tb *tab) waitWithin(bound time.Duration, desc string, check func() (bool, error)) {
	tb.b.t.Helper()
	deadline := time.Now().Add(bound)
	for {
		ok, err := check()
		if ok && err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.b.fail("%s: %s: not within %v (last: %v)", tb.name, desc, bound, err)
		}
		time.Sleep(pollEvery)
	}
}

// waitJS waits until the JavaScript boolean expression is true in the tab.
func (tb *tab) waitJS(desc, expr string) {
	tb.b.t.Helper()
	tb.waitUntil(desc, func() (bool, error) { return evalJS[bool](tb, expr) })
}

/* ------------------------------------------------------------------ media checks */

// rtpIn is what one inbound-rtp stats entry says about the media received.
type rtpIn struct {
	Packets int64  `json:"packets"` // packetsReceived
	Frames  int64  `json:"frames"`  // framesDecoded (video)
	Samples int64  `json:"samples"` // totalSamplesReceived (audio)
	Codec   string `json:"codec"`   // the codec's mimeType, e.g. video/VP8
}

// inbound is a receiving PeerConnection's audio and video.
type inbound struct {
	Audio rtpIn `json:"audio"`
	Video rtpIn `json:"video"`
}

// inboundJS reads an RTCPeerConnection's inbound-rtp stats as an inbound.
const inboundJS = `async (pc) => {
  if (!pc) throw new Error('no RTCPeerConnection (yet)');
  const report = await pc.getStats();
  const out = { audio: {}, video: {} };
  report.forEach((s) => {
    if (s.type !== 'inbound-rtp' || !out[s.kind]) return;
    out[s.kind] = {
      packets: s.packetsReceived ?? 0, frames: s.framesDecoded ?? 0, samples: s.totalSamplesReceived ?? 0,
      codec: report.get(s.codecId)?.mimeType ?? '',
    };
  });
  return out;
}`

// inbound reads the stats of the RTCPeerConnection that pcExpr (a JavaScript expression) evaluates to.
func (tb *tab) inbound(pcExpr string) (inbound, error) {
	return evalJS[inbound](tb, "("+inboundJS+")("+pcExpr+")")
}

// waitReceiving waits until the tab shows the other side's video (the <video> at videoSel has a size) and
// its receiving PeerConnection (pcExpr) decodes video and receives audio: framesDecoded, packetsReceived and
// totalSamplesReceived rise between two reads. It returns the last read.
func (tb *tab) waitReceiving(videoSel, pcExpr string) inbound {
	tb.b.t.Helper()
	tb.waitJS("the remote <video> has a size", fmt.Sprintf(`(document.querySelector(%q)?.videoWidth ?? 0) > 0`, videoSel))
	var first, last inbound
	tb.waitUntil("video frames decoded and audio received", func() (bool, error) {
		var err error
		if first, err = tb.inbound(pcExpr); err != nil {
			return false, err
		}
		ok := first.Video.Frames > 0 && first.Audio.Packets > 0 && first.Audio.Samples > 0
		return ok, seen(ok, first)
	})
	tb.waitUntil("decoded video frames and received audio keep rising", func() (bool, error) {
		var err error
		if last, err = tb.inbound(pcExpr); err != nil {
			return false, err
		}
		ok := last.Video.Frames > first.Video.Frames && last.Audio.Packets > first.Audio.Packets &&
			last.Audio.Samples > first.Audio.Samples
		return ok, seen(ok, fmt.Sprintf("%+v, after %+v", last, first))
	})
	return last
}

// joinToFirstFrame waits for the page's measure of join → first remote frame (window.__stoa.metrics).
func (tb *tab) joinToFirstFrame() float64 {
	tb.b.t.Helper()
	tb.waitJS("join→first-frame time measured", `window.__stoa.metrics.joinToFirstFrameMs != null`)
	return mustEval[float64](tb, `window.__stoa.metrics.joinToFirstFrameMs`)
}

// seen is nil when ok, else an error saying what a check saw.
func seen(ok bool, what any) error {
	if ok {
		return nil
	}
	return fmt.Errorf("saw %+v", what)
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

func indent(s string) string {
	if s == "" {
		return "    (nothing)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
