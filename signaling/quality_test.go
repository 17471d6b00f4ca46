package signaling_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stoa-video/stoa/quality"
	"github.com/stoa-video/stoa/signaling"
	"github.com/stoa-video/stoa/signaling/client"
)

// qualityCall is a customer pinging through a lossy link and publishing
// media, and an agent who receives the tips about it.
type qualityCall struct {
	ts              *testServer
	link            *lossyLink
	customer, agent *client.Client
}

func newQualityCall(ctx context.Context, t *testing.T, room string) *qualityCall {
	t.Helper()
	ts := newTestServer(t, func(o *signaling.Options) { o.Quality.Window = 20 * time.Second })
	link := newLossyLink(t)
	agentTok := ts.token(room, "agent", signaling.RoleHost, signaling.GrantClaimTools)
	agent := ts.dial(ctx, room, "agent", signaling.RoleHost, func(o *client.Options) { o.Token = agentTok })
	customer := ts.dial(ctx, room, "customer", signaling.RoleHost, func(o *client.Options) {
		o.API, o.Ping = lossyAPI(t, link), true
	})
	newPublisher(t, 1).start(ctx, t, customer)
	qc := &qualityCall{ts: ts, link: link, customer: customer, agent: agent}
	// Loss starts once the pings flow.
	qc.waitStats(ctx, t, "the customer's first pings", func(p signaling.ParticipantStats) bool { return p.Ping.Expected >= 2 })
	return qc
}

// customerStats returns the room stats' entry of the customer.
func (qc *qualityCall) customerStats(room string) (signaling.ParticipantStats, bool) {
	parts, _ := qc.ts.sig.RoomStats(room)
	for _, p := range parts {
		if p.UID == "customer" {
			return p, true
		}
	}
	return signaling.ParticipantStats{}, false
}

func (qc *qualityCall) waitStats(ctx context.Context, t *testing.T, what string, cond func(signaling.ParticipantStats) bool) signaling.ParticipantStats {
	t.Helper()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var last signaling.ParticipantStats
	for {
		for _, room := range []string{qc.customer.Joined().Room} {
			if p, ok := qc.customerStats(room); ok {
				last = p
				if cond(p) {
					return p
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: last stats %+v", what, last)
		case <-tick.C:
		}
	}
}

// lastTip drains the agent's events and returns the newest network-tip about
// the customer (ok false if none came).
func lastTip(c *client.Client, prev signaling.Message) (signaling.Message, bool) {
	got, ok := prev, prev.Type != ""
	for {
		select {
		case m := <-c.Events():
			if m.Type == signaling.TypeNetworkTip && m.UID == "customer" {
				got, ok = m, true
			}
		default:
			return got, ok
		}
	}
}

func tipOf(m signaling.Message) string {
	if m.Tip == nil {
		return "(none sent)"
	}
	return *m.Tip
}

// At each injected loss rate, over a 20 s window: the lost rate the server
// reports is within 3 points of it, the agent's tip is the seed's, and the
// levels rise with loss. Pings blocked entirely read as down.
func TestNetworkQualityUnderLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("a 25 s measurement per loss rate")
	}
	cases := []struct {
		name     string
		pingLoss float64
		rtpLoss  float64
		tip      quality.Tip
	}{
		{"0%", 0, 0, quality.TipNone},
		{"5%", 0.05, 0.05, quality.TipNone},
		{"15%", 0.15, 0.15, quality.TipPoor},
		{"40%", 0.40, 0.40, quality.TipVoice},
		{"90%", 0.90, 0.90, quality.TipDown},
		{"pings blocked", 1, 0, quality.TipDown},
	}
	levels := make([]int, len(cases))
	t.Run("rates", func(t *testing.T) {
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
				defer cancel()
				room := "loss-" + strings.NewReplacer("%", "pct", " ", "-").Replace(c.name)
				qc := newQualityCall(ctx, t, room)
				qc.link.setLoss(c.pingLoss, c.rtpLoss)
				start := qc.link.pings.Load()
				// A whole window of lossy pings, then some.
				st := qc.waitStats(ctx, t, "a window of lossy pings", func(signaling.ParticipantStats) bool {
					return qc.link.pings.Load()-start >= 22 || qc.link.droppedPings.Load() >= 22
				})
				st = qc.waitStats(ctx, t, "levels after the window", func(p signaling.ParticipantStats) bool { return p.Levels.Uplink > 0 })
				if math.Abs(st.Ping.LostRate-c.pingLoss) > 0.03 {
					t.Errorf("injected %.0f %% ping loss: the server reports a lost rate of %.3f (%+v)", 100*c.pingLoss, st.Ping.LostRate, st.Ping)
				}
				if st.Tip != string(c.tip) {
					t.Errorf("injected %.0f %%: the server's tip is %q, want %q", 100*c.pingLoss, st.Tip, c.tip)
				}
				tip, sent := lastTip(qc.agent, signaling.Message{})
				switch {
				case c.tip == quality.TipNone && sent && tipOf(tip) != "":
					t.Errorf("injected %.0f %%: the agent was told %q", 100*c.pingLoss, tipOf(tip))
				case c.tip != quality.TipNone && tipOf(tip) != string(c.tip):
					t.Errorf("injected %.0f %%: the agent's last tip is %q, want %q", 100*c.pingLoss, tipOf(tip), c.tip)
				case sent && tip.Message != c.tip.Message():
					t.Errorf("tip message %q, want %q", tip.Message, c.tip.Message())
				}
				levels[i] = st.Levels.Uplink
				t.Logf("loss %.0f %%: lost rate %.3f, %d in a row, rtt %.1f ms, uplink media loss %.3f (recovered %d of %d lost), levels up %d down %d, tip %q",
					100*c.pingLoss, st.Ping.LostRate, st.Ping.ContinueLostCount, st.Ping.RTTAvgMs, st.Uplink.LossRate,
					sumRecovered(st), sumLost(st), st.Levels.Uplink, st.Levels.Downlink, st.Tip)
				if c.rtpLoss >= 0.15 && c.rtpLoss < 0.9 && sumRecovered(st) == 0 {
					t.Errorf("at %.0f %% media loss no lost packet was recovered by NACK", 100*c.rtpLoss)
				}
			})
		}
	})
	for i := 1; i < len(cases); i++ {
		if levels[i] < levels[i-1] {
			t.Errorf("uplink level %d at %s is better than %d at %s", levels[i], cases[i].name, levels[i-1], cases[i-1].name)
		}
	}
	if levels[0] < 1 || levels[0] > int(quality.Poor) || levels[len(levels)-1] != int(quality.Down) {
		t.Errorf("levels %v: want no worse than poor without loss, and down when pings are blocked", levels)
	}
}

