package sfu

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

// PingLabel is the data channel a publishing client pings on, once a second:
// unordered and never retransmitted, it rides the media's UDP path, so a lost
// ping is a lost packet (a ping over the TCP websocket would only be late).
const PingLabel = "stoa-ping"

// maxPingSize bounds a ping message; a real one is ~30 bytes.
const maxPingSize = 256

// maxPingsPerSecond bounds how many pings a client gets answered; a flood
// beyond it is dropped unanswered and unrecorded.
const maxPingsPerSecond = 5

// PingListener is implemented by a Listener that wants the participant's
// pings: seq counts from 1, rtt is the round trip the client measured last.
type PingListener interface {
	Ping(seq uint32, rtt time.Duration)
}

// ErrBadPing is returned (wrapped) for a message that is not a ping.
var ErrBadPing = errors.New("not a ping")

// ParsePing reads a ping, {"seq": N, "rtt": R} with R in milliseconds.
func ParsePing(b []byte) (seq uint32, rtt time.Duration, err error) {
	if len(b) > maxPingSize {
		return 0, 0, fmt.Errorf("%w: %d bytes", ErrBadPing, len(b))
	}
	var m struct {
		Seq *uint32  `json:"seq"`
		RTT *float64 `json:"rtt"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return 0, 0, fmt.Errorf("%w: %w", ErrBadPing, err)
	}
	if m.Seq == nil || *m.Seq == 0 {
		return 0, 0, fmt.Errorf("%w: no seq", ErrBadPing)
	}
	if m.RTT != nil && *m.RTT > 0 && *m.RTT < 600_000 {
		rtt = time.Duration(*m.RTT * float64(time.Millisecond))
	}
	return *m.Seq, rtt, nil
}

// onDataChannel answers the pings on a publisher's stoa-ping channel and
// closes any other channel.
func (p *Participant) onDataChannel(dc *webrtc.DataChannel) {
	if dc.Label() != PingLabel {
		p.room.sfu.log.Debug("closing an unknown data channel", "room", p.room.id, "uid", p.uid)
		_ = dc.Close()
		return
	}
	var windowStart time.Time
	var inWindow int
	dc.OnMessage(func(m webrtc.DataChannelMessage) { // pion calls it from one goroutine per channel
		now := time.Now()
		if now.Sub(windowStart) >= time.Second {
			windowStart, inWindow = now, 0
		}
		if inWindow++; inWindow > maxPingsPerSecond {
			return
		}
		if p.impair.drop(&p.impairPings) {
			return
		}
		seq, rtt, err := ParsePing(m.Data)
		if err != nil {
			return
		}
		if m.IsString { // the echo is the ping as it came: text for text
			_ = dc.SendText(string(m.Data))
		} else {
			_ = dc.Send(m.Data)
		}
		p.Pinged(seq, rtt)
	})
}

// Pinged hands a ping that arrived by any path (the data channel, or the
// websocket of a client that does not publish) to the participant's
// PingListener.
func (p *Participant) Pinged(seq uint32, rtt time.Duration) {
	if pl, ok := p.listener.(PingListener); ok {
		pl.Ping(seq, rtt)
	}
}

// impairment drops a fraction of a participant's incoming packets and pings
// on purpose, in a regular pattern: what a drill or a test uses to show the
// agent a customer's poor network without a poor network.
type impairment struct {
	rate atomic.Uint64 // math.Float64bits of the fraction dropped
}

// drop says whether the next item of a stream counted by n is dropped.
func (i *impairment) drop(n *atomic.Uint64) bool {
	r := math.Float64frombits(i.rate.Load())
	if r <= 0 {
		return false
	}
	k := float64(n.Add(1))
	return math.Floor(k*r) > math.Floor((k-1)*r)
}

// Impair makes the server drop the given fraction (0..1) of the
// participant's incoming media packets and pings, from now until called
// again with 0. It is for drills and tests (dev mode exposes it).
func (p *Participant) Impair(loss float64) {
	p.impair.rate.Store(math.Float64bits(min(max(loss, 0), 1)))
}
