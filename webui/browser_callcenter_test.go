//go:build browser

// The claims call center in real Chromium (docs/call-center.md): calls made with POST /api/calls ring on the
// agents' consoles (/console, signed in with dev-mode agent tokens), one agent answers, the call runs with its
// recording, the agent hangs up with an outcome, and the call record (GET /api/calls/{id} and /console/calls)
// shows it. The long-call guard ends a forgotten call by itself and lets an agent who answers go on.

package webui_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// callLink is what POST /api/calls answers.
type callLink struct {
	ID    string `json:"id"`
	Room  string `json:"room"`
	Link  string `json:"link"`
	Token string `json:"token"`
	QR    string `json:"qr"`
}

// callRecord is the part of a call record (GET /api/calls/{id}) the tests read.
type callRecord struct {
	ID         string   `json:"id"`
	Claim      string   `json:"claim"`
	Agent      string   `json:"agent"`
	State      string   `json:"state"`
	WaitMs     int64    `json:"waitMs"`
	TalkMs     int64    `json:"talkMs"`
	Outcome    string   `json:"outcome"`
	IncidentNo string   `json:"incidentNo"`
	Notes      string   `json:"notes"`
	EndedBy    string   `json:"endedBy"`
	Recordings []string `json:"recordings"`
	Network    *struct {
		MinLevel int     `json:"minLevel"`
		AvgLevel float64 `json:"avgLevel"`
		MaxLevel int     `json:"maxLevel"`
		MaxLoss  float64 `json:"maxLoss"`
		Samples  int     `json:"samples"`
	} `json:"network"`
	Device json.RawMessage `json:"device"`
	Logs   []struct {
		Level string `json:"level"`
		Type  string `json:"type"`
		From  string `json:"from"`
	} `json:"logs"`
}