func sumRecovered(p signaling.ParticipantStats) (n uint64) {
	for _, t := range p.Published {
		n += t.Recovered
	}
	return n
}

func sumLost(p signaling.ParticipantStats) (n uint64) {
	for _, t := range p.Published {
		n += t.Lost
	}
	return n
}

// 200 ms more on the customer's uplink moves the round trip its pings
// measure by 200 ± 20 ms.
func TestNetworkQualityDelay(t *testing.T) {
	if testing.Short() {
		t.Skip("a 45 s measurement")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	qc := newQualityCall(ctx, t, "delay")
	// The window's average with no delay: 20 pings.
	start := qc.link.pings.Load()
	base := qc.waitStats(ctx, t, "a window without delay", func(signaling.ParticipantStats) bool { return qc.link.pings.Load()-start >= 21 })
	qc.link.delay.Store(int64(200 * time.Millisecond))
	start = qc.link.pings.Load()
	slow := qc.waitStats(ctx, t, "a window with 200 ms delay", func(signaling.ParticipantStats) bool { return qc.link.pings.Load()-start >= 22 })
	shift := slow.Ping.RTTAvgMs - base.Ping.RTTAvgMs
	t.Logf("ping rtt %.1f ms → %.1f ms (min %.1f max %.1f): moved %.1f ms; levels %+v → %+v", base.Ping.RTTAvgMs, slow.Ping.RTTAvgMs,
		slow.Ping.RTTMinMs, slow.Ping.RTTMaxMs, shift, base.Levels, slow.Levels)
	if math.Abs(shift-200) > 20 {
		t.Errorf("200 ms added on the uplink moved the ping round trip by %.1f ms", shift)
	}
	if slow.Ping.LostRate > 0 {
		t.Errorf("delay alone lost pings: %+v", slow.Ping)
	}
}

// Pings stopped with the websocket left open: the agent is told "down or
// left" at the tenth missing ping (the seed's rule; a tick of a quarter
// second after it is due), and the tip clears when pings come back.
func TestNetworkQualityPingsStopped(t *testing.T) {
	if testing.Short() {
		t.Skip("a 40 s measurement")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	qc := newQualityCall(ctx, t, "stopped")
	qc.waitStats(ctx, t, "a clean window", func(p signaling.ParticipantStats) bool { return p.Ping.Expected >= 5 && p.Ping.LostRate == 0 })
	_, _ = lastTip(qc.agent, signaling.Message{})
	stoppedAt := time.Now()
	qc.customer.SetPinging(false)
	down, err := qc.agent.WaitEvent(ctx, signaling.TypeNetworkTip, func(m signaling.Message) bool {
		return m.UID == "customer" && tipOf(m) == string(quality.TipDown)
	})
	if err != nil {
		t.Fatalf("no down tip: %v", err)
	}
	t.Logf("down tip %v after the pings stopped, at %d missing pings", time.Since(stoppedAt).Round(10*time.Millisecond), *down.ContinueLostCount)
	if down.ContinueLostCount == nil || *down.ContinueLostCount != 10 {
		t.Errorf("the down tip came at %v missing pings, want at the 10th", down.ContinueLostCount)
	}
	if down.Message != quality.TipDown.Message() {
		t.Errorf("message %q", down.Message)
	}
	qc.customer.SetPinging(true)
	if _, err := qc.agent.WaitEvent(ctx, signaling.TypeNetworkTip, func(m signaling.Message) bool {
		return m.UID == "customer" && tipOf(m) == ""
	}); err != nil {
		t.Fatalf("the tip never cleared after the pings resumed: %v", err)
	}
	if st, _ := qc.customerStats("stopped"); st.Ping.ContinueLostCount != 0 || st.Ping.LostRate > 0.1 {
		t.Errorf("cleared with %+v", st.Ping)
	}
}
