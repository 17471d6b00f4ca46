//go:build browser

// Network quality the agent can act on, in real Chromium: the customer's pings ride its publication's data
// channel, the console shows both sides' levels, and when the server drops half of what the customer sends
// (the dev-mode impairment) the console shows the tip and the customer's bad level, the customer's page says
// its network is poor, autoAudioOnly turns the customer's camera off; all of it clears after recovery.

package webui_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// windowBound bounds the steps that wait on the server's measurement: its ping window is 20 s, so a change of
// network shows fully only after that; three times as long only a defect trips.
const windowBound = 60 * time.Second

// levels is what a meter of static/quality.js shows: Agora's 0–6 levels (-1: no such meter).
type levels struct {
	Up   int `json:"up"`
	Down int `json:"down"`
}

// meterJS reads the levels a meter (#net-self, #net-customer) shows.
func meterJS(id string) string {
	return fmt.Sprintf(`(() => {
	  const g = (d) => Number(document.querySelector('#%s .net-level[data-dir="' + d + '"]')?.dataset.level ?? -1);
	  return { up: g('up'), down: g('down') };
	})()`, id)
}

// pingStats is getPingStats()'s answer.
type pingStats struct {
	LostRate          float64 `json:"lostRate"`
	ContinueLostCount int     `json:"continueLostCount"`
	RTT               int     `json:"rtt"`
}

// tipBanner is what the console's tip banner shows.
type tipBanner struct {
	Shown    bool   `json:"shown"`
	Tip      string `json:"tip"`
	Text     string `json:"text"`
	Switched bool   `json:"switched"` // "Customer switched to voice"
}

const tipBannerJS = `(() => {
  const b = document.getElementById('net-tip');
  return { shown: !b.hidden, tip: b.dataset.tip, text: b.textContent.trim(), switched: !b.querySelector('.voice').hidden };
})()`

// customerPoorJS is whether the customer's page says its network is poor.
const customerPoorJS = `(() => { const p = document.getElementById('net-poor'); return !p.hidden && p.textContent.includes('Your network is poor'); })()`

// impair sets the fraction of a participant's incoming packets and pings the server drops (dev mode only).
func (s *server) impair(t *testing.T, room, uid string, loss float64) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"room": room, "uid": uid, "loss": loss})
	res, err := http.Post(s.url+"/api/dev/impair", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST /api/dev/impair: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("POST /api/dev/impair %s: status %d: %s", body, res.StatusCode, b)
	}
}

