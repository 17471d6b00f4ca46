package signaling

import (
	"sort"
	"time"

	"github.com/stoa-video/stoa/quality"
	"github.com/stoa-video/stoa/sfu"
)

// ParticipantStats is one participant's network quality and media counters,
// as GET /api/rooms/{room}/stats returns them for the console.
type ParticipantStats struct {
	UID  string `json:"uid"`
	Tag  string `json:"tag,omitempty"`
	Role string `json:"role"`
	// Levels are the last network-quality levels (0–6).
	Levels LinkLevels `json:"levels"`
	// Tip is the current network tip ("" none) and its words.
	Tip        string `json:"tip"`
	TipMessage string `json:"tipMessage,omitempty"`
	// Ping is the participant's pings over the window.
	Ping PingSummary `json:"ping"`
	// Uplink and Downlink are the media measured over the last 10 s.
	Uplink   LinkSummary `json:"uplink"`
	Downlink LinkSummary `json:"downlink"`
	// Published are the participant's up tracks; Received its down tracks.
	Published []sfu.Stats     `json:"published"`
	Received  []sfu.DownStats `json:"received"`
}

// PingSummary is quality.PingStats in JSON's units (ms).
type PingSummary struct {
	Expected          int     `json:"expected"`
	LostRate          float64 `json:"lostRate"`
	ContinueLostCount int     `json:"continueLostCount"`
	RTTMinMs          float64 `json:"rttMinMs"`
	RTTAvgMs          float64 `json:"rttAvgMs"`
	RTTMaxMs          float64 `json:"rttMaxMs"`
	JitterMs          float64 `json:"jitterMs"`
}

// LinkSummary is quality.Link in JSON's units; LossRate is -1 when too few
// packets flowed to say.
type LinkSummary struct {
	Expected int64   `json:"expected"`
	Lost     int64   `json:"lost"`
	LossRate float64 `json:"lossRate"`
	RTTMs    float64 `json:"rttMs"`
	JitterMs float64 `json:"jitterMs"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func linkSummary(l quality.Link) LinkSummary {
	return LinkSummary{Expected: l.Expected, Lost: l.Lost, LossRate: l.Loss(), RTTMs: ms(l.RTT), JitterMs: ms(l.Jitter)}
}

// RoomStats returns the network quality and counters of every participant
// of room, sorted by uid; false if the room has nobody connected.
func (s *Server) RoomStats(room string) ([]ParticipantStats, bool) {
	var out []ParticipantStats
	for _, ss := range s.liveSessions() {
		ss.mu.Lock()
		part := ss.part
		ss.mu.Unlock()
		if part.Room().ID() != room {
			continue
		}
		info := part.Info()
		ss.q.mu.Lock()
		p := ss.q.ping
		st := ParticipantStats{UID: info.UID, Tag: info.Tag, Role: info.Role, Levels: ss.q.levels,
			Tip: string(ss.q.tip), TipMessage: ss.q.tip.Message(),
			Ping: PingSummary{Expected: p.Expected, LostRate: p.LostRate, ContinueLostCount: p.ContinueLost,
				RTTMinMs: ms(p.RTTMin), RTTAvgMs: ms(p.RTTAvg), RTTMaxMs: ms(p.RTTMax), JitterMs: ms(p.Jitter)},
			Uplink: linkSummary(ss.q.up), Downlink: linkSummary(ss.q.down)}
		ss.q.mu.Unlock()
		for _, t := range part.UpTracks() {
			st.Published = append(st.Published, t.Stats())
		}
		st.Received = part.DownTrackStats()
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UID < out[j].UID })
	return out, len(out) > 0
}
