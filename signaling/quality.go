package signaling

import (
	"sync"
	"time"

	"github.com/stoa-video/stoa/quality"
	"github.com/stoa-video/stoa/sfu"
)

// QualityOptions configures the network-quality monitor (docs/network-quality.md).
type QualityOptions struct {
	// Thresholds are the tip rules; zero means quality.DefaultThresholds.
	Thresholds quality.Thresholds
	// Window is how far back the pings' lost rate looks; 0 means 20 s.
	Window time.Duration
}

// clientPingInterval is how often clients ping (the SDK's and signaling/client's).
const clientPingInterval = time.Second

// Monitor periods: tips are checked four times a second so that "down or
// left" comes within a quarter second of its tenth missing ping; levels go
// out every 2 s, as Agora's network-quality does.
const (
	tipEvery   = 250 * time.Millisecond
	levelEvery = 8 // tip checks
	mediaWin   = 5 // level periods of media counters the levels look back on (10 s)
)

// QualitySink is told every participant's levels and uplink loss each level
// period; the call center keeps a network summary per call with it.
type QualitySink interface {
	NoteQuality(room, uid string, uplink, downlink int, lossRate float64)
}

// MetricsSink takes what the signaling server measures for the operator's
// metrics; *metrics.Metrics is one.
type MetricsSink interface {
	// ObserveRTT records one round trip, path "ping" or "rtcp".
	ObserveRTT(path string, d time.Duration)
	// CountError counts one error sent to a client, by protocol code.
	CountError(code string)
}

// LinkLevels are one participant's Agora levels.
type LinkLevels struct {
	Uplink   int `json:"uplink"`
	Downlink int `json:"downlink"`
}

// linkSample is a participant's cumulative media counters at one level period.
type linkSample struct {
	upExpected, upLost     int64
	downExpected, downLost int64
}

// sessionQuality is what the monitor keeps of one session; mu guards it
// against the stats API (the monitor goroutine is its only writer).
type sessionQuality struct {
	pings *quality.PingWindow

	mu      sync.Mutex
	tip     quality.Tip
	tipSent bool
	levels  LinkLevels
	ping    quality.PingStats
	up      quality.Link
	down    quality.Link
	samples []linkSample // oldest first, at most mediaWin+1
}

// Ping records a ping from the participant (sfu.PingListener).
func (ss *session) Ping(seq uint32, rtt time.Duration) {
	ss.q.pings.Record(seq, rtt, time.Now())
}

// qualityLoop is the monitor: the Server's goroutine from NewServer to Close.
func (s *Server) qualityLoop() {
	defer s.wg.Done()
	t := time.NewTicker(tipEvery)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			all := s.liveSessions()
			s.checkTips(all, now)
			if n%levelEvery == 0 {
				s.pushLevels(all, now)
			}
		}
	}
}

// liveSessions are the sessions with a participant.
func (s *Server) liveSessions() []*session {
	s.mu.Lock()
	all := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		all = append(all, ss)
	}
	s.mu.Unlock()
	out := all[:0]
	for _, ss := range all {
		ss.mu.Lock()
		ok := ss.part != nil && !ss.ended
		ss.mu.Unlock()
		if ok {
			out = append(out, ss)
		}
	}
	return out
}

// checkTips sends network-tip when a participant's tip changes: to the
// room's agents and to the participant itself (its SDK may go audio-only).
func (s *Server) checkTips(all []*session, now time.Time) {
	th := s.opts.Quality.Thresholds
	for _, ss := range all {
		st := ss.q.pings.Stats(now)
		tip := quality.TipFor(st, th)
		ss.q.mu.Lock()
		ss.q.ping = st
		changed := tip != ss.q.tip || (!ss.q.tipSent && tip != quality.TipNone)
		ss.q.tip, ss.q.tipSent = tip, true
		ss.q.mu.Unlock()
		if !changed {
			continue
		}
		claims := ss.currentClaims()
		lost, cont := st.LostRate, st.ContinueLost
		tipText := string(tip)
		m := Message{Type: TypeNetworkTip, UID: claims.UID, Tag: claims.Tag, Tip: &tipText, Message: tip.Message(),
			LostRate: &lost, ContinueLostCount: &cont}
		b := encode(m)
		ss.sendBytes(b)
		for _, o := range all {
			if o != ss {
				if oc := o.currentClaims(); oc.Room == claims.Room && oc.Has(GrantClaimTools) {
					o.sendBytes(b)
				}
			}
		}
		ss.log.Info("network tip", "tip", tipText, "lostRate", lost, "continueLost", cont)
	}
}