// apiJSON sends a JSON request to the server (dev mode on loopback: no key) with an optional bearer token and
// decodes the answer into out, failing the test on a status other than want.
func (s *server) apiJSON(t *testing.T, method, path, token string, body any, want int, out any) {
	t.Helper()
	status, b := s.send(t, method, path, token, body)
	if status != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, status, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// createCall makes a call for a claim as the operator's backend does.
func (s *server) createCall(t *testing.T, claim, customer string) callLink {
	t.Helper()
	var c callLink
	s.apiJSON(t, http.MethodPost, "/api/calls", "", map[string]string{"claim": claim, "customer": customer}, http.StatusCreated, &c)
	if c.ID == "" || c.Token == "" || !strings.HasPrefix(c.Link, "/call?call="+c.ID) {
		t.Fatalf("POST /api/calls: %+v", c)
	}
	return c
}

// record reads a call's record with its logs.
func (s *server) record(t *testing.T, id string) callRecord {
	t.Helper()
	var r callRecord
	s.apiJSON(t, http.MethodGet, "/api/calls/"+id, "", nil, http.StatusOK, &r)
	return r
}

// signInDev signs a console in with a dev-mode agent token for agentID and waits until it is online.
func signInDev(agent *tab, agentID string) {
	agent.b.t.Helper()
	agent.waitJS("the dev sign-in shows", `!document.getElementById('dev-signin-box').hidden`)
	mustEval[bool](agent, fmt.Sprintf(`(document.getElementById('dev-agent').value = %q, true)`, agentID))
	agent.click("dev-signin")
	agent.waitJS("the console is signed in and online",
		`__stoa.agent.signedIn && __stoa.agent.connected && __stoa.agent.presence === 'online' && __stoa.agent.uid === '`+agentID+`'`)
}

// ringingJS is whether the console rings for call id: listed, with sound and a blinking title.
func ringingJS(id string) string {
	return fmt.Sprintf(`__stoa.agent.ringing.includes(%q) && __stoa.agent.sound && __stoa.agent.blink && !!document.getElementById('answer-%s')`, id, id)
}

// fitsJS is whether the page is no wider than its viewport (nothing scrolls sideways).
const fitsJS = `document.documentElement.scrollWidth <= window.innerWidth`

// widest names the elements wider than the viewport, for a failure's message.
const widestJS = `JSON.stringify({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
  over: [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5 && e.getClientRects().length)
    .slice(0, 8).map((e) => (e.id ? '#' + e.id : e.tagName.toLowerCase() + '.' + e.className) + ' right ' + Math.round(e.getBoundingClientRect().right)) })`

// viewport emulates a screen of w×h (a phone's with touch when mobile), and checks the page fits it.
func (tb *tab) viewport(w, h int64, mobile bool) {
	tb.b.t.Helper()
	opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
	if mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	if err := chromedp.Do(tb.ctx, chromedp.EmulateViewport(w, h, opts...)); err != nil {
		tb.b.fail("%s: emulate %d×%d: %v", tb.name, w, h, err)
	}
	tb.waitUntil(fmt.Sprintf("the page fits %d px", w), func() (bool, error) {
		ok, err := evalJS[bool](tb, fitsJS)
		if err != nil || ok {
			return ok, err
		}
		s, _ := evalJS[string](tb, widestJS)
		return false, fmt.Errorf("wider than the viewport: %s", s)
	})
}

// screenshot saves what the tab shows (its viewport) as os.TempDir()/stoa-artifacts/name.png.
func (tb *tab) screenshot(name string) string {
	tb.b.t.Helper()
	dir := filepath.Join(os.TempDir(), "stoa-artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.b.t.Fatalf("artifacts dir: %v", err)
	}
	png, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.b.fail("%s: screenshot: %v", tb.name, err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.b.t.Fatalf("save %s: %v", path, err)
	}
	return path
}

// TestBrowserLongCallGuard runs the server with a short guard (calls.long_call 5 s, grace 8 s, through the
// environment the binary inherits). A call nobody attends to ends by itself, filed as "other"; an agent who
// answers "continue" keeps the call, which lives on until the guard asks again.
func TestBrowserLongCallGuard(t *testing.T) {
	t.Setenv("STOA_CALLS_LONG_CALL", "5s")
	t.Setenv("STOA_CALLS_LONG_CALL_GRACE", "8s")
	srv := startServer(t)
	b := newBrowser(t, srv)
	agent := b.open("agent", "/console")
	signInDev(agent, "agent-guard")

	// answer queues a call as its customer's page does (from Go: the guard needs no customer) and answers it.
	answer := func(claim string) callLink {
		c := srv.createCall(t, claim, "Zhou Min")
		srv.apiJSON(t, http.MethodPost, "/api/calls/"+c.ID+"/request", c.Token, map[string]any{"device": map[string]string{"ua": "test"}}, http.StatusOK, nil)
		agent.waitJS("the console rings for "+claim, ringingJS(c.ID))
		agent.click("answer-" + c.ID)
		agent.waitJS("the call is answered", fmt.Sprintf(`__stoa.agent.call?.id === %q && __stoa.agent.longCall.state === 'armed'`, c.ID))
		// Nobody else is in the room: the console waits for the customer, it does not say "In call".
		agent.waitJS("the console waits for the customer", `__stoa.state === 'waiting' && document.getElementById('status').textContent === 'Waiting for the customer…'`)
		if !mustEval[bool](agent, `!__stoa.agent.sound && !__stoa.agent.blink`) {
			t.Errorf("%s: the console still rings after answering", claim)
		}
		return c
	}
	const asking = `document.getElementById('long-call').open && document.getElementById('long-call-text').textContent.startsWith('The call has been going on for a long time. It ends in ')`

	// 1. Nobody answers the question: the console hangs up and files the call as "other".
	c1 := answer("CLM-GUARD-1")
	agent.waitJS("the guard asks whether to go on", asking)
	if n := mustEval[int](agent, `Number(document.getElementById('long-call-count').textContent)`); n < 0 || n > 8 {
		t.Errorf("the countdown shows %d s, want 0–8 (the grace)", n)
	}
	agent.waitJS("the call ends by itself", `__stoa.agent.call === null && __stoa.agent.longCall.state === 'off' && !document.getElementById('long-call').open`)
	r := srv.record(t, c1.ID)
	if r.State != "ended" || r.Outcome != "other" || !strings.Contains(r.Notes, "long-call guard") || r.EndedBy != "agent" {
		t.Errorf("the guard's call record: state %q, outcome %q, notes %q, ended by %q; want ended, other, the guard's note, agent", r.State, r.Outcome, r.Notes, r.EndedBy)
	}
	agent.waitJS("the console says the guard hung up, and is online again",
		`document.getElementById('last-call').textContent.includes('long-call guard') && __stoa.agent.presence === 'online'`)

	// 2. The agent answers "continue": the call goes on past the grace, until the guard asks again.
	c2 := answer("CLM-GUARD-2")
	agent.waitJS("the guard asks whether to go on", asking)
	agent.click("long-call-continue")
	agent.waitJS("the guard asks again after another long_call", `__stoa.agent.longCall.asked === 2 && `+asking)
	// This time the agent ends it from the question (which stops the countdown), with an outcome.
	agent.click("long-call-end")
	if got := mustEval[string](agent, `JSON.stringify({ call: __stoa.agent.call?.id, continued: __stoa.agent.longCall.continued })`); got != fmt.Sprintf(`{"call":%q,"continued":1}`, c2.ID) {
		t.Errorf("after continuing: %s, want the call still on and one continue", got)
	}
	if r := srv.record(t, c2.ID); r.State != "answered" {
		t.Errorf("after continuing the call is %q on the server, want answered", r.State)
	}
	agent.waitJS("the outcome dialog opens", `document.getElementById('end-dialog').open`)
	mustEval[bool](agent, `(document.getElementById('end-outcome').value = 'resolved', document.getElementById('end-incident').value = 'INC-2', true)`)
	agent.click("end-confirm")
	agent.waitJS("the call is filed", `__stoa.agent.call === null && __stoa.agent.lastEnded?.outcome === 'resolved'`)
	if r := srv.record(t, c2.ID); r.State != "ended" || r.Outcome != "resolved" || r.IncidentNo != "INC-2" {
		t.Errorf("the continued call's record: state %q, outcome %q, incident %q; want ended, resolved, INC-2", r.State, r.Outcome, r.IncidentNo)
	}
}

// shots saves the tab at 1366×768 and 390×844 as stoa-artifacts/<name>-<w>x<h>.png, checking at each size that
// the page fits its width, and returns to the desktop size.
func (tb *tab) shots(name string, check func(size string)) {
	tb.b.t.Helper()
	for _, s := range []struct {
		w, h   int64
		mobile bool
	}{{1366, 768, false}, {390, 844, true}} {
		tb.viewport(s.w, s.h, s.mobile)
		mustEval[bool](tb, `new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`)
		size := fmt.Sprintf("%dx%d", s.w, s.h)
		if check != nil {
			check(size)
		}
		tb.b.t.Logf("screenshot: %s", tb.screenshot(name+"-"+size))
	}
	tb.viewport(1366, 768, false)
}

// TestBrowserCallCenter: one customer and two agents. The customer calls from the link POST /api/calls made; both
// consoles ring; agent 1 answers and agent 2 stops ringing; video flows both ways and the customer is recorded;
// mutes show on the other side (the customer's camera off is a placeholder with their name on the console); agent
// 1 hangs up with an outcome; the call record, over the API and on /console/calls, has the durations, the
// outcome, the network summary, the recording and both sides' client logs. Read ID card on the answered call says
// there is no card in the fake camera's picture. Screenshots of the console, the
// customer page and the record at 1366×768 and 390×844 go to os.TempDir()/stoa-artifacts.
func TestBrowserCallCenter(t *testing.T) {
	if out, err := exec.Command("make", "-C", "..", "--no-print-directory", "models").CombinedOutput(); err != nil {
		t.Fatalf("make models: %v\n%s", err, out)
	}
	srv := startServer(t)
	b := newBrowser(t, srv)
	agent1 := b.open("agent 1", "/console")
	signInDev(agent1, "agent-1001")
	// The consoles share the browser's storage, where a sign-in is kept for the shift: forget it, so the second
	// console does not sign in as agent 1 (agent 1's page keeps its own).
	mustEval[bool](agent1, `(localStorage.removeItem('stoa.agent.token'), true)`)
	agent2 := b.open("agent 2", "/console")
	signInDev(agent2, "agent-1002")

	c := srv.createCall(t, "CLM-2024-0077", "Wang Fang")
	customer := b.open("customer", c.Link)
	customer.waitJS("the customer's pre-join preview plays", `__stoa.state === 'prejoin' && (document.querySelector('#local video')?.videoWidth ?? 0) > 0`)
	customer.click("start")
	customer.waitJS("the customer is queued", `__stoa.state === 'queued'`)
	if got := customer.oneStatus("queued"); !strings.HasPrefix(got, "You are number 1 in the queue") {
		t.Errorf("the queued customer's page says %q", got)
	}

	// Both consoles ring, with the claim, the customer and their device.
	for _, a := range []*tab{agent1, agent2} {
		a.waitJS("the console rings", ringingJS(c.ID))
		got := mustEval[string](a, `(() => { const li = document.querySelector('#incoming-list li[data-id="`+c.ID+`"]');
		  return [li.querySelector('.ring-claim').textContent, li.querySelector('.ring-customer').textContent, li.querySelector('.ring-pos').textContent,
		    String(!!li.querySelector('.ring-device')?.textContent)].join(' | '); })()`)
		if got != "CLM-2024-0077 | Wang Fang | next in queue | true" {
			t.Errorf("%s shows the ringing call as %q", a.name, got)
		}
	}

	// Agent 1 answers; agent 2 stops ringing.
	agent1.click("answer-" + c.ID)
	agent2.waitJS("agent 2 stops ringing", `!__stoa.agent.ringing.includes('`+c.ID+`') && !__stoa.agent.sound && !__stoa.agent.blink && document.getElementById('incoming-list').children.length === 0`)
	agent1.waitJS("agent 1 is in the call once the customer is there", `__stoa.agent.call?.id === '`+c.ID+`' && __stoa.state === 'in-call' && !__stoa.agent.sound`)
	customer.waitJS("the customer is in the call", `__stoa.state === 'in-call'`)

	// Video both ways, and the customer's recording.
	agent1.waitReceiving("#remote-video", remotePC)
	customer.waitReceiving("#remote-video", remotePC)
	agent1.waitJS("the console shows ● Recording", `__stoa.recording === true && document.getElementById('rec')?.checkVisibility() && document.getElementById('rec').textContent === '● Recording'`)
	customer.waitJS("the customer's page shows ● Recording", `__stoa.recording === true && document.getElementById('rec').checkVisibility()`)
	if fit := mustEval[string](agent1, `getComputedStyle(document.getElementById('remote-video')).objectFit`); fit != "contain" {
		t.Errorf("the console fits the customer's video with %q, want contain (the whole picture)", fit)
	}

	// Mute and unmute: each side sees the other's.
	const remoteMuted = `document.getElementById('remote-muted').dataset`
	agent1.click("mute-audio")
	customer.waitJS("the customer sees the agent's mic off", remoteMuted+`.audio === 'muted'`)
	agent1.click("mute-audio")
	customer.waitJS("the customer sees the agent's mic on again", remoteMuted+`.audio === 'on'`)
	customer.click("mute-video")
	agent1.waitJS("the console shows the customer's name instead of a frozen picture", `__stoa.placeholder === 'Camera off'
	  && document.getElementById('remote-placeholder').checkVisibility() && document.getElementById('placeholder-name').textContent === 'Wang Fang'
	  && getComputedStyle(document.getElementById('remote-video')).visibility === 'hidden'`)
	customer.click("mute-video")
	agent1.waitJS("the console shows the customer's video again", `__stoa.placeholder === '' && !document.getElementById('remote-placeholder').checkVisibility()
	  && getComputedStyle(document.getElementById('remote-video')).visibility === 'visible'`)

	// The agent switches the customer to audio only: the customer's page turns its camera off and says why, the
	// console sees the camera off; the customer turns it back on from the notice.
	agent1.waitJS("the audio-only switch is on during the call", `!document.getElementById('ask-audio-only').disabled`)
	agent1.click("ask-audio-only")
	customer.waitJS("the customer's page turns its camera off", `document.getElementById('mute-video').getAttribute('aria-pressed') === 'true'
	  && document.getElementById('notice').textContent.includes('Your agent turned your camera off')`)
	agent1.waitJS("the console sees the customer's camera off", `__stoa.placeholder === 'Camera off'`)
	customer.click("mute-video")
	agent1.waitJS("the console sees the customer's video again", `__stoa.placeholder === ''`)

	// The network summary fills while the call goes on (a report every 2 s).
	agent1.waitUntil("the call's record has network reports", func() (bool, error) {
		r := srv.record(t, c.ID)
		ok := r.Network != nil && r.Network.Samples > 0
		return ok, seen(ok, r.Network)
	})

	// The claim tools work on the answered call's room: the fake camera shows no card, and the console says so.
	clickUntil(agent1, "read-idcard", "snapshot_timeout")
	if got := mustEval[string](agent1, `JSON.stringify({ error: __stoa.claim.lastError, alert: document.getElementById('claim-alert').textContent,
	  form: document.getElementById('claim-form').hidden })`); !strings.Contains(got, `"error":null`) ||
		!strings.Contains(got, `"alert":"No card found: ask the customer to hold the card closer`) || !strings.Contains(got, `"form":true`) {
		t.Errorf("Read ID card on a frame without a card: %s", got)
	}

	agent1.shots("console-in-call", func(size string) {
		if size != "390x844" {
			return
		}
		// On a phone the control bar is fixed at the bottom: the claim result scrolled into view, and the end
		// of the page, stay above it.
		got := mustEval[string](agent1, `(() => {
		  const bar = () => document.querySelector('.controls').getBoundingClientRect().top;
		  document.getElementById('claim-alert').scrollIntoView({ block: 'nearest' });
		  const alert = document.getElementById('claim-alert').getBoundingClientRect().bottom <= bar() + 1;
		  window.scrollTo(0, document.documentElement.scrollHeight);
		  const end = document.querySelector('.log-panel').getBoundingClientRect().bottom <= bar() + 1;
		  const fixed = getComputedStyle(document.querySelector('.controls')).position;
		  const kbd = [...document.querySelectorAll('kbd')].filter((k) => k.checkVisibility()).length;
		  window.scrollTo(0, 0);
		  return JSON.stringify({ alert, end, fixed, kbd });
		})()`)
		if got != `{"alert":true,"end":true,"fixed":"fixed","kbd":0}` {
			t.Errorf("the console at 390x844 on a touch screen: %s, want the claim result and the page's end above the fixed bar and no keyboard hints", got)
		}
	})
	customer.shots("callcenter-customer-in-call", func(size string) {
		if got := customer.oneStatus("in call " + size); !strings.HasPrefix(got, "In call") {
			t.Errorf("the customer's page in the call at %s says %q", size, got)
		}
	})

	// Agent 1 hangs up with an outcome.
	agent1.click("hangup")
	agent1.waitJS("the outcome dialog opens", `document.getElementById('end-dialog').open`)
	mustEval[bool](agent1, `(document.getElementById('end-outcome').value = 'resolved', document.getElementById('end-incident').value = 'INC-77',
	  document.getElementById('end-notes').value = 'Windscreen crack, photos taken', true)`)
	agent1.click("end-confirm")
	agent1.waitJS("the call is filed and the console is back to the queue", `__stoa.agent.call === null && __stoa.agent.lastEnded?.outcome === 'resolved'
	  && __stoa.state === 'ended' && !document.getElementById('lobby').hidden && __stoa.agent.presence === 'online'`)
	customer.waitJS("the customer's page ends", `__stoa.state === 'ended'`)
	customer.oneStatus("ended")
	customer.shots("callcenter-customer-ended", func(size string) { customer.oneStatus("ended " + size) })
	agent1.shots("console-after-call", nil)

	// The record: durations, outcome, network summary, the recording, both sides' client logs.
	var r callRecord
	agent1.waitUntil("the record has the customer's and the agent's client logs", func() (bool, error) {
		r = srv.record(t, c.ID)
		from := map[string]int{}
		for _, l := range r.Logs {
			from[l.From]++
		}
		ok := from["customer"] > 0 && from["agent:agent-1001"] > 0
		return ok, seen(ok, from)
	})
	if r.State != "ended" || r.Agent != "agent-1001" || r.Outcome != "resolved" || r.IncidentNo != "INC-77" || r.Notes != "Windscreen crack, photos taken" {
		t.Errorf("the record: state %q, agent %q, outcome %q, incident %q, notes %q", r.State, r.Agent, r.Outcome, r.IncidentNo, r.Notes)
	}
	if r.WaitMs <= 0 || r.TalkMs <= 0 {
		t.Errorf("the record's durations: wait %d ms, talk %d ms, want both > 0", r.WaitMs, r.TalkMs)
	}
	if r.Network == nil || r.Network.Samples == 0 || r.Network.MinLevel < 1 || r.Network.MaxLevel > 6 {
		t.Errorf("the record's network summary: %+v", r.Network)
	}
	if len(r.Recordings) == 0 || len(r.Device) == 0 {
		t.Errorf("the record has %d recordings and device %s, want a recording and the device", len(r.Recordings), r.Device)
	}

	// The same record on /console/calls, with the recording in a player.
	records := b.open("records", "/console/calls?id="+c.ID)
	records.waitJS("the record shows", `__records.record?.id === '`+c.ID+`'`)
	got := mustEval[string](records, `JSON.stringify(['r-outcome', 'r-incident', 'r-agent'].map((id) => document.getElementById(id).textContent))`)
	if got != `["Resolved","INC-77","agent-1001"]` {
		t.Errorf("/console/calls shows %s", got)
	}
	for _, id := range []string{"r-wait", "r-talk"} {
		if v := mustEval[string](records, `document.getElementById('`+id+`').textContent`); v == "—" || v == "" {
			t.Errorf("/console/calls #%s shows %q, want a duration", id, v)
		}
	}
	if v := mustEval[string](records, `document.getElementById('r-network').textContent`); !strings.HasPrefix(v, "best ") {
		t.Errorf("/console/calls network summary: %q", v)
	}
	records.waitJS("the customer's and the agent's log lines are listed", `[...document.querySelectorAll('#r-logs tbody tr')].some((tr) => tr.children[2].textContent === 'customer')
	  && [...document.querySelectorAll('#r-logs tbody tr')].some((tr) => tr.children[2].textContent === 'agent:agent-1001')`)
	records.waitJS("the recording loads in the player", `document.querySelectorAll('#r-recordings video.rec-video').length > 0
	  && [...document.querySelectorAll('#r-recordings video.rec-video')].every((v) => v.readyState >= 1 && v.videoWidth > 0)`)
	records.shots("records", nil)

	// Presence: agent 2 goes away, and the console says so.
	mustEval[bool](agent2, `(() => { const s = document.getElementById('presence'); s.value = 'away'; s.dispatchEvent(new Event('change')); return true; })()`)
	agent2.waitJS("agent 2 is away", `__stoa.agent.presence === 'away' && document.getElementById('presence-state').textContent === 'Away'
	  && document.getElementById('incoming-empty').textContent.startsWith('You are away')`)
}

// TestBrowserConsoleRejoin: an agent's console reloaded in the middle of a call (the agent is still busy with it on
// the server) offers to rejoin it; rejoined, the agent hangs up and files it as usual.
func TestBrowserConsoleRejoin(t *testing.T) {
	srv := startServer(t)
	b := newBrowser(t, srv)
	agent := b.open("agent", "/console")
	signInDev(agent, "agent-reload")
	c := srv.createCall(t, "CLM-RELOAD", "Chen Jie")
	srv.apiJSON(t, http.MethodPost, "/api/calls/"+c.ID+"/request", c.Token, map[string]any{}, http.StatusOK, nil)
	agent.waitJS("the console rings", ringingJS(c.ID))
	agent.click("answer-" + c.ID)
	agent.waitJS("the call is answered", `__stoa.agent.call?.id === '`+c.ID+`' && __stoa.state === 'waiting'`)

	if err := chromedp.Do(agent.ctx, chromedp.Reload()); err != nil {
		b.fail("reload the console: %v", err)
	}
	agent.waitJS("the reloaded console signs in again and offers the call in progress",
		`__stoa.agent?.signedIn && __stoa.agent.presence === 'busy' && !!document.getElementById('rejoin-`+c.ID+`')`)
	agent.click("rejoin-" + c.ID)
	agent.waitJS("the console is back in the call's room", `__stoa.agent.call?.id === '`+c.ID+`' && __stoa.state === 'waiting' && __stoa.agent.longCall.state === 'armed'`)
	agent.click("hangup")
	agent.waitJS("the outcome dialog opens", `document.getElementById('end-dialog').open`)
	mustEval[bool](agent, `(document.getElementById('end-outcome').value = 'no-show', true)`)
	agent.click("end-confirm")
	agent.waitJS("the call is filed", `__stoa.agent.call === null && __stoa.agent.presence === 'online'`)
	if r := srv.record(t, c.ID); r.State != "ended" || r.Outcome != "no-show" || r.Agent != "agent-reload" {
		t.Errorf("the rejoined call's record: state %q, outcome %q, agent %q; want ended, no-show, agent-reload", r.State, r.Outcome, r.Agent)
	}
}
