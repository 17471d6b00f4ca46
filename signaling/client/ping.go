package client

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/stoa-video/stoa/sfu"
)

// pingEvery is how often a client pings, as the browser SDK does.
const pingEvery = time.Second

// pinger pings once a second on the publication's stoa-ping data channel,
// unordered and never retransmitted, and times the server's echoes.
type pinger struct {
	dc     *webrtc.DataChannel
	paused atomic.Bool
	done   chan struct{}

	mu      sync.Mutex
	seq     uint32
	sent    map[uint32]time.Time
	lastRTT time.Duration
	echoes  int
}

// openPinger adds the ping channel to pc (before its offer) and starts
// pinging once it opens, until it closes or stop is closed.
func openPinger(pc *webrtc.PeerConnection, stop <-chan struct{}) (*pinger, error) {
	ordered, retransmits := false, uint16(0)
	dc, err := pc.CreateDataChannel(sfu.PingLabel, &webrtc.DataChannelInit{Ordered: &ordered, MaxRetransmits: &retransmits})
	if err != nil {
		return nil, fmt.Errorf("ping channel: %w", err)
	}
	p := &pinger{dc: dc, done: make(chan struct{}), sent: map[uint32]time.Time{}}
	var closeOnce sync.Once
	dc.OnClose(func() { closeOnce.Do(func() { close(p.done) }) })
	dc.OnMessage(func(m webrtc.DataChannelMessage) { p.echo(m.Data) })
	dc.OnOpen(func() { go p.run(stop) })
	return p, nil
}

func (p *pinger) run(stop <-chan struct{}) {
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-p.done:
			return
		case now := <-t.C:
			p.mu.Lock()
			p.seq++ // a paused client's pings are missing, as a stalled page's would be
			seq, rtt := p.seq, p.lastRTT
			if !p.paused.Load() {
				p.sent[seq] = now
			}
			for s, at := range p.sent {
				if now.Sub(at) > 10*time.Second {
					delete(p.sent, s)
				}
			}
			p.mu.Unlock()
			if !p.paused.Load() {
				_ = p.dc.SendText(pingText(seq, rtt))
			}
		}
	}
}

// pingSize is the length every ping is padded to, so that each is one
// packet of one size on the wire (a test's lossy link tells them apart).
const pingSize = 64

// pingText is ping seq carrying the last round trip, padded to pingSize.
func pingText(seq uint32, rtt time.Duration) string {
	base := fmt.Sprintf(`{"seq":%d,"rtt":%.1f`, seq, float64(rtt)/float64(time.Millisecond))
	pad := max(pingSize-len(base)-len(`,"pad":""}`), 0)
	return base + `,"pad":"` + strings.Repeat(".", pad) + `"}`
}

// echo times the server's echo of a ping.
func (p *pinger) echo(b []byte) {
	seq, _, err := sfu.ParsePing(b)
	if err != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if at, ok := p.sent[seq]; ok {
		p.lastRTT = time.Since(at)
		p.echoes++
		delete(p.sent, seq)
	}
}

// SetPinging stops (false) or resumes (true) the publication's pings, with
// everything else left open: what a frozen page looks like to the server.
func (c *Client) SetPinging(on bool) {
	c.mu.Lock()
	p := c.pinger
	c.mu.Unlock()
	if p != nil {
		p.paused.Store(!on)
	}
}

// PingRTT is the round trip of the last echoed ping and how many came back.
func (c *Client) PingRTT() (time.Duration, int) {
	c.mu.Lock()
	p := c.pinger
	c.mu.Unlock()
	if p == nil {
		return 0, 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastRTT, p.echoes
}
