package metrics

import (
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stoa-video/stoa/sfu"
)

// counterDef is one of the media core's cumulative counters.
type counterDef struct {
	name, help string
	get        func(*sfu.Counters) uint64
}

// mediaCounters are exported as stoa_NAME (the server) and, with room
// labels, stoa_room_NAME{room}.
var mediaCounters = []counterDef{
	{"packets_in_total", "RTP packets received from publishers.",
		func(c *sfu.Counters) uint64 { return c.PacketsIn }},
	{"bytes_in_total", "RTP bytes (header and payload) received from publishers.",
		func(c *sfu.Counters) uint64 { return c.BytesIn }},
	{"packets_lost_in_total", "Publishers' RTP packets missing when a later one arrived, before NACK recovery.",
		func(c *sfu.Counters) uint64 { return c.LostIn }},
	{"packets_recovered_in_total", "Of the packets lost in, those that arrived late (retransmitted or reordered).",
		func(c *sfu.Counters) uint64 { return c.RecoveredIn }},
	{"packets_out_total", "RTP packets sent to subscribers.",
		func(c *sfu.Counters) uint64 { return c.PacketsOut }},
	{"bytes_out_total", "RTP payload bytes sent to subscribers.",
		func(c *sfu.Counters) uint64 { return c.BytesOut }},
	{"packets_dropped_out_total", "Packets a slow subscriber's or consumer's queue had no room for.",
		func(c *sfu.Counters) uint64 { return c.DroppedOut }},
	{"nacks_total", "Packets subscribers asked for again (NACK).",
		func(c *sfu.Counters) uint64 { return c.NACKs }},
	{"retransmits_total", "Packets resent from the packet cache in answer to NACKs.",
		func(c *sfu.Counters) uint64 { return c.Retransmits }},
	{"plis_total", "Keyframe requests (PLI/FIR) from subscribers.",
		func(c *sfu.Counters) uint64 { return c.PLIs }},
	{"keyframe_requests_total", "Keyframe requests (PLI) sent to publishers, after coalescing.",
		func(c *sfu.Counters) uint64 { return c.KeyframeRequests }},
}

// gaugeDef is one of the media core's gauges.
type gaugeDef struct {
	name, help string
	get        func(*sfu.Gauges) int
	perRoom    bool // also exported as stoa_room_NAME{room}
}

var mediaGauges = []gaugeDef{
	{"rooms", "Rooms open.", func(g *sfu.Gauges) int { return g.Rooms }, false},
	{"participants", "Participants in rooms, live viewers included.", func(g *sfu.Gauges) int { return g.Participants }, true},
	{"up_tracks", "Tracks publishers send to the server (up tracks).", func(g *sfu.Gauges) int { return g.UpTracks }, true},
	{"down_tracks", "Tracks the server forwards to subscribers, recorders and other consumers (down tracks).",
		func(g *sfu.Gauges) int { return g.DownTracks }, true},
}

// serverCollector computes the media, session and recording metrics from
// Sources at scrape time.
type serverCollector struct {
	src        Sources
	roomLabels bool

	sessions, recordings *prometheus.Desc
	counters, gauges     []*prometheus.Desc // as mediaCounters, mediaGauges
	roomCounters         []*prometheus.Desc // as mediaCounters
	roomGauges           []*prometheus.Desc // as mediaGauges; nil where not perRoom

	mu    sync.Mutex            // serializes scrapes, so each sees the sources' values in order
	last  []uint64              // highest value exported so far for each mediaCounter
	rooms map[string]*roomState // by room name, for the rooms seen at the last scrape
}

// roomState keeps one room's counters monotone: the room's own counters
// lose an ended track's packets, so each scrape adds only their growth.
type roomState struct {
	raw   []uint64 // the room's counters at the last scrape
	total []uint64 // what has been exported
}

