package metrics

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/stoa-video/stoa/sfu"
)

// fakeSources are Sources whose values a test sets between scrapes.
type fakeSources struct {
	mu         sync.Mutex
	counters   sfu.Counters
	gauges     sfu.Gauges
	rooms      []sfu.RoomCounters
	sessions   int
	recordings int
}

func (f *fakeSources) set(fn func(f *fakeSources)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeSources) sources() Sources {
	return Sources{
		Media: func() (sfu.Counters, sfu.Gauges) {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.counters, f.gauges
		},
		Rooms: func() []sfu.RoomCounters {
			f.mu.Lock()
			defer f.mu.Unlock()
			return append([]sfu.RoomCounters(nil), f.rooms...)
		},
		Sessions:   func() int { f.mu.Lock(); defer f.mu.Unlock(); return f.sessions },
		Recordings: func() int { f.mu.Lock(); defer f.mu.Unlock(); return f.recordings },
	}
}

// scrape GETs /metrics from h and parses the text format.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body.String())
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse the exposition: %v", err)
	}
	return fams
}

// value is the value of the series of family name with the given label
// pairs; ok is false when there is none.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (v float64, ok bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.Metric {
		if !hasLabels(m, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func hasLabels(m *dto.Metric, pairs []string) bool {
	if len(m.Label) != len(pairs)/2 {
		return false
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		found := false
		for _, l := range m.Label {
			found = found || (l.GetName() == pairs[i] && l.GetValue() == pairs[i+1])
		}
		if !found {
			return false
		}
	}
	return true
}

// counterValues names every media counter as the docs list it.
func counterValues(c sfu.Counters) map[string]uint64 {
	return map[string]uint64{
		"stoa_packets_in_total":           c.PacketsIn,
		"stoa_bytes_in_total":             c.BytesIn,
		"stoa_packets_lost_in_total":      c.LostIn,
		"stoa_packets_recovered_in_total": c.RecoveredIn,
		"stoa_packets_out_total":          c.PacketsOut,
		"stoa_bytes_out_total":            c.BytesOut,
		"stoa_packets_dropped_out_total":  c.DroppedOut,
		"stoa_nacks_total":                c.NACKs,
		"stoa_retransmits_total":          c.Retransmits,
		"stoa_plis_total":                 c.PLIs,
		"stoa_keyframe_requests_total":    c.KeyframeRequests,
	}
}

// counters makes Counters whose fields are distinct: base+1, base+2, ...
func counters(base uint64) sfu.Counters {
	return sfu.Counters{PacketsIn: base + 1, BytesIn: base + 2, LostIn: base + 3, RecoveredIn: base + 4,
		PacketsOut: base + 5, BytesOut: base + 6, DroppedOut: base + 7, NACKs: base + 8, Retransmits: base + 9,
		PLIs: base + 10, KeyframeRequests: base + 11}
}

// The media counters are what the source says, except that a dip (a track
// ending during the SFU's count) never shows: each stays at its highest.
func TestCountersAreMonotone(t *testing.T) {
	f := &fakeSources{}
	h := New(f.sources(), Options{}).Handler()
	dipIn := counters(1000)
	dipIn.PacketsIn, dipIn.NACKs = 500, 2000 // one counter dips, another grows
	wantAfterDip := counters(1000)
	wantAfterDip.NACKs = 2000
	steps := []struct {
		name     string
		in, want sfu.Counters
	}{
		{"zero", sfu.Counters{}, sfu.Counters{}},
		{"first values", counters(1000), counters(1000)},
		{"one dips, one grows", dipIn, wantAfterDip},
		{"all dip", counters(10), wantAfterDip},
		{"all grow past", counters(5000), counters(5000)},
	}
	for _, s := range steps {
		f.set(func(f *fakeSources) { f.counters = s.in })
		fams := scrape(t, h)
		for name, want := range counterValues(s.want) {
			got, ok := value(fams, name)
			if !ok || got != float64(want) {
				t.Errorf("%s: %s = %v (present %v), want %d", s.name, name, got, ok, want)
			}
			if typ := fams[name].GetType(); typ != dto.MetricType_COUNTER {
				t.Errorf("%s is a %v, want a counter", name, typ)
			}
		}
	}
}

// Gauges follow the sources both ways.
func TestGauges(t *testing.T) {
	f := &fakeSources{}
	h := New(f.sources(), Options{}).Handler()
	for _, g := range []struct {
		media              sfu.Gauges
		sessions, recorded int
	}{
		{sfu.Gauges{Rooms: 3, Participants: 7, UpTracks: 5, DownTracks: 11}, 9, 2},
		{sfu.Gauges{Rooms: 1, Participants: 2, UpTracks: 1, DownTracks: 1}, 2, 0},
	} {
		f.set(func(f *fakeSources) { f.gauges, f.sessions, f.recordings = g.media, g.sessions, g.recorded })
		fams := scrape(t, h)
		for name, want := range map[string]int{
			"stoa_rooms": g.media.Rooms, "stoa_participants": g.media.Participants,
			"stoa_up_tracks": g.media.UpTracks, "stoa_down_tracks": g.media.DownTracks,
			"stoa_websocket_sessions": g.sessions, "stoa_recordings_active": g.recorded,
		} {
			if got, ok := value(fams, name); !ok || got != float64(want) || fams[name].GetType() != dto.MetricType_GAUGE {
				t.Errorf("%s = %v (present %v, %v), want gauge %d", name, got, ok, fams[name].GetType(), want)
			}
		}
	}
}

// Room names are labels only when the operator opts in; per-room counters
// stay monotone when a track of the room ends, and a closed room's series go.
func TestRoomLabels(t *testing.T) {
	const room = "claim-4711-mrs-jones"
	f := &fakeSources{}
	f.set(func(f *fakeSources) {
		f.counters, f.gauges = counters(100), sfu.Gauges{Rooms: 1, Participants: 2, UpTracks: 2, DownTracks: 2}
		f.rooms = []sfu.RoomCounters{{Room: room, Gauges: sfu.Gauges{Rooms: 1, Participants: 2, UpTracks: 2, DownTracks: 2},
			Counters: sfu.Counters{PacketsIn: 100, PacketsOut: 90}}}
	})

	off := scrape(t, New(f.sources(), Options{}).Handler())
	for name, fam := range off {
		if strings.HasPrefix(name, "stoa_room_") {
			t.Errorf("room labels off, yet %s is exported", name)
		}
		for _, m := range fam.Metric {
			for _, l := range m.Label {
				if strings.Contains(l.GetValue(), room) || l.GetName() == "room" {
					t.Errorf("room labels off, yet %s has label %s=%q", name, l.GetName(), l.GetValue())
				}
			}
		}
	}

	h := New(f.sources(), Options{RoomLabels: true}).Handler()
	steps := []struct {
		name           string
		in             sfu.Counters
		participants   int
		wantIn, wantOu float64
	}{
		{"first scrape", sfu.Counters{PacketsIn: 100, PacketsOut: 90}, 2, 100, 90},
		{"grows", sfu.Counters{PacketsIn: 150, PacketsOut: 140}, 2, 150, 140},
		// A publisher left: its 120 packets are gone from the room's live
		// counters; the export holds, then grows with the rest.
		{"a track ended", sfu.Counters{PacketsIn: 30, PacketsOut: 20}, 1, 150, 140},
		{"grows again", sfu.Counters{PacketsIn: 40, PacketsOut: 35}, 1, 160, 155},
	}
	for _, s := range steps {
		f.set(func(f *fakeSources) {
			f.rooms[0].Counters, f.rooms[0].Participants = s.in, s.participants
		})
		fams := scrape(t, h)
		in, okIn := value(fams, "stoa_room_packets_in_total", "room", room)
		out, okOut := value(fams, "stoa_room_packets_out_total", "room", room)
		parts, okP := value(fams, "stoa_room_participants", "room", room)
		if !okIn || !okOut || !okP || in != s.wantIn || out != s.wantOu || parts != float64(s.participants) {
			t.Errorf("%s: room packets in %v (%v), out %v (%v), participants %v (%v); want %v, %v, %d",
				s.name, in, okIn, out, okOut, parts, okP, s.wantIn, s.wantOu, s.participants)
		}
		if _, ok := value(fams, "stoa_packets_in_total"); !ok {
			t.Errorf("%s: the server's total is missing beside the rooms'", s.name)
		}
	}

	f.set(func(f *fakeSources) { f.rooms = nil })
	if fams := scrape(t, h); fams["stoa_room_packets_in_total"] != nil {
		t.Errorf("a closed room's series stay: %v", fams["stoa_room_packets_in_total"])
	}
}

// Error codes beyond the cap, and strings that are not codes (a token, a
// message), are counted as "other": the label set stays bounded and clean.
func TestErrorCodesAreBounded(t *testing.T) {
	m := New(Sources{}, Options{})
	for i := range MaxErrorCodes + 6 {
		m.CountError(fmt.Sprintf("code_%02d", i))
	}
	m.CountError("code_00") // known before the cap: keeps its label
	const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJ1aWQiOiJjdXN0In0.sig"
	for _, bad := range []string{"", "Bad Code", jwt, "user 42 not found", strings.Repeat("a", 33), "other"} {
		m.CountError(bad)
	}
	fams := scrape(t, m.Handler())
	tests := []struct {
		code string
		want float64
	}{
		{"code_00", 2},
		{"code_63", 1},
		{"other", 6 + 6}, // six over the cap, six not codes
	}
	for _, tc := range tests {
		if got, ok := value(fams, "stoa_errors_total", "code", tc.code); !ok || got != tc.want {
			t.Errorf("stoa_errors_total{code=%q} = %v (present %v), want %v", tc.code, got, ok, tc.want)
		}
	}
	if _, ok := value(fams, "stoa_errors_total", "code", "code_64"); ok {
		t.Error("code_64 got a label past the cap")
	}
	if n := len(fams["stoa_errors_total"].GetMetric()); n != MaxErrorCodes+1 {
		t.Errorf("%d code labels, want %d and other", n, MaxErrorCodes)
	}
}

// RTTs land in the histogram by path; unknown paths count as other and
// negative durations are dropped.
func TestObserveRTT(t *testing.T) {
	m := New(Sources{}, Options{})
	for _, d := range []time.Duration{4 * time.Millisecond, 180 * time.Millisecond, 210 * time.Millisecond, 3 * time.Second} {
		m.ObserveRTT("ping", d)
	}
	m.ObserveRTT("rtcp", 40*time.Millisecond)
	m.ObserveRTT("uid-42", 40*time.Millisecond)
	m.ObserveRTT("ping", -time.Second)
	fams := scrape(t, m.Handler())
	f := fams["stoa_rtt_seconds"]
	if f.GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("stoa_rtt_seconds is %v", f.GetType())
	}
	hist := map[string]*dto.Histogram{}
	for _, s := range f.Metric {
		hist[s.Label[0].GetValue()] = s.Histogram
	}
	tests := []struct {
		path  string
		count uint64
		sum   float64
		le    float64 // a bucket bound
		under uint64  // observations ≤ le
	}{
		{"ping", 4, 3.394, 0.2, 2},
		{"ping", 4, 3.394, 0.005, 1},
		{"rtcp", 1, 0.04, 0.05, 1},
		{"other", 1, 0.04, 0.025, 0},
	}
	for _, tc := range tests {
		h := hist[tc.path]
		if h == nil {
			t.Errorf("no series for path %s (have %v)", tc.path, hist)
			continue
		}
		if h.GetSampleCount() != tc.count || fmt.Sprintf("%.3f", h.GetSampleSum()) != fmt.Sprintf("%.3f", tc.sum) {
			t.Errorf("%s: count %d sum %v, want %d %v", tc.path, h.GetSampleCount(), h.GetSampleSum(), tc.count, tc.sum)
		}
		found := false
		for _, b := range h.Bucket {
			if b.GetUpperBound() == tc.le {
				found = true
				if b.GetCumulativeCount() != tc.under {
					t.Errorf("%s: %d under %v s, want %d", tc.path, b.GetCumulativeCount(), tc.le, tc.under)
				}
			}
		}
		if !found {
			t.Errorf("%s: no bucket at %v s", tc.path, tc.le)
		}
	}
	if len(hist) != 3 {
		t.Errorf("paths %v, want ping, rtcp and other", hist)
	}
}

