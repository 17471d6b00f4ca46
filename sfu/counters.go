package sfu

import (
	"sync"
)

// Counters are cumulative media counters of the whole server, for an
// operator's metrics: they only grow, across tracks and rooms that end.
type Counters struct {
	// PacketsIn and BytesIn count what publishers sent (RTP payload and header).
	PacketsIn, BytesIn uint64
	// LostIn counts publishers' sequence numbers that never arrived in order
	// (before NACK recovery); RecoveredIn those of them that arrived late.
	LostIn, RecoveredIn uint64
	// PacketsOut and BytesOut count what subscribers were sent (payload bytes).
	PacketsOut, BytesOut uint64
	// DroppedOut counts packets a slow consumer's queue had no room for.
	DroppedOut uint64
	// NACKs counts packets subscribers asked for again; Retransmits those sent.
	NACKs, Retransmits uint64
	// PLIs counts keyframe requests (PLI/FIR) from subscribers;
	// KeyframeRequests the PLIs sent to publishers after coalescing.
	PLIs, KeyframeRequests uint64
}

// Gauges are how many of each thing the server holds now.
type Gauges struct {
	Rooms, Participants, UpTracks, DownTracks int
}

// RoomCounters are one room's gauges and the counters of its live tracks
// (not monotone: they go when a track ends), for operators who opt in to
// per-room metrics.
type RoomCounters struct {
	Room string
	Gauges
	Counters
}

func (c *Counters) addUp(s Stats) {
	c.PacketsIn += s.Packets
	c.BytesIn += s.Bytes
	c.LostIn += s.Lost
	c.RecoveredIn += s.Recovered
	c.KeyframeRequests += s.PLIs
}

func (c *Counters) addDown(s DownStats) {
	c.PacketsOut += s.Packets
	c.BytesOut += s.Bytes
	c.DroppedOut += s.Dropped
	c.NACKs += s.NACKs
	c.Retransmits += s.Retransmits
	c.PLIs += s.PLIs
}

func (c *Counters) add(o Counters) {
	c.PacketsIn += o.PacketsIn
	c.BytesIn += o.BytesIn
	c.LostIn += o.LostIn
	c.RecoveredIn += o.RecoveredIn
	c.PacketsOut += o.PacketsOut
	c.BytesOut += o.BytesOut
	c.DroppedOut += o.DroppedOut
	c.NACKs += o.NACKs
	c.Retransmits += o.Retransmits
	c.PLIs += o.PLIs
	c.KeyframeRequests += o.KeyframeRequests
}

// retired holds the counters of tracks that ended, so the server's totals
// keep them.
type retired struct {
	mu sync.Mutex
	c  Counters
}

func (r *retired) upTracks(ts []*LocalUpTrack) {
	var c Counters
	for _, t := range ts {
		c.addUp(t.Stats())
	}
	r.mu.Lock()
	r.c.add(c)
	r.mu.Unlock()
}

func (r *retired) downTracks(ds []*RTPDownTrack) {
	var c Counters
	for _, d := range ds {
		c.addDown(d.Stats())
	}
	r.mu.Lock()
	r.c.add(c)
	r.mu.Unlock()
}

func (r *retired) get() Counters {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.c
}

// counters adds the participant's live tracks to c and g.
func (p *Participant) counters(c *Counters, g *Gauges) {
	p.mu.Lock()
	defer p.mu.Unlock()
	g.Participants++
	if p.pub != nil {
		for _, t := range p.pub.tracks {
			c.addUp(t.Stats())
			g.UpTracks++
		}
	}
	for _, s := range p.subs {
		for _, d := range s.downs {
			c.addDown(d.Stats())
			g.DownTracks++
		}
	}
}

// RoomCounters returns every room's gauges and live counters.
func (s *SFU) RoomCounters() []RoomCounters {
	s.mu.Lock()
	rooms := make([]*Room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	out := make([]RoomCounters, 0, len(rooms))
	for _, r := range rooms {
		rc := RoomCounters{Room: r.id, Gauges: Gauges{Rooms: 1}}
		for _, p := range r.Participants() {
			p.counters(&rc.Counters, &rc.Gauges)
		}
		out = append(out, rc)
	}
	return out
}

// Counters returns the server's cumulative counters and current gauges. A
// track that ends between two calls may be counted twice by the one that
// races it; a metrics collector keeps its counters monotone.
func (s *SFU) Counters() (Counters, Gauges) {
	c := s.retired.get()
	var g Gauges
	for _, rc := range s.RoomCounters() {
		c.add(rc.Counters)
		g.Rooms++
		g.Participants += rc.Participants
		g.UpTracks += rc.UpTracks
		g.DownTracks += rc.DownTracks
	}
	return c, g
}
