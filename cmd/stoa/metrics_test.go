package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/stoa-video/stoa/signaling/client"
)

// scrapeMetrics GETs url, with key as a bearer token when set, and parses
// the text exposition when the answer is 200.
func scrapeMetrics(t *testing.T, url, key string) (int, map[string]*dto.MetricFamily) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return res.StatusCode, nil
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return res.StatusCode, fams
}

// metricValue is the value of family name's series with exactly the given
// label pairs (a gauge or a counter); ok is false when there is none.
func metricValue(fams map[string]*dto.MetricFamily, name string, labels ...string) (v float64, ok bool) {
	for _, m := range fams[name].GetMetric() {
		if len(m.Label) != len(labels)/2 {
			continue
		}
		match := true
		for i, l := range m.Label {
			match = match && l.GetName() == labels[2*i] && l.GetValue() == labels[2*i+1]
		}
		if !match {
			continue
		}
		if m.Counter != nil {
			return m.Counter.GetValue(), true
		}
		return m.Gauge.GetValue(), true
	}
	return 0, false
}

// waitMetrics scrapes until ready says the metrics show what the test waits
// for, and returns them. The deadline is one only a defect trips.
func waitMetrics(t *testing.T, url, key, what string, ready func(map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
	t.Helper()
	var fams map[string]*dto.MetricFamily
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var status int
		if status, fams = scrapeMetrics(t, url, key); status != http.StatusOK {
			t.Fatalf("scrape %s: %d", url, status)
		}
		if ready(fams) {
			return fams
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never showed %s", what)
		}
	}
}

// /metrics on the main listener needs the operator key; with it, the
// counters move as a customer publishes and an agent watches, the gauges
// count them, and no label carries their uids, their room or a credential.
func TestMetricsBehindOperatorKey(t *testing.T) {
	needMediaTools(t)
	frames := vp8Clip(t)
	p := startStoa(t, false, operatorArgs()...)
	url := p.base + "/metrics"
	agentToken := p.mint("R", "agent", "agent")
	for _, tc := range []struct{ name, key string }{
		{"no key", ""},
		{"an unknown key", "not-the-operator-key"},
		{"a participant's token", agentToken},
	} {
		if status, _ := scrapeMetrics(t, url, tc.key); status != http.StatusUnauthorized {
			t.Errorf("/metrics with %s: %d, want 401", tc.name, status)
		}
	}
	status, fams := scrapeMetrics(t, url, testAPIKey)
	if status != http.StatusOK {
		t.Fatalf("/metrics with the operator key: %d", status)
	}
	for _, name := range []string{"stoa_rooms", "stoa_packets_in_total", "stoa_websocket_sessions", "go_goroutines", "process_cpu_seconds_total"} {
		if fams[name] == nil {
			t.Errorf("%s is missing before any call", name)
		}
	}

	publishCustomer(t, p, frames) // room R, uid cust, recorded by the default policy
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	agent := watchCustomer(ctx, t, p, agentToken, nil)
	defer agent.Close()

	get := func(fams map[string]*dto.MetricFamily, name string) float64 {
		v, _ := metricValue(fams, name)
		return v
	}
	fams = waitMetrics(t, url, testAPIKey, "media flowing both ways and the recording", func(f map[string]*dto.MetricFamily) bool {
		return get(f, "stoa_packets_in_total") > 0 && get(f, "stoa_packets_out_total") > 0 && get(f, "stoa_recordings_active") == 1
	})
	gauges := []struct {
		name string
		want float64
	}{
		{"stoa_rooms", 1},
		{"stoa_participants", 2},
		{"stoa_up_tracks", 1},
		{"stoa_websocket_sessions", 2},
		{"stoa_recordings_active", 1},
	}
	for _, g := range gauges {
		if v, ok := metricValue(fams, g.name); !ok || v != g.want {
			t.Errorf("%s = %v (present %v), want %v", g.name, v, ok, g.want)
		}
	}
	if get(fams, "stoa_down_tracks") < 1 {
		t.Errorf("stoa_down_tracks = %v with a subscriber", get(fams, "stoa_down_tracks"))
	}
	in, out := get(fams, "stoa_packets_in_total"), get(fams, "stoa_packets_out_total")
	if bytes := get(fams, "stoa_bytes_in_total"); bytes < 12*in {
		t.Errorf("%v bytes in for %v packets: less than an RTP header each", bytes, in)
	}
	waitMetrics(t, url, testAPIKey, "the packet counters moving", func(f map[string]*dto.MetricFamily) bool {
		return get(f, "stoa_packets_in_total") > in && get(f, "stoa_packets_out_total") > out
	})
	t.Logf("%v packets in, %v out at the first look", in, out)

	forbidden := []string{"cust", "agent", "R"}
	secrets := []string{agentToken, testAPIKey, testTokenSecret}
	for name, fam := range fams {
		for _, m := range fam.Metric {
			for _, l := range m.Label {
				switch l.GetName() {
				case "uid", "room", "token":
					t.Errorf("%s has a %s label", name, l.GetName())
				}
				for _, s := range forbidden {
					if l.GetValue() == s {
						t.Errorf("%s has label %s=%q: a uid or room name", name, l.GetName(), l.GetValue())
					}
				}
				for _, s := range secrets {
					if strings.Contains(l.GetValue(), s) {
						t.Errorf("%s has a credential in label %s", name, l.GetName())
					}
				}
			}
		}
	}
}

// With metrics.listen, /metrics is served on that address without a key
// and not on the main listener; metrics.room_labels adds per-room series.
func TestMetricsOnTheirOwnAddress(t *testing.T) {
	metricsAddr := freeAddr(t)
	p := startStoa(t, false, append(operatorArgs(), "--metrics-listen", metricsAddr, "--metrics-room-labels")...)
	if status, _ := scrapeMetrics(t, p.base+"/metrics", testAPIKey); status != http.StatusNotFound {
		t.Errorf("/metrics on the main listener with metrics.listen set: %d, want 404", status)
	}
	url := "http://" + metricsAddr + "/metrics"
	status, fams := scrapeMetrics(t, url, "")
	if status != http.StatusOK || fams["stoa_rooms"] == nil || fams["go_goroutines"] == nil {
		t.Fatalf("/metrics on metrics.listen without a key: %d, %d families", status, len(fams))
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{URL: p.wsURL(), Token: p.mint("claim-7", "u1", "agent"), API: loopbackAPI(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fams = waitMetrics(t, url, "", "the joined room", func(f map[string]*dto.MetricFamily) bool {
		v, ok := metricValue(f, "stoa_room_participants", "room", "claim-7")
		return ok && v == 1
	})
	if _, ok := metricValue(fams, "stoa_room_packets_in_total", "room", "claim-7"); !ok {
		t.Error("no stoa_room_packets_in_total for the room")
	}
	if v, _ := metricValue(fams, "stoa_rooms"); v != 1 {
		t.Errorf("stoa_rooms = %v beside the per-room series, want 1", v)
	}
}
