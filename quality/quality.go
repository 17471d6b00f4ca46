// Package quality turns network measurements into what people act on: the
// seed application's ping tips ("the customer's network is poor…") and
// Agora's 0–6 network quality levels. It is pure: statistics in, levels and
// tips out, no I/O and no clock of its own; package signaling feeds it
// counters from the sfu and the participants' pings (docs/network-quality.md).
package quality

import (
	"fmt"
	"time"
)

// Level is Agora's network quality: 0 unknown, 1 excellent, 2 good, 3 poor,
// 4 bad, 5 very bad, 6 down.
type Level int

// The levels, as Agora numbers them.
const (
	Unknown Level = iota
	Excellent
	Good
	Poor
	Bad
	VeryBad
	Down
)

// String names the level as Agora's documentation does.
func (l Level) String() string {
	names := [...]string{"unknown", "excellent", "good", "poor", "bad", "very bad", "down"}
	if l < 0 || int(l) >= len(names) {
		return fmt.Sprintf("level(%d)", int(l))
	}
	return names[l]
}

// Tip is what the agent is told about a participant's network, from its pings,
// with the seed application's rules.
type Tip string

// The tips, from none to the worst.
const (
	TipNone  Tip = ""
	TipPoor  Tip = "poor"
	TipVoice Tip = "voice"
	TipDown  Tip = "down"
)

// Message is the tip in the words the agent reads (the seed's, in English).
func (t Tip) Message() string {
	switch t {
	case TipDown:
		return "the customer's network is down or they left the call page"
	case TipVoice:
		return "the customer's network is poor, suggest switching to voice"
	case TipPoor:
		return "the customer's network is poor"
	}
	return ""
}

// Thresholds are the seed's tip rules, configurable: a lost rate above Down,
// or DownConsecutive pings lost in a row, means down or left; above Voice,
// suggest voice; above Poor, poor. The levels use the same bounds, so levels
// and tips agree.
type Thresholds struct {
	Down, Voice, Poor float64
	DownConsecutive   int
}

// DefaultThresholds are the seed application's: 0.8, 0.3, 0.1 and 10.
func DefaultThresholds() Thresholds {
	return Thresholds{Down: 0.8, Voice: 0.3, Poor: 0.1, DownConsecutive: 10}
}

// Validate says what is wrong with t, if anything.
func (t Thresholds) Validate() error {
	if !(0 < t.Poor && t.Poor < t.Voice && t.Voice < t.Down && t.Down <= 1) {
		return fmt.Errorf("quality thresholds must satisfy 0 < poor (%g) < voice (%g) < down (%g) ≤ 1", t.Poor, t.Voice, t.Down)
	}
	if t.DownConsecutive < 1 {
		return fmt.Errorf("quality: pings lost in a row before down must be at least 1, not %d", t.DownConsecutive)
	}
	return nil
}

// PingStats are one participant's pings over a sliding window.
type PingStats struct {
	// Expected is how many pings the window should hold (0: no ping yet).
	Expected int
	// Lost is how many of them did not arrive.
	Lost int
	// LostRate is Lost/Expected, 0..1.
	LostRate float64
	// ContinueLost is how many pings in a row are missing up to now.
	ContinueLost int
	// RTT is the round trip the client measured (min, average, max over the
	// window; zero when it reported none).
	RTTMin, RTTAvg, RTTMax time.Duration
	// Jitter is the variation of the pings' arrival spacing (RFC 3550's
	// estimator applied to pings).
	Jitter time.Duration
}

// TipFor applies the seed's rules to a participant's pings.
func TipFor(p PingStats, t Thresholds) Tip {
	switch {
	case p.Expected == 0:
		return TipNone
	case p.LostRate > t.Down || p.ContinueLost >= t.DownConsecutive:
		return TipDown
	case p.LostRate > t.Voice:
		return TipVoice
	case p.LostRate > t.Poor:
		return TipPoor
	}
	return TipNone
}

