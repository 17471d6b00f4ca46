package loadtest

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"
)

// Result is what a run measured. Packets, loss and bitrate cover the
// measurement window only (which opens once every subscriber receives);
// join → first frame and keyframe wait cover each subscriber's join.
type Result struct {
	Server      string `json:"server"` // "stoa" or "galene"
	URL         string `json:"url"`
	Publishers  int    `json:"publishers"`
	Subscribers int    `json:"subscribers"`
	Clip        string `json:"clip"` // codecs and average bitrates of the clip

	Joined        int    `json:"joined"` // subscribers that joined and subscribed
	Failed        int    `json:"failed"`
	FirstError    string `json:"first_error,omitempty"`
	Subscriptions int    `json:"subscriptions"` // joined subscribers × publishers
	Receiving     int    `json:"receiving"`     // subscriptions that received packets in the window
	Keyframes     int    `json:"keyframes"`     // subscriptions that received a whole keyframe

	WindowSeconds float64 `json:"window_seconds"`
	Packets       uint64  `json:"packets"`     // received by all subscribers in the window, audio and video
	PacketRate    float64 `json:"packet_rate"` // Packets per second of window

	Stats Stats `json:"stats"`

	KeyframeRequests uint64 `json:"keyframe_requests"` // PLIs and FIRs the publishers received
	KeyframeJumps    uint64 `json:"keyframe_jumps"`    // keyframes sent early because of one
	SubscriberPLIs   uint64 `json:"subscriber_plis"`   // PLIs the subscribers sent while they had no keyframe

	ServerUsage    *Usage  `json:"server_usage,omitempty"`
	LoadtestCPUPct float64 `json:"loadtest_cpu_pct"` // this process, % of one core, in the window

	PerSubscription []SubscriptionResult `json:"per_subscription"`
}

// Stats summarises the per-subscription figures.
type Stats struct {
	Packets          Summary `json:"packets"`
	LossPct          Summary `json:"loss_pct"`
	Kbps             Summary `json:"kbps"`
	JoinToFirstFrame Summary `json:"join_to_first_frame_ms"`
	KeyframeWait     Summary `json:"keyframe_wait_ms"`
}

// Summary is a distribution over subscriptions: N values, nearest-rank
// median and 95th percentile.
type Summary struct {
	N      int     `json:"n"`
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	P95    float64 `json:"p95"`
	Max    float64 `json:"max"`
}

// Usage is the server's share, read from /proc at both ends of the window
// (and its memory once more before the first subscriber joined).
type Usage struct {
	PID             int     `json:"pid"`
	CPUSeconds      float64 `json:"cpu_seconds"` // user + system, in the window
	CPUPct          float64 `json:"cpu_pct"`     // % of one core
	MicrosPerPacket float64 `json:"us_per_packet"`
	RSSBeforeMB     float64 `json:"rss_before_mb"` // before the first subscriber joined
	RSSEndMB        float64 `json:"rss_end_mb"`    // at the end of the window
	MBPerSubscriber float64 `json:"mb_per_subscriber"`
}

// SubscriptionResult is one subscriber's view of one publisher. The times
// are absent when no whole keyframe arrived.
type SubscriptionResult struct {
	Subscriber         string   `json:"subscriber"`
	Publisher          string   `json:"publisher"`
	Packets            uint64   `json:"packets"`
	LossPct            float64  `json:"loss_pct"`
	Kbps               float64  `json:"kbps"`
	JoinToFirstFrameMs *float64 `json:"join_to_first_frame_ms,omitempty"`
	KeyframeWaitMs     *float64 `json:"keyframe_wait_ms,omitempty"`
}

// entry is one subscription with its owner, in a fixed order.
type entry struct {
	s   *subscriber
	sub *subscription
}

func (r *run) entries() []entry {
	var es []entry
	for _, s := range r.subs {
		for _, p := range r.pubs {
			es = append(es, entry{s, s.subs[p.uid]})
		}
	}
	return es
}

// snapshot copies every subscription's audio and video counters.
func snapshot(es []entry) [][2]counters {
	out := make([][2]counters, len(es))
	for i, e := range es {
		out[i] = [2]counters{e.sub.audio.Load().snapshot(), e.sub.video.Load().snapshot()}
	}
	return out
}

