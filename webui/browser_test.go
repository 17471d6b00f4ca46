//go:build browser

// Real-browser end-to-end tests: headless Chromium with a fake camera and microphone, two tabs on the stoa
// binary. The agent's console and the customer's call page see and hear each other (VP8 and H264), mutes
// show on the other side, hang-up reaches the other side; and the customer's Agora app code (rtc.js, the
// migration guide's example) runs on /sdk/stoa.js with only its import lines changed.
//
// Run with: go test -tags browser -count=1 -run Browser -v ./webui/  (make browser)

package webui_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// remotePC is the RTCPeerConnection receiving the other side on /call and /console.
const remotePC = `Object.values(window.__stoa.remoteStreams)[0]?.pc`

func TestBrowserCall(t *testing.T) {
	for _, codec := range []string{"VP8", "H264"} {
		t.Run(codec, func(t *testing.T) {
			srv := startServer(t)
			b := newBrowser(t, srv)
			query := fmt.Sprintf("room=call-%s&codec=%s", strings.ToLower(codec), strings.ToLower(codec))

			// As in a claim call, the customer waits in the room and the agent answers. So the agent's
			// join→first frame is answer-to-picture; the customer's includes the wait for the agent.
			customer := b.open("customer", "/call?"+query+"&uid=2002")
			customer.waitJS("the customer publishes", `__stoa.events.some((e) => e.name === 'stream-published')`)
			agent := b.open("agent", "/console?"+query+"&uid=1001&autoanswer=1")

			for _, side := range []*tab{agent, customer} {
				in := side.waitReceiving("#remote-video", remotePC)
				if in.Video.Codec != "video/"+codec || in.Audio.Codec != "audio/opus" {
					t.Errorf("%s receives %s and %s, want video/%s and audio/opus", side.name, in.Video.Codec, in.Audio.Codec, codec)
				}
			}
			agentMs, customerMs := agent.joinToFirstFrame(), customer.joinToFirstFrame()
			report(t, "join→first remote frame: agent %.0f ms, customer %.0f ms (codec %s)", agentMs, customerMs, codec)
			if agentMs <= 0 || customerMs <= 0 {
				t.Errorf("join→first remote frame must be > 0 ms: agent %v, customer %v", agentMs, customerMs)
			}

			const remoteMuted = `document.getElementById('remote-muted').dataset`
			customer.click("mute-audio")
			agent.waitJS("the agent sees the customer's mic off", remoteMuted+`.audio === 'muted'`)
			customer.click("mute-video")
			agent.waitJS("the agent sees the customer's camera off", remoteMuted+`.video === 'muted'`)
			customer.click("mute-audio")
			customer.click("mute-video")
			agent.waitJS("the agent sees the customer's mic and camera on again", remoteMuted+`.audio === 'on' && `+remoteMuted+`.video === 'on'`)

			customer.click("hangup")
			customer.waitJS("the customer's call ends", `__stoa.state === 'ended'`)
			agent.waitJS("the agent gets peer-leave for 2002",
				`__stoa.events.some((e) => e.name === 'peer-leave' && e.uid === 2002) && __stoa.state === 'peer-left'`)
		})
	}
}