// Link is one direction's media measurements over a window.
type Link struct {
	// Expected is how many packets were expected (0: no media measured).
	Expected int64
	// Lost is how many of them were lost on the network.
	Lost int64
	// RTT and Jitter are the round trip and interarrival jitter, when known.
	RTT, Jitter time.Duration
}

// Loss is Lost/Expected, or -1 when too few packets were expected to say.
func (l Link) Loss() float64 {
	if l.Expected < minPackets {
		return -1
	}
	loss := float64(l.Lost) / float64(l.Expected)
	return min(max(loss, 0), 1)
}

// minPackets is the fewest packets a window's loss is judged on: below it
// one lost packet would swing the level.
const minPackets = 50

// Inputs are what the levels of one participant are computed from.
type Inputs struct {
	// Ping is the participant's pings (Expected 0 when it sends none).
	Ping PingStats
	// Up is the media the participant sent (its publication), as received.
	Up Link
	// Down is the media it received, as its receiver reports tell.
	Down Link
}

// Levels computes a participant's uplink and downlink levels. Each is the
// worst of three scores — loss, round trip and jitter — so that any one bad
// enough says the network is bad; down (6) when its pings say down. Loss
// uses the tip bounds (docs/network-quality.md has the table).
func Levels(in Inputs, t Thresholds) (up, down Level) {
	ping := in.Ping.Expected > 0
	if ping && (in.Ping.ContinueLost >= t.DownConsecutive || in.Ping.LostRate > t.Down) {
		return Down, Down
	}
	// Uplink: the pings ride the same path; the media's own loss counts too.
	upLoss := in.Up.Loss()
	if ping {
		upLoss = max(upLoss, in.Ping.LostRate)
	}
	upJitter := max(in.Up.Jitter, in.Ping.Jitter)
	up = score(upLoss, in.Ping.RTTAvg, upJitter, t)
	if !ping && upLoss < 0 {
		up = Unknown
	}
	downRTT := in.Down.RTT
	if downRTT == 0 {
		downRTT = in.Ping.RTTAvg
	}
	downLoss := in.Down.Loss()
	down = score(downLoss, downRTT, in.Down.Jitter, t)
	if downLoss < 0 && !ping {
		down = Unknown
	}
	return up, down
}

// score is the worst of the loss, RTT and jitter levels; loss < 0 is unknown
// and scores nothing.
func score(loss float64, rtt, jitter time.Duration, t Thresholds) Level {
	return max(LossLevel(loss, t), RTTLevel(rtt), JitterLevel(jitter))
}

// LossLevel maps a loss fraction to a level: ≤ 1 % excellent, ≤ 3 % good,
// ≤ Poor poor, ≤ Voice bad, ≤ Down very bad, above down; below 0 (unknown)
// excellent, as nothing says otherwise.
func LossLevel(loss float64, t Thresholds) Level {
	switch {
	case loss <= 0.01:
		return Excellent
	case loss <= 0.03:
		return Good
	case loss <= t.Poor:
		return Poor
	case loss <= t.Voice:
		return Bad
	case loss <= t.Down:
		return VeryBad
	}
	return Down
}

// RTTLevel maps a round trip to a level: conversation is easy below 150 ms
// (ITU-T G.114's one-way 150 ms is generous for it), awkward past 500 ms and
// hard past a second.
func RTTLevel(rtt time.Duration) Level {
	switch {
	case rtt < 150*time.Millisecond:
		return Excellent
	case rtt < 300*time.Millisecond:
		return Good
	case rtt < 500*time.Millisecond:
		return Poor
	case rtt < time.Second:
		return Bad
	}
	return VeryBad
}

// JitterLevel maps interarrival jitter to a level: a browser's jitter
// buffer absorbs a few tens of ms unnoticed; past 100 ms playout stalls.
func JitterLevel(j time.Duration) Level {
	switch {
	case j < 30*time.Millisecond:
		return Excellent
	case j < 50*time.Millisecond:
		return Good
	case j < 100*time.Millisecond:
		return Poor
	case j < 200*time.Millisecond:
		return Bad
	}
	return VeryBad
}
