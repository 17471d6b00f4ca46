//go:build browser

// The customer's page (/call) in real Chromium: a bare /call asks for the link and touches no camera; a call link
// goes pre-join → queue → answered → in call → ended with one status at a time, says in plain words when the camera
// is blocked, releases the camera whenever the call ends, is cancelled, times out or loses its connection, and
// fits a phone's and a laptop's width (screenshots under os.TempDir()/stoa-artifacts).

package webui_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// visibleStatusesJS counts the status lines a person sees: the old page showed "Waiting for the agent…" beside
// "Ready", "In call" or "Error"; there must be exactly one.
const visibleStatusesJS = `[...document.querySelectorAll('[role="status"], .status, .waiting')]
  .filter((el) => el.checkVisibility() && el.textContent.trim() !== '').length`

// statusJS is the one status line and the sentence under it.
const statusJS = `document.getElementById('status').textContent + ' | ' + (document.getElementById('detail').hidden ? '' : document.getElementById('detail').textContent)`

// countGetUserMediaJS runs before the page's scripts and counts its getUserMedia calls in window.__gum.
const countGetUserMediaJS = `window.__gum = 0;
if (navigator.mediaDevices) {
  const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = (c) => { window.__gum++; return gum(c); };
}`

// openSized opens path in a new tab whose viewport is w×h (a phone's when mobile) from the first paint, with
// script (if any) run before the page's own.
func (b *browser) openSized(name, path string, w, h int64, mobile bool, script string) *tab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	b.t.Cleanup(cancel)
	tb := &tab{name: name, ctx: ctx, b: b, console: &tailBuffer{}}
	b.tabs = append(b.tabs, tb)
	if err := chromedp.Do(ctx, resize(w, h, mobile)); err != nil {
		b.fail("%s: set the viewport: %v", name, err)
	}
	if script != "" {
		if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: script}); err != nil {
			b.fail("%s: add a script: %v", name, err)
		}
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			fmt.Fprintf(tb.console, "%s %s\n", m.Type, oneLine(m.String(), 300))
		}
	}()
	if err := chromedp.Do(ctx, chromedp.Navigate(b.srv.url+path)); err != nil {
		b.fail("%s: open %s: %v", name, path, err)
	}
	return tb
}