// pushLevels computes every participant's levels and sends each its own and
// those of the others in its room.
func (s *Server) pushLevels(all []*session, now time.Time) {
	th := s.opts.Quality.Thresholds
	byRoom := map[string]map[string]LinkLevels{}
	own := make(map[*session]LinkLevels, len(all))
	for _, ss := range all {
		ss.mu.Lock()
		part := ss.part
		ss.mu.Unlock()
		up, down := s.links(ss, part)
		ss.q.mu.Lock()
		in := quality.Inputs{Ping: ss.q.ping, Up: up, Down: down}
		ul, dl := quality.Levels(in, th)
		ss.q.levels = LinkLevels{Uplink: int(ul), Downlink: int(dl)}
		ss.q.up, ss.q.down = up, down
		lv := ss.q.levels
		ss.q.mu.Unlock()
		if s.opts.Metrics != nil {
			if in.Ping.RTTAvg > 0 {
				s.opts.Metrics.ObserveRTT("ping", in.Ping.RTTAvg)
			}
			if down.RTT > 0 {
				s.opts.Metrics.ObserveRTT("rtcp", down.RTT)
			}
		}
		room := part.Room().ID()
		if s.opts.QualitySink != nil && lv.Uplink > 0 {
			s.opts.QualitySink.NoteQuality(room, part.UID(), lv.Uplink, lv.Downlink, max(in.Ping.LostRate, up.Loss(), 0))
		}
		if byRoom[room] == nil {
			byRoom[room] = map[string]LinkLevels{}
		}
		// Others see the hosts' levels (the people they watch and talk to), as
		// Agora reports remote users; an audience of thousands does not make
		// every message thousands of entries long.
		if part.Info().Role == "host" {
			byRoom[room][part.UID()] = lv
		}
		own[ss] = lv
	}
	for _, ss := range all {
		ss.mu.Lock()
		part := ss.part
		ss.mu.Unlock()
		levels := byRoom[part.Room().ID()]
		mine := own[ss]
		remote := make(map[string]LinkLevels, len(levels))
		for uid, l := range levels {
			if uid != part.UID() {
				remote[uid] = l
			}
		}
		ss.send(Message{Type: TypeNetworkQuality, Uplink: &mine.Uplink, Downlink: &mine.Downlink, Remote: remote})
	}
}

// links turns the participant's media counters into the last window's
// uplink and downlink measurements.
func (s *Server) links(ss *session, part *sfu.Participant) (up, down quality.Link) {
	var cur linkSample
	for _, t := range part.UpTracks() {
		st := t.Stats()
		cur.upLost += int64(st.Lost)
		cur.upExpected += int64(st.Packets) - int64(st.Recovered) + int64(st.Lost)
		up.Jitter = max(up.Jitter, st.Jitter)
	}
	var rtts int
	var rttSum time.Duration
	for _, d := range part.DownTrackStats() {
		cur.downLost += d.Report.Lost
		cur.downExpected += d.Report.Expected
		down.Jitter = max(down.Jitter, d.Report.Jitter)
		if d.Report.RTT > 0 {
			rttSum += d.Report.RTT
			rtts++
		}
	}
	if rtts > 0 {
		down.RTT = rttSum / time.Duration(rtts)
	}
	ss.q.mu.Lock()
	defer ss.q.mu.Unlock()
	// Tracks that ended take their counts with them: a total that went
	// down starts the window again.
	if n := len(ss.q.samples); n > 0 {
		last := ss.q.samples[n-1]
		if cur.upExpected < last.upExpected || cur.downExpected < last.downExpected || cur.downLost < last.downLost {
			ss.q.samples = ss.q.samples[:0]
		}
	}
	ss.q.samples = append(ss.q.samples, cur)
	if len(ss.q.samples) > mediaWin+1 {
		ss.q.samples = ss.q.samples[1:]
	}
	first := ss.q.samples[0]
	up.Expected, up.Lost = cur.upExpected-first.upExpected, cur.upLost-first.upLost
	down.Expected, down.Lost = cur.downExpected-first.downExpected, cur.downLost-first.downLost
	return up, down
}