func TestBrowserNetworkQuality(t *testing.T) {
	srv := startServer(t)
	b := newBrowser(t, srv)
	const room, customerUid = "net-quality", "2002"
	customer := b.open("customer", "/call?room="+room+"&uid="+customerUid+"&autoaudioonly=1")
	customer.waitJS("the customer publishes", `__stoa.events.some((e) => e.name === 'stream-published')`)
	agent := b.open("agent", "/console?room="+room+"&uid=1001&autoanswer=1")
	agent.waitReceiving("#remote-video", remotePC)

	// The customer pings over its publication's data channel, and the server echoes every ping.
	customer.waitUntil("pings echoed on the stoa-ping data channel", func() (bool, error) {
		n, err := evalJS[int](customer, `(async () => { let n = -1; (await __stoa.client.room.pubPC.getStats()).forEach((s) => {
		  if (s.type === 'data-channel' && s.label === 'stoa-ping' && s.state === 'open') n = s.messagesReceived ?? 0; }); return n; })()`)
		return err == nil && n >= 5, seen(n >= 5, fmt.Sprintf("%d echoes (-1: no open channel)", n))
	})
	// getPingStats is a plain object, and Promise.resolve of it is what the seed's dispatch('getPingStats').then(...)
	// gets. Its window is 20 pings, so a ping sent before the server's echo was wired is forgotten after 20 s.
	customer.waitWithin(windowBound, "the customer's ping stats show no loss", func() (bool, error) {
		ps, err := evalJS[pingStats](customer, `Promise.resolve(__stoa.client.getPingStats())`)
		ok := err == nil && ps.LostRate == 0 && ps.ContinueLostCount == 0 && ps.RTT >= 0
		return ok, seen(ok, ps)
	})

	good := func(l levels) bool { return l.Up >= 1 && l.Up <= 3 && l.Down <= 3 }
	agent.waitWithin(windowBound, "the console shows the customer's level 1–3, its own, and no tip", func() (bool, error) {
		c, err := evalJS[levels](agent, meterJS("net-customer"))
		if err != nil {
			return false, err
		}
		self, _ := evalJS[levels](agent, meterJS("net-self"))
		tip, _ := evalJS[tipBanner](agent, tipBannerJS)
		ok := good(c) && self.Up >= 1 && self.Up <= 3 && !tip.Shown
		return ok, seen(ok, fmt.Sprintf("customer %+v, agent %+v, tip %+v", c, self, tip))
	})
	// The bar shows what the SDK's Agora 4.x-shaped getRemoteNetworkQuality() says (read at once: both change every 2 s).
	if got := mustEval[[]int](agent, `[__stoa.client.getRemoteNetworkQuality()['`+customerUid+`']?.uplinkNetworkQuality ?? -1,
	  Number(document.querySelector('#net-customer .net-level[data-dir="up"]').dataset.level)]`); len(got) != 2 || got[0] != got[1] {
		t.Errorf("getRemoteNetworkQuality()'s customer uplink and the console's bar: %v, want the same level", got)
	}
	customer.waitWithin(windowBound, "the customer's page shows its own level 1–3 and no warning", func() (bool, error) {
		l, err := evalJS[levels](customer, meterJS("net-self"))
		if err != nil {
			return false, err
		}
		poor, _ := evalJS[bool](customer, customerPoorJS)
		ok := good(l) && !poor
		return ok, seen(ok, fmt.Sprintf("%+v, says poor: %v", l, poor))
	})

	// Half of what the customer sends is lost.
	srv.impair(t, room, customerUid, 0.5)
	impaired := time.Now()
	agent.waitWithin(windowBound, "the console shows a tip about the customer and its level ≥ 4", func() (bool, error) {
		tip, err := evalJS[tipBanner](agent, tipBannerJS)
		if err != nil {
			return false, err
		}
		c, _ := evalJS[levels](agent, meterJS("net-customer"))
		ok := tip.Shown && (tip.Tip == "voice" || tip.Tip == "poor") && max(c.Up, c.Down) >= 4
		return ok, seen(ok, fmt.Sprintf("tip %+v, customer %+v", tip, c))
	})
	shown := mustEval[tipBanner](agent, tipBannerJS)
	report(t, "network quality: 50 %% loss → the console shows tip %q after %v", shown.Tip, time.Since(impaired).Round(100*time.Millisecond))
	customer.waitWithin(windowBound, `the customer's page says "Your network is poor"`, func() (bool, error) {
		return evalJS[bool](customer, customerPoorJS)
	})
	customer.waitWithin(windowBound, "the customer's own pings show the loss", func() (bool, error) {
		r, err := evalJS[float64](customer, `__stoa.client.getPingStats().lostRate`)
		return err == nil && r >= 0.2, seen(r >= 0.2, fmt.Sprintf("lostRate %v", r))
	})
	// At half the pings lost the tip is "suggest voice": autoAudioOnly turns the customer's camera off, and the
	// agent sees that the customer switched to voice.
	agent.waitWithin(windowBound, "the console says the customer switched to voice", func() (bool, error) {
		tip, err := evalJS[tipBanner](agent, tipBannerJS)
		return err == nil && tip.Tip == "voice" && tip.Switched, seen(tip.Switched, tip)
	})
	customer.waitJS("the customer's page got audio-only and shows its camera off",
		`__stoa.events.some((e) => e.name === 'audio-only') && document.getElementById('mute-video').getAttribute('aria-pressed') === 'true'`)
	if v := mustEval[string](agent, `document.getElementById('remote-muted').dataset.video`); v != "muted" {
		t.Errorf("the console's remote-muted says video %q, want muted", v)
	}

	// The network recovers: the tip clears and the levels come back.
	srv.impair(t, room, customerUid, 0)
	recovered := time.Now()
	agent.waitWithin(windowBound, "the tip clears and the customer's level is back to 1–3", func() (bool, error) {
		tip, err := evalJS[tipBanner](agent, tipBannerJS)
		if err != nil {
			return false, err
		}
		c, _ := evalJS[levels](agent, meterJS("net-customer"))
		ok := !tip.Shown && good(c)
		return ok, seen(ok, fmt.Sprintf("tip %+v, customer %+v", tip, c))
	})
	report(t, "network quality: loss back to 0 → the tip cleared and the customer's level ≤ 3 after %v", time.Since(recovered).Round(100*time.Millisecond))
	customer.waitWithin(windowBound, "the customer's page no longer says its network is poor", func() (bool, error) {
		poor, err := evalJS[bool](customer, customerPoorJS)
		l, _ := evalJS[levels](customer, meterJS("net-self"))
		ok := err == nil && !poor && good(l)
		return ok, seen(ok, fmt.Sprintf("%+v, says poor: %v", l, poor))
	})
}