// measure opens the window, waits Duration (or until ctx ends) and reports.
func (r *run) measure(ctx context.Context) (*Result, error) {
	es := r.entries()
	self := os.Getpid()
	srv0, srvErr := sampleProc(r.cfg.ServerPID)
	self0, _ := sampleProc(self)
	start := snapshot(es)
	t0 := time.Now()
	r.windowAt.Store(max(r.now(), 1))

	timer := time.NewTimer(r.cfg.Duration)
	select {
	case <-timer.C:
	case <-ctx.Done():
		timer.Stop()
	}

	end := snapshot(es)
	window := time.Since(t0)
	srv1, srvErr1 := sampleProc(r.cfg.ServerPID)
	self1, _ := sampleProc(self)

	res := r.result(es, start, end, window)
	res.LoadtestCPUPct = pct(self1.CPU-self0.CPU, window)
	if r.cfg.ServerPID > 0 {
		if srvErr != nil || srvErr1 != nil {
			return res, fmt.Errorf("loadtest: sample the server: %v %v", srvErr, srvErr1)
		}
		cpu := srv1.CPU - srv0.CPU
		u := &Usage{PID: r.cfg.ServerPID, CPUSeconds: cpu.Seconds(), CPUPct: pct(cpu, window),
			RSSBeforeMB: mb(r.rssBefore), RSSEndMB: mb(srv1.RSS)}
		if r.rssBefore < 0 {
			u.RSSBeforeMB = mb(srv0.RSS)
		}
		if res.Packets > 0 {
			u.MicrosPerPacket = float64(cpu.Microseconds()) / float64(res.Packets)
		}
		if res.Joined > 0 {
			u.MBPerSubscriber = (u.RSSEndMB - u.RSSBeforeMB) / float64(res.Joined)
		}
		res.ServerUsage = u
	}
	return res, nil
}

func (r *run) result(es []entry, start, end [][2]counters, window time.Duration) *Result {
	res := &Result{Server: "stoa", URL: r.cfg.URL, Publishers: len(r.pubs), Subscribers: len(r.subs),
		Clip: clipInfo(r.cfg.Video, r.cfg.Audio), WindowSeconds: window.Seconds()}
	if r.cfg.Galene {
		res.Server = "galene"
	}
	for _, s := range r.subs {
		switch s.state.Load() {
		case joined:
			res.Joined++
		case failed:
			res.Failed++
			if res.FirstError == "" {
				res.FirstError = s.err.Error()
			}
		}
	}
	for _, p := range r.pubs {
		res.KeyframeRequests += p.plis.Load()
		res.KeyframeJumps += p.jumps.Load()
	}
	var packets, loss, kbps, join, wait []float64
	for i, e := range es {
		if e.s.state.Load() != joined {
			continue
		}
		res.Subscriptions++
		var n, bytes, expected uint64
		for k := range 2 {
			p, b, x := windowDelta(start[i][k], end[i][k])
			n, bytes, expected = n+p, bytes+b, expected+x
		}
		sr := SubscriptionResult{Subscriber: e.s.uid, Publisher: e.sub.pub, Packets: n,
			Kbps: float64(bytes) * 8 / window.Seconds() / 1000}
		if expected > 0 {
			sr.LossPct = 100 * float64(expected-min(n, expected)) / float64(expected)
			loss = append(loss, sr.LossPct)
		}
		if n > 0 {
			res.Receiving++
		}
		res.Packets += n
		packets = append(packets, float64(n))
		kbps = append(kbps, sr.Kbps)
		if v := e.sub.video.Load(); v != nil {
			res.SubscriberPLIs += v.requests.Load()
		}
		if v := e.sub.video.Load(); v != nil && v.firstKeyAt.Load() > 0 {
			res.Keyframes++
			key := v.firstKeyAt.Load()
			if j := e.s.joinStart.Load(); j > 0 {
				sr.JoinToFirstFrameMs = ms(key - j)
				join = append(join, *sr.JoinToFirstFrameMs)
			}
			if at := e.sub.subscribeAt.Load(); at > 0 {
				sr.KeyframeWaitMs = ms(key - at)
				wait = append(wait, *sr.KeyframeWaitMs)
			}
		}
		res.PerSubscription = append(res.PerSubscription, sr)
	}
	res.PacketRate = float64(res.Packets) / window.Seconds()
	res.Stats = Stats{Packets: summarize(packets), LossPct: summarize(loss), Kbps: summarize(kbps),
		JoinToFirstFrame: summarize(join), KeyframeWait: summarize(wait)}
	return res
}

// summarize sorts vs and picks nearest-rank percentiles.
func summarize(vs []float64) Summary {
	if len(vs) == 0 {
		return Summary{}
	}
	slices.Sort(vs)
	rank := func(p float64) float64 { return vs[max(int(math.Ceil(p*float64(len(vs))))-1, 0)] }
	return Summary{N: len(vs), Min: vs[0], Median: rank(0.5), P95: rank(0.95), Max: vs[len(vs)-1]}
}