// TestBrowserSeedApp runs the customer's Agora code, ../shared/seed-app/rtc.js, as the agent side: its import
// lines swapped for /sdk/stoa.js and stand-ins of its logger and element-ui, everything else as it is.
func TestBrowserSeedApp(t *testing.T) {
	srv := startServer(t)
	b := newBrowser(t, srv)
	const room = "seed-app"
	src := seedModule(t, srv.url)
	token := srv.token(t, room, "1001", "agent")

	// The app's page: its two video containers and the Vuex store rtc.js dispatches to (window.AppInstance).
	agent := b.open("seed app (agent)", "/")
	mustEval[bool](agent, fmt.Sprintf(`(async () => {
	  window.__seed = { afterJoin: [], dispatched: [], committed: [], log: [], alerts: [], notes: [], events: [], client: null };
	  document.body.innerHTML = '<div id="control_panel_remote_video" style="width:640px;height:480px"></div>' +
	    '<div id="control_panel_local_video" style="width:320px;height:240px"></div>';
	  window.AppInstance = { $store: {
	    dispatch(type, payload) {
	      __seed.dispatched.push(type);
	      return Promise.resolve(type === 'getPingStats' ? { lostRate: 0, continueLostCount: 0 } : undefined);
	    },
	    commit(type, payload) { __seed.committed.push(type); },
	  } };
	  const url = URL.createObjectURL(new Blob([%s], { type: 'text/javascript' }));
	  const { default: createRtcClient } = await import(url);
	  const client = createRtcClient({ channel: %q, UID: 1001, token: %q }, (uid) => __seed.afterJoin.push(uid));
	  for (const name of ['stream-added', 'stream-subscribed', 'stream-removed', 'stream-published', 'peer-online',
	    'peer-leave', 'mute-audio', 'unmute-audio', 'connection-state-change', 'client-role-changed', 'error']) {
	    client.on(name, (e) => __seed.events.push({ name, uid: e?.uid ?? e?.stream?.getId?.() ?? null, t: Date.now() }));
	  }
	  __seed.client = client;
	  return true;
	})()`, jsString(src), room, token))
	agent.waitJS("the seed app publishes its camera",
		`__seed.events.some((e) => e.name === 'stream-published') && !!document.querySelector('#control_panel_local_video video')`)

	customer := b.open("customer", "/call?room="+room+"&uid=2002&codec=h264")

	agent.waitJS("onAfterJoin gets the customer's uid", `__seed.afterJoin.length > 0`)
	if got := mustEval[string](agent, `JSON.stringify(__seed.afterJoin)`); got != "[2002]" {
		t.Errorf("onAfterJoin got %s, want [2002] (one call, the uid as a number)", got)
	}
	agent.waitJS("the seed app dispatches setTalkReady", `__seed.dispatched.includes('setTalkReady')`)

	// rtc.js uses codec 'h264' (in live mode), and so does the customer's page here.
	in := agent.waitReceiving("#control_panel_remote_video video", `__seed.client.room.subPC(2002)`)
	if in.Video.Codec != "video/H264" {
		t.Errorf("the seed app receives %s, want video/H264", in.Video.Codec)
	}
	in = customer.waitReceiving("#remote-video", remotePC)
	if in.Video.Codec != "video/H264" {
		t.Errorf("the customer receives %s from the seed app, want video/H264", in.Video.Codec)
	}
	customerMs := customer.joinToFirstFrame()
	report(t, "join→first remote frame: customer %.0f ms (codec H264, agent = the seed app)", customerMs)
	if customerMs <= 0 {
		t.Errorf("join→first remote frame must be > 0 ms: customer %v", customerMs)
	}

	const remoteMuted = `document.getElementById('remote-muted').dataset`
	if !mustEval[bool](agent, `__seed.client.toggleAudio()`) {
		t.Errorf("the seed app's toggleAudio() returned false, want true (muted)")
	}
	customer.waitJS("the customer sees the seed app's mic off", remoteMuted+`.audio === 'muted'`)
	if mustEval[bool](agent, `__seed.client.toggleAudio()`) {
		t.Errorf("the seed app's second toggleAudio() returned true, want false (unmuted)")
	}
	customer.waitJS("the customer sees the seed app's mic on again", remoteMuted+`.audio === 'on'`)

	mustEval[bool](agent, `(__seed.client.destroy(), true)`)
	customer.waitJS("the customer gets peer-leave for 1001",
		`__stoa.events.some((e) => e.name === 'peer-leave' && e.uid === 1001) && __stoa.state === 'peer-left'`)

	if got := mustEval[string](agent, `JSON.stringify({ alerts: __seed.alerts, notes: __seed.notes })`); got != `{"alerts":[],"notes":[]}` {
		t.Errorf("the seed app showed messages to the agent: %s", got)
	}
}

// seedImports are rtc.js's import lines by module, and what each module becomes in the test: the SDK from the
// server, and recording stand-ins for the app's logger and element-ui.
var seedImports = []struct{ module, standIn string }{
	{"agora-rtc-sdk", ""}, // the server's /sdk/stoa.js
	{"./logger", `export default { send(entry) { window.__seed.log.push(entry); } };`},
	{"element-ui", `
const notify = (kind) => (o) => { window.__seed.notes.push({ kind, title: o?.title, message: o?.message }); return { close() {} }; };
export const MessageBox = { alert(message, o) { window.__seed.alerts.push({ message, type: o?.type }); return Promise.resolve(); } };
export const Notification = { warning: notify('warning'), success: notify('success') };`},
}

// seedModule reads the seed app's rtc.js and swaps its import lines, and only those, for the test's modules.
func seedModule(t *testing.T, origin string) string {
	t.Helper()
	path := filepath.Join("..", "..", "shared", "seed-app", "rtc.js")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read the seed app's rtc.js, which this test runs (the shared directory must sit beside the repository): %v", err)
	}
	out := string(src)
	for _, imp := range seedImports {
		line := regexp.MustCompile(`(?m)^(import .+ from )['"]` + regexp.QuoteMeta(imp.module) + `['"](;?)[ \t]*$`)
		if n := len(line.FindAllString(out, -1)); n != 1 {
			t.Fatalf("%s: want one import line from %q, found %d", path, imp.module, n)
		}
		url := origin + "/sdk/stoa.js"
		if imp.standIn != "" {
			url = "data:text/javascript;base64," + base64.StdEncoding.EncodeToString([]byte(imp.standIn))
		}
		out = line.ReplaceAllString(out, "${1}'"+strings.ReplaceAll(url, "$", "$$")+"'${2}")
	}
	return out
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// report prints a measurement to the test log and to stdout, so `make test` shows it without -v too.
func report(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf(format, args...)
	fmt.Printf(format+"\n", args...)
}