func newServerCollector(src Sources, o Options) *serverCollector {
	c := &serverCollector{src: src, roomLabels: o.RoomLabels, last: make([]uint64, len(mediaCounters)),
		rooms: map[string]*roomState{}}
	c.sessions = prometheus.NewDesc("stoa_websocket_sessions",
		"Websocket sessions the signaling server holds, connected or within their grace window.", nil, nil)
	c.recordings = prometheus.NewDesc("stoa_recordings_active", "Recordings running now.", nil, nil)
	room := []string{"room"}
	for _, d := range mediaCounters {
		c.counters = append(c.counters, prometheus.NewDesc("stoa_"+d.name, d.help, nil, nil))
		c.roomCounters = append(c.roomCounters, prometheus.NewDesc("stoa_room_"+d.name,
			strings.TrimSuffix(d.help, ".")+", of the room's live tracks.", room, nil))
	}
	for _, d := range mediaGauges {
		c.gauges = append(c.gauges, prometheus.NewDesc("stoa_"+d.name, d.help, nil, nil))
		var rd *prometheus.Desc
		if d.perRoom {
			rd = prometheus.NewDesc("stoa_room_"+d.name, strings.TrimSuffix(d.help, ".")+", in the room.", room, nil)
		}
		c.roomGauges = append(c.roomGauges, rd)
	}
	return c
}

// Describe sends every metric the collector may export.
func (c *serverCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.sessions
	ch <- c.recordings
	for _, d := range c.counters {
		ch <- d
	}
	for _, d := range c.gauges {
		ch <- d
	}
	if !c.roomLabels {
		return
	}
	for _, d := range c.roomCounters {
		ch <- d
	}
	for _, d := range c.roomGauges {
		if d != nil {
			ch <- d
		}
	}
}

// Collect reads the sources and sends their metrics.
func (c *serverCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.collect() {
		ch <- m
	}
}

// collect reads the sources under the lock and builds the metrics, so that
// two scrapes at once cannot export an older value after a newer one.
func (c *serverCollector) collect() []prometheus.Metric {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []prometheus.Metric
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		out = append(out, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...))
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		out = append(out, prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...))
	}
	if c.src.Sessions != nil {
		gauge(c.sessions, c.src.Sessions())
	}
	if c.src.Recordings != nil {
		gauge(c.recordings, c.src.Recordings())
	}
	if c.src.Media != nil {
		cur, g := c.src.Media()
		for i, d := range mediaCounters {
			// The SFU may count a track that ends during the call twice,
			// then once: never export the dip.
			c.last[i] = max(c.last[i], d.get(&cur))
			counter(c.counters[i], c.last[i])
		}
		for i, d := range mediaGauges {
			gauge(c.gauges[i], d.get(&g))
		}
	}
	if !c.roomLabels || c.src.Rooms == nil {
		return out
	}
	rooms := c.src.Rooms()
	seen := make(map[string]bool, len(rooms))
	for _, rc := range rooms {
		// Label values must be UTF-8; two names that only differ in invalid
		// bytes then share a label, and the second is left out.
		label := strings.ToValidUTF8(rc.Room, "\uFFFD")
		if seen[label] {
			continue
		}
		seen[label] = true
		st := c.rooms[label]
		if st == nil {
			st = &roomState{raw: make([]uint64, len(mediaCounters)), total: make([]uint64, len(mediaCounters))}
			c.rooms[label] = st
		}
		for i, d := range mediaCounters {
			// A value below the last one means a track ended; the growth of
			// the room's other tracks since the last scrape is lost with it.
			v := d.get(&rc.Counters)
			if v > st.raw[i] {
				st.total[i] += v - st.raw[i]
			}
			st.raw[i] = v
			counter(c.roomCounters[i], st.total[i], label)
		}
		for i, d := range mediaGauges {
			if c.roomGauges[i] != nil {
				gauge(c.roomGauges[i], d.get(&rc.Gauges), label)
			}
		}
	}
	// A room that closed loses its series; one that opens again under the
	// same name starts from zero, which Prometheus reads as a counter reset.
	for name := range c.rooms {
		if !seen[name] {
			delete(c.rooms, name)
		}
	}
	return out
}