func resize(w, h int64, mobile bool) chromedp.Action[chromedp.Void] {
	if mobile {
		return chromedp.EmulateViewport(w, h, chromedp.EmulateScale(3), chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	return chromedp.EmulateViewport(w, h, chromedp.EmulateScale(1))
}

// shoot saves screenshots of the tab at 1366×768 and 390×844 (ending at 390×844) as
// stoa-artifacts/customer-<step>-<size>.png and checks that the page is no wider than its viewport at both.
func (tb *tab) shoot(step string) {
	tb.b.t.Helper()
	dir := filepath.Join(os.TempDir(), "stoa-artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.b.t.Fatalf("artifacts directory: %v", err)
	}
	for _, size := range []struct {
		w, h   int64
		mobile bool
	}{{1366, 768, false}, {390, 844, true}} {
		if err := chromedp.Do(tb.ctx, resize(size.w, size.h, size.mobile)); err != nil {
			tb.b.fail("%s: resize to %dx%d: %v", tb.name, size.w, size.h, err)
		}
		// Two frames: the layout of the new size is done and painted.
		mustEval[bool](tb, `new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`)
		if got := mustEval[string](tb, `JSON.stringify([document.documentElement.scrollWidth, innerWidth])`); !fits(got) {
			tb.b.fail("%s at %dx%d (%s): the page is wider than the viewport: [scrollWidth, innerWidth] = %s", tb.name, size.w, size.h, step, got)
		}
		png, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
		if err != nil {
			tb.b.fail("%s: screenshot: %v", tb.name, err)
		}
		file := filepath.Join(dir, fmt.Sprintf("customer-%s-%dx%d.png", step, size.w, size.h))
		if err := os.WriteFile(file, png, 0o644); err != nil {
			tb.b.t.Fatalf("save %s: %v", file, err)
		}
		tb.b.t.Logf("screenshot: %s", file)
	}
}

// setMedia grants or denies the camera and microphone to the server's origin, as a person does in the site settings.
func setMedia(b *browser, setting cdpbrowser.PermissionSetting) error {
	for _, name := range []string{"camera", "microphone"} {
		if _, err := chromedp.CallBrowser(b.ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: setting, Origin: b.srv.url}); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// fits reads "[scrollWidth, innerWidth]".
func fits(pair string) bool {
	var v [2]float64
	return json.Unmarshal([]byte(pair), &v) == nil && v[0] <= v[1]
}

// oneStatus fails the test unless exactly one status line is visible, and returns what it says.
func (tb *tab) oneStatus(step string) string {
	tb.b.t.Helper()
	if n := mustEval[int](tb, visibleStatusesJS); n != 1 {
		tb.b.fail("%s (%s): %d status lines visible, want exactly 1", tb.name, step, n)
	}
	return mustEval[string](tb, statusJS)
}

// callAPI sends a JSON request to the server, as the operator (dev mode on loopback, no key) or with a token, and
// returns the status and the decoded reply.
func (s *server) callAPI(t *testing.T, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	status, raw := s.send(t, method, path, token, body)
	var out map[string]any
	if len(raw) > 0 && json.Unmarshal(raw, &out) != nil {
		t.Fatalf("%s %s: status %d, not JSON: %s", method, path, status, raw)
	}
	return status, out
}

// send sends a request with a JSON body (if any) and an optional bearer token, and returns the status and the
// body of the answer.
func (s *server) send(t *testing.T, method, path, token string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.url+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, raw
}

// newCall creates a call as the operator and returns its id and the customer's link.
func (s *server) newCall(t *testing.T, claim, customer string) (id, link string) {
	t.Helper()
	status, out := s.callAPI(t, "POST", "/api/calls", "", map[string]string{"claim": claim, "customer": customer})
	id, _ = out["id"].(string)
	link, _ = out["link"].(string)
	if status != http.StatusCreated || id == "" || !strings.HasPrefix(link, "/call?call="+id+"&token=") {
		t.Fatalf("POST /api/calls: status %d, %v", status, out)
	}
	return id, link
}

func TestBrowserCustomerPage(t *testing.T) {
	srv := startServer(t)
	// No automatic yes to camera prompts: a prompt is refused, as a person who taps "Block" does, until the test
	// allows the camera and microphone in the site settings (setMedia).
	b := newBrowser(t, srv, chromedp.Flag("use-fake-ui-for-media-stream", false), chromedp.Flag("deny-permission-prompts", true))

	// A bare /call: the sentence, nothing else, and no camera.
	bare := b.openSized("bare /call", "/call", 390, 844, true, countGetUserMediaJS)
	bare.waitJS("the bare page settles", `__stoa.state === 'no-link'`)
	if got := bare.oneStatus("bare"); got != "Open the link you were sent to start your video call. | " {
		t.Errorf("bare /call says %q", got)
	}
	if got := mustEval[string](bare, `JSON.stringify({ gum: window.__gum, local: window.__stoa.localStream, videos: document.querySelectorAll('video').length,
	  buttons: [...document.querySelectorAll('button, select, video')].filter((el) => el.checkVisibility()).length })`); got != `{"gum":0,"local":null,"videos":0,"buttons":0}` {
		t.Errorf("bare /call: %s, want no getUserMedia, no stream, no video, no visible control", got)
	}
	bare.shoot("no-link")

	id, link := srv.newCall(t, "CLM-2024-0042", "Wang Fang")
	roomUID := "customer-" + id

	// The camera blocked for this site: plain words, what to do, and Try again works once it is allowed.
	customer := b.openSized("customer", link, 390, 844, true, "")
	customer.waitJS("the page says the camera is blocked", `__stoa.state === 'error'`)
	got := customer.oneStatus("camera blocked")
	if !strings.HasPrefix(got, "Your camera or microphone is blocked | ") || !strings.Contains(got, "site settings") {
		t.Errorf("camera blocked: the page says %q", got)
	}
	if code := mustEval[string](customer, `document.getElementById('error-code').textContent + ' / ' + document.getElementById('retry').textContent.trim()`); code != "Error code: NotAllowedError / Try again" {
		t.Errorf("camera blocked: code and button %q", code)
	}
	customer.shoot("camera-blocked")
	if err := setMedia(b, cdpbrowser.PermissionSettingGranted); err != nil {
		t.Fatalf("allow the camera: %v", err)
	}
	customer.click("retry")

	// Pre-join: the preview plays, the devices are listed.
	customer.waitJS("the pre-join preview plays", `__stoa.state === 'prejoin' && (document.querySelector('#local video')?.videoWidth ?? 0) > 0`)
	if got := customer.oneStatus("prejoin"); !strings.HasPrefix(got, "Check your camera and microphone | ") {
		t.Errorf("pre-join says %q", got)
	}
	if n := mustEval[int](customer, `document.getElementById('camera-select').options.length`); n < 1 {
		t.Errorf("the camera list has %d entries", n)
	}
	customer.shoot("prejoin")

	// Queued, first in line, with the device filed with the call.
	customer.click("start")
	customer.waitJS("the customer is queued", `__stoa.state === 'queued'`)
	if got := customer.oneStatus("queued"); !strings.HasPrefix(got, "You are number 1 in the queue | ") {
		t.Errorf("queued: the page says %q", got)
	}
	_, rec := srv.callAPI(t, "GET", "/api/calls/"+id, "", nil)
	if dev, _ := rec["device"].(map[string]any); rec["state"] != "queued" || dev["ua"] == nil || dev["screen"] == nil {
		t.Errorf("the call's record while queued: state %v, device %v", rec["state"], rec["device"])
	}
	customer.shoot("queued")

	// Cancel while queued: the page says so, releases the camera, and Call again queues the call again.
	customer.click("cancel")
	customer.waitJS("the customer left the queue", `__stoa.state === 'ended' && __stoa.reason === 'cancelled'`)
	if got := customer.oneStatus("cancelled"); !strings.HasPrefix(got, "You left the queue | ") {
		t.Errorf("cancelled: the page says %q", got)
	}
	customer.waitJS("the camera is released after the cancel", `__stoa.capturedTracks.every((t) => t.readyState === 'ended') && !document.querySelector('#local video')`)
	if _, rec := srv.callAPI(t, "GET", "/api/calls/"+id, "", nil); rec["state"] != "cancelled" {
		t.Errorf("the call's state after the cancel: %v", rec["state"])
	}
	customer.click("retry")
	customer.waitJS("queued again", `__stoa.state === 'queued' && (document.querySelector('#local video')?.videoWidth ?? 0) > 0`)
	if got := customer.oneStatus("queued again"); !strings.HasPrefix(got, "You are number 1 in the queue | ") {
		t.Errorf("queued again: the page says %q", got)
	}

	// An agent signs in and answers over HTTP; the page joins the call's room and publishes.
	_, signIn := srv.callAPI(t, "POST", "/api/token", "", map[string]any{"room": "call-center", "uid": "agent-1001", "role": "host",
		"tag": "agent", "ttl": 3600, "can": []string{"call_center", "claim_tools"}})
	agentToken, _ := signIn["token"].(string)
	status, answer := srv.callAPI(t, "POST", "/api/calls/"+id+"/answer", agentToken, nil)
	roomToken, _ := answer["token"].(string)
	if status != http.StatusOK || roomToken == "" || answer["room"] != "call-"+id {
		t.Fatalf("answer: status %d, %v", status, brief(answer))
	}
	customer.waitJS("the customer publishes in the call's room", `__stoa.events.some((e) => e.name === 'stream-published')`)
	if got := customer.oneStatus("waiting for the agent"); !strings.HasPrefix(got, "Waiting for your agent to join…") {
		t.Errorf("before the agent joins the room the page says %q", got)
	}

	// The agent joins the room (the SDK's promise API in a tab of its own) and sees the customer's stream; the page
	// says In call and, before the agent's camera is on, shows the agent's name instead of a picture.
	agent := b.open("agent", "/")
	mustEval[bool](agent, fmt.Sprintf(`(async () => {
	  const { default: Stoa } = await import('/sdk/stoa.js');
	  window.__agent = await Stoa.join({ token: %q });
	  return true;
	})()`, roomToken))
	agent.waitJS("the agent sees the customer's stream", fmt.Sprintf(`__agent.streams.has(%q)`, roomUID))
	customer.waitJS("the page is in the call with the agent", `__stoa.state === 'in-call' && document.getElementById('status').textContent === 'In call'`)
	customer.oneStatus("in call")
	const placeholderJS = `(() => { const p = document.getElementById('remote-placeholder'); return p.checkVisibility() + ' ' + p.textContent.replace(/\s+/g, ' ').trim(); })()`
	customer.waitJS("the placeholder names the agent", `document.getElementById('remote-placeholder').dataset.why === 'has no video yet'`)
	if got := mustEval[string](customer, placeholderJS); got != "true A agent-1001 has no video yet" {
		t.Errorf("the agent's placeholder before its camera is on: %q", got)
	}

	// The agent's camera: shown whole (contain); off, the placeholder instead of a frozen frame; on again.
	mustEval[bool](agent, `__agent.publish({ audio: true, video: true }).then(() => true)`)
	customer.waitReceiving("#remote-video", remotePC)
	if got := mustEval[string](customer, `[getComputedStyle(document.getElementById('remote-video')).objectFit, document.getElementById('remote-placeholder').hidden].join(' ')`); got != "contain true" {
		t.Errorf("the agent's video: object-fit and placeholder hidden = %q, want contain true", got)
	}
	customer.shoot("in-call")
	mustEval[bool](agent, `__agent.mute('video', true).then(() => true)`)
	customer.waitJS("the placeholder replaces the agent's video", `document.getElementById('remote-placeholder').dataset.why === 'turned the camera off'`)
	if got := mustEval[string](customer, placeholderJS+` + ' ' + getComputedStyle(document.getElementById('remote-video')).visibility`); got != "true A agent-1001 turned the camera off hidden" {
		t.Errorf("the agent's camera off: %q, want the placeholder and the video hidden", got)
	}
	customer.shoot("agent-camera-off")
	mustEval[bool](agent, `__agent.mute('video', false).then(() => true)`)
	customer.waitJS("the agent's video is back", `document.getElementById('remote-placeholder').hidden && getComputedStyle(document.getElementById('remote-video')).visibility === 'visible'`)

	// The agent ends the call: the end screen, and the camera released.
	status, ended := srv.callAPI(t, "POST", "/api/calls/"+id+"/end", agentToken, map[string]string{"outcome": "resolved", "incidentNo": "INC-77"})
	if status != http.StatusOK {
		t.Fatalf("end: status %d, %v", status, brief(ended))
	}
	customer.waitJS("the end screen", `__stoa.state === 'ended'`)
	if got := customer.oneStatus("ended"); got != "The call has ended. Thank you. | Your agent marked your claim call as resolved." {
		t.Errorf("the end screen says %q", got)
	}
	customer.waitJS("the camera and microphone are released", `__stoa.capturedTracks.length >= 2 && __stoa.capturedTracks.every((t) => t.readyState === 'ended')
	  && __stoa.localStream.mediaStream.getTracks().every((t) => t.readyState === 'ended') && !document.querySelector('#local video')`)
	customer.shoot("ended")

	// The link of the ended call, opened again: the end screen, and the camera the pre-join screen opened at once
	// is let go as soon as the page hears the call is over.
	again := b.open("the link again", link)
	again.waitJS("the end screen, and the camera released", `__stoa.state === 'ended' && __stoa.capturedTracks.length >= 2
	  && __stoa.capturedTracks.every((t) => t.readyState === 'ended') && !document.querySelector('#local video')`)
	if got := again.oneStatus("ended, opened again"); got != "The call has ended. Thank you. | Your agent marked your claim call as resolved." {
		t.Errorf("the ended call's link says %q", got)
	}

	// The page's lifecycle reached the call's record through the client logger.
	want := []string{"page", "getUserMedia", "prejoin", "request", "event-position", "event-answered", "joined", "peer-online", "event-ended"}
	customer.waitUntil("the call's record has the page's log lines", func() (bool, error) {
		_, rec := srv.callAPI(t, "GET", "/api/calls/"+id, "", nil)
		logs, _ := rec["logs"].([]any)
		types := map[string]bool{}
		denied := false
		for _, l := range logs {
			e, _ := l.(map[string]any)
			types[fmt.Sprint(e["type"])] = true
			if e["type"] == "getUserMedia" && strings.Contains(fmt.Sprint(e["message"]), "NotAllowedError") {
				denied = true
			}
		}
		var missing []string
		for _, w := range want {
			if !types[w] {
				missing = append(missing, w)
			}
		}
		ok := len(missing) == 0 && denied
		return ok, seen(ok, fmt.Sprintf("missing %v, camera refusal logged %v, of %d lines", missing, denied, len(logs)))
	})
}

// TestBrowserCustomerQueueTimeout: nobody answers within calls.ring_timeout (3 s here): the page shows the server's
// message with Try again and releases the camera; Try again queues the call again.
func TestBrowserCustomerQueueTimeout(t *testing.T) {
	t.Setenv("STOA_CALLS_RING_TIMEOUT", "3s")
	srv := startServer(t)
	b := newBrowser(t, srv)
	id, link := srv.newCall(t, "CLM-WAIT", "Chen Jing")
	customer := b.open("customer", link)
	customer.waitJS("the pre-join preview plays", `__stoa.state === 'prejoin' && (document.querySelector('#local video')?.videoWidth ?? 0) > 0`)
	customer.click("start")
	customer.waitJS("nobody answered", `__stoa.state === 'ended' && __stoa.reason === 'timeout'`)
	if got := customer.oneStatus("timeout"); got != "Nobody answered in time | No agent is free right now. Please try again in a few minutes." {
		t.Errorf("timeout: the page says %q", got)
	}
	if got := mustEval[string](customer, `document.getElementById('retry').checkVisibility() + ' ' + document.getElementById('retry').textContent.trim()`); got != "true Try again" {
		t.Errorf("timeout: the way out is %q", got)
	}
	customer.waitJS("the camera is released", `__stoa.capturedTracks.every((t) => t.readyState === 'ended') && !document.querySelector('#local video')`)
	customer.shoot("timeout")
	customer.click("retry")
	// Queued again for 3 s, then timed out again: the record counts the attempts, whichever the page shows now.
	customer.waitUntil("the call is queued a second time", func() (bool, error) {
		_, rec := srv.callAPI(t, "GET", "/api/calls/"+id, "", nil)
		state, _ := evalJS[string](customer, `__stoa.state`)
		ok := rec["attempts"] == 2.0 && (state == "queued" || state == "ended")
		return ok, seen(ok, fmt.Sprintf("attempts %v, page %s", rec["attempts"], state))
	})
}

// TestBrowserCustomerConnectionLost: the server goes away during the call. The page says it is reconnecting; when
// the server is back without the session, the page says the connection is lost, in plain words with "Call again",
// and the camera is released (today's page kept the self-view playing); "Call again" brings the customer back
// into the call, which the restarted server still holds as answered.
func TestBrowserCustomerConnectionLost(t *testing.T) {
	srv := startRestartable(t)
	b := newBrowser(t, srv.server)
	id, link := srv.newCall(t, "CLM-LOST", "Zhang Wei")
	customer := b.open("customer", link)
	customer.waitJS("the pre-join preview plays", `__stoa.state === 'prejoin' && (document.querySelector('#local video')?.videoWidth ?? 0) > 0`)
	customer.click("start")
	customer.waitJS("queued", `__stoa.state === 'queued'`)
	_, signIn := srv.callAPI(t, "POST", "/api/token", "", map[string]any{"room": "call-center", "uid": "agent-2002", "role": "host",
		"tag": "agent", "ttl": 3600, "can": []string{"call_center"}})
	agentToken, _ := signIn["token"].(string)
	if status, answer := srv.callAPI(t, "POST", "/api/calls/"+id+"/answer", agentToken, nil); status != http.StatusOK {
		t.Fatalf("answer: status %d, %v", status, brief(answer))
	}
	customer.waitJS("in the call's room, publishing", `__stoa.state === 'in-call' && __stoa.events.some((e) => e.name === 'stream-published')`)

	srv.stop()
	customer.waitJS("the page says it is reconnecting", `__stoa.state === 'reconnecting'`)
	if got := customer.oneStatus("reconnecting"); !strings.HasPrefix(got, "Reconnecting… | ") {
		t.Errorf("reconnecting: the page says %q", got)
	}
	srv.start()
	customer.waitJS("the connection is lost for good", `__stoa.state === 'error'`)
	if got := customer.oneStatus("lost"); !strings.HasPrefix(got, "We lost the connection | ") {
		t.Errorf("connection lost: the page says %q", got)
	}
	if got := mustEval[string](customer, `document.getElementById('retry').checkVisibility() + ' ' + document.getElementById('retry').textContent.trim()`); got != "true Call again" {
		t.Errorf("connection lost: the way out is %q, want a visible Call again", got)
	}
	customer.waitJS("the camera and microphone are released", `__stoa.capturedTracks.every((t) => t.readyState === 'ended') && !document.querySelector('#local video')`)
	customer.shoot("connection-lost")

	customer.click("retry")
	customer.waitJS("back in the call", `__stoa.state === 'in-call' && __stoa.events.filter((e) => e.name === 'stream-published').length === 2`)
	if n := mustEval[int](customer, `__stoa.capturedTracks.filter((t) => t.readyState === 'live').length`); n != 2 {
		t.Errorf("back in the call with %d live tracks, want 2 (camera and microphone)", n)
	}
}
