// Package metrics exposes the server to an operator's Prometheus: the media
// core's counters and gauges, websocket sessions, active recordings, an RTT
// histogram, protocol errors by code, and the Go runtime and process.
//
// Values are read from their owners at scrape time (Sources), so the packet
// path pays nothing for them. No label carries a uid, a token or a secret;
// room names appear only when the operator opts in (Options.RoomLabels).
package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stoa-video/stoa/sfu"
)

// Sources are the functions the metrics read at scrape time. A nil source
// leaves its metrics out.
type Sources struct {
	// Media gives the server's cumulative media counters and current
	// gauges: (*sfu.SFU).Counters.
	Media func() (sfu.Counters, sfu.Gauges)
	// Rooms gives every room's gauges and live counters:
	// (*sfu.SFU).RoomCounters. Read only when Options.RoomLabels is set.
	Rooms func() []sfu.RoomCounters
	// Sessions gives the websocket sessions held, connected or within
	// their grace window: (*signaling.Server).Sessions.
	Sessions func() int
	// Recordings gives the recordings running now:
	// (*recorder.Service).Active.
	Recordings func() int
}

// Options choose what the metrics reveal.
type Options struct {
	// RoomLabels adds per-room series (stoa_room_*) labelled with the room
	// name. Off by default: room names can name a customer or a claim, and
	// each room adds series.
	RoomLabels bool
}

// MaxErrorCodes bounds the distinct code labels of stoa_errors_total; codes
// beyond it, and strings that do not look like a protocol error code, are
// counted as "other", so a bug or a hostile client cannot grow the series
// without bound.
const MaxErrorCodes = 64

// otherLabel is the label value that unknown or excess labels fold into.
const otherLabel = "other"

// rttBuckets span a LAN ping (5 ms) to a link that is barely there (5 s),
// finest where the network-quality levels change (50–400 ms).
var rttBuckets = []float64{.005, .01, .025, .05, .075, .1, .15, .2, .3, .4, .5, .75, 1, 2, 5}

// rttPaths are the measurements ObserveRTT accepts as labels.
var rttPaths = map[string]bool{"ping": true, "rtcp": true}

// Metrics is the server's Prometheus registry and the instruments other
// packages feed. A nil *Metrics accepts observations and drops them, so
// callers need not check whether metrics are on.
type Metrics struct {
	reg    *prometheus.Registry
	rtt    *prometheus.HistogramVec
	errors *prometheus.CounterVec

	mu    sync.Mutex
	codes map[string]bool // error codes given their own label so far
}

// New builds the metrics of src in a registry of their own (not Prometheus's
// global one), with the Go runtime and process collectors.
func New(src Sources, o Options) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		rtt: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "stoa_rtt_seconds",
			Help:    "Round-trip times measured to clients: path=ping (each participant's ping average, on the stoa-ping data channel or the websocket, every 2 s), path=rtcp from receiver reports (LSR/DLSR).",
			Buckets: rttBuckets,
		}, []string{"path"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stoa_errors_total",
			Help: "Protocol errors sent to clients, by their stable code (docs/signaling.md); codes beyond the first 64 count as other.",
		}, []string{"code"}),
		codes: map[string]bool{},
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newServerCollector(src, o),
		m.rtt,
		m.errors,
	)
	return m
}

// Handler serves the registry in the Prometheus exposition formats. It
// checks no credentials: the caller mounts it behind the operator key or on
// an address of its own.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, ErrorHandling: promhttp.ContinueOnError})
}

// ObserveRTT records one round-trip time measured on path, "ping" or
// "rtcp" (any other path is recorded as "other"). Negative durations, which
// a clock step can make, are dropped.
func (m *Metrics) ObserveRTT(path string, d time.Duration) {
	if m == nil || d < 0 {
		return
	}
	if !rttPaths[path] {
		path = otherLabel
	}
	m.rtt.WithLabelValues(path).Observe(d.Seconds())
}

// CountError counts one protocol error sent to a client, by its short
// stable code ("bad_json"). The first MaxErrorCodes distinct codes get
// their own label, later ones and anything that is not a short code count as
// "other".
func (m *Metrics) CountError(code string) {
	if m == nil {
		return
	}
	m.errors.WithLabelValues(m.errorLabel(code)).Inc()
}

// errorLabel is the label value code is counted under.
func (m *Metrics) errorLabel(code string) string {
	if !isCode(code) || code == otherLabel {
		return otherLabel
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.codes[code] {
		return code
	}
	if len(m.codes) >= MaxErrorCodes {
		return otherLabel
	}
	m.codes[code] = true
	return code
}

// isCode reports whether s looks like a protocol error code: 1 to 32 lower
// case letters, digits and underscores. Anything else (a message, a uid
// pasted by mistake) must not become a label.
func isCode(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}