func ms(ns int64) *float64 {
	v := float64(ns) / 1e6
	return &v
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

func pct(cpu, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return 100 * cpu.Seconds() / wall.Seconds()
}

func clipInfo(video, audio *Track) string {
	s := fmt.Sprintf("%s %.0f kbps", codecName(video), video.Bitrate()/1000)
	if audio != nil {
		s += fmt.Sprintf(" + %s %.0f kbps", codecName(audio), audio.Bitrate()/1000)
	}
	return s
}

func codecName(t *Track) string {
	_, name, _ := strings.Cut(t.Codec.MimeType, "/")
	return name
}

// WriteTable prints the result for a reader: a header, the distribution of
// each per-subscription figure, and the totals.
func (res *Result) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "%s loadtest: %d publisher(s) → %d subscriber(s), %s, window %.1f s\n",
		res.Server, res.Publishers, res.Subscribers, res.Clip, res.WindowSeconds)
	fmt.Fprintf(w, "joined %d/%d", res.Joined, res.Subscribers)
	if res.Failed > 0 {
		fmt.Fprintf(w, " (%d failed; first: %s)", res.Failed, res.FirstError)
	}
	fmt.Fprintf(w, "; subscriptions receiving %d/%d, whole keyframe %d/%d\n\n",
		res.Receiving, res.Subscriptions, res.Keyframes, res.Subscriptions)
	fmt.Fprintf(w, "%-22s %10s %10s %10s %10s %6s\n", "per subscription", "min", "median", "p95", "max", "n")
	row := func(name, format string, s Summary) {
		f := func(v float64) string { return fmt.Sprintf(format, v) }
		fmt.Fprintf(w, "%-22s %10s %10s %10s %10s %6d\n", name, f(s.Min), f(s.Median), f(s.P95), f(s.Max), s.N)
	}
	row("packets", "%.0f", res.Stats.Packets)
	row("loss %", "%.2f", res.Stats.LossPct)
	row("bitrate kbps", "%.0f", res.Stats.Kbps)
	row("join → first frame ms", "%.0f", res.Stats.JoinToFirstFrame)
	row("keyframe wait ms", "%.0f", res.Stats.KeyframeWait)
	fmt.Fprintf(w, "\ndelivered %.0f packets/s (%d packets in the window)\n", res.PacketRate, res.Packets)
	if u := res.ServerUsage; u != nil {
		fmt.Fprintf(w, "server pid %d: %.2f s CPU in the window (%.0f%% of a core) = %.2f µs per forwarded packet\n",
			u.PID, u.CPUSeconds, u.CPUPct, u.MicrosPerPacket)
		fmt.Fprintf(w, "server RSS %.1f MB before the subscribers, %.1f MB at the end = %.3f MB per subscriber\n",
			u.RSSBeforeMB, u.RSSEndMB, u.MBPerSubscriber)
	}
	fmt.Fprintf(w, "keyframe requests: %d sent by subscribers, %d received by publishers (%d answered by jumping to a keyframe)\n",
		res.SubscriberPLIs, res.KeyframeRequests, res.KeyframeJumps)
	fmt.Fprintf(w, "this process: %.0f%% of a core\n", res.LoadtestCPUPct)
}

// progress prints a line every cfg.Progress until ctx ends: how far the
// joins got, the packet rate since the last line and, with a server pid,
// the server's CPU and memory.
func (r *run) progress(ctx context.Context) {
	tick := time.NewTicker(r.cfg.Progress)
	defer tick.Stop()
	lastAt, lastPackets := time.Now(), uint64(0)
	lastSrv, srvErr := sampleProc(r.cfg.ServerPID)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		c := r.count()
		now := time.Now()
		rate := float64(c.packets-lastPackets) / now.Sub(lastAt).Seconds()
		lastAt, lastPackets = now, c.packets
		var b strings.Builder
		fmt.Fprintf(&b, "[%6.1fs] ", time.Duration(r.now()).Seconds())
		if w := r.windowAt.Load(); w > 0 {
			fmt.Fprintf(&b, "window %.0f/%.0fs, ", time.Duration(r.now()-w).Seconds(), r.cfg.Duration.Seconds())
		} else {
			b.WriteString("joining, ")
		}
		fmt.Fprintf(&b, "joined %d/%d", c.joined, len(r.subs))
		if c.failed > 0 {
			fmt.Fprintf(&b, " (%d failed)", c.failed)
		}
		fmt.Fprintf(&b, ", receiving %d/%d, keyframe %d/%d, %.0f pkt/s", c.receiving, c.subscriptions, c.keyframes, c.subscriptions, rate)
		if r.cfg.ServerPID > 0 && srvErr == nil {
			if s, err := sampleProc(r.cfg.ServerPID); err == nil {
				fmt.Fprintf(&b, ", server %.0f%% CPU %.0f MB", pct(s.CPU-lastSrv.CPU, s.At.Sub(lastSrv.At)), mb(s.RSS))
				lastSrv = s
			}
		}
		fmt.Fprintln(r.cfg.ProgressOut, b.String())
	}
}