// The Go runtime and process collectors are there; a nil Metrics takes
// observations without panicking; scrapes and counts may race.
func TestRuntimeNilAndConcurrency(t *testing.T) {
	var none *Metrics
	none.ObserveRTT("ping", time.Millisecond)
	none.CountError("bad_json")

	f := &fakeSources{}
	m := New(f.sources(), Options{RoomLabels: true})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				m.CountError(fmt.Sprintf("code_%d_%d", g, i))
				m.ObserveRTT("ping", time.Duration(i)*time.Millisecond)
				f.set(func(f *fakeSources) {
					f.counters.PacketsIn++
					f.rooms = []sfu.RoomCounters{{Room: "r", Counters: f.counters}}
				})
			}
		}()
	}
	for range 5 {
		scrape(t, m.Handler())
	}
	wg.Wait()
	fams := scrape(t, m.Handler())
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if fams[name] == nil {
			t.Errorf("%s is missing", name)
		}
	}
	if v, _ := value(fams, "stoa_packets_in_total"); v != 200 {
		t.Errorf("stoa_packets_in_total = %v after 200 increments", v)
	}
	if v, _ := value(fams, "stoa_room_packets_in_total", "room", "r"); v != 200 {
		t.Errorf("stoa_room_packets_in_total = %v after 200 increments", v)
	}
	var codes float64
	for _, s := range fams["stoa_errors_total"].GetMetric() {
		codes += s.Counter.GetValue()
	}
	if codes != 200 || len(fams["stoa_errors_total"].GetMetric()) != MaxErrorCodes+1 {
		t.Errorf("%v errors in %d series, want 200 in %d", codes, len(fams["stoa_errors_total"].GetMetric()), MaxErrorCodes+1)
	}
}
