package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/stoa-video/stoa/signaling/client"
)

// loopbackAPI builds pion peers that use 127.0.0.1 only.
func loopbackAPI(t *testing.T) *webrtc.API {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	s := webrtc.SettingEngine{}
	s.SetIncludeLoopbackCandidate(true)
	s.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(s))
}

// forgedVP8Keyframe is the 37-byte RTP payload of the finding: a VP8 payload
// descriptor (start of partition 0) and a keyframe header claiming
// 16383×16383, then zeros.
func forgedVP8Keyframe() []byte {
	p := make([]byte, 37)
	p[0] = 0x10                     // S bit, partition 0
	tag := uint32(0) | 1<<4 | 10<<5 // keyframe, version 0, shown, first partition 10 bytes
	p[1], p[2], p[3] = byte(tag), byte(tag>>8), byte(tag>>16)
	copy(p[4:], []byte{0x9d, 0x01, 0x2a, 0xff, 0x3f, 0xff, 0x3f}) // start code, 16383, 16383
	return p
}

// Finding 2: a publisher's forged keyframe header costs a snapshot nothing:
// 422 frame_too_large, and the server's peak memory does not move.
func TestSecurityForgedVP8Keyframe(t *testing.T) {
	p := startStoa(t, false, operatorArgs()...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{URL: p.wsURL(), Token: p.mint("R1", "cust", "customer"), API: loopbackAPI(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "forged")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, track); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	stop := make(chan struct{})
	defer func() { close(stop); wg.Wait() }()
	go func() { // the hostile publisher: a forged keyframe every 20 ms
		defer wg.Done()
		payload := forgedVP8Keyframe()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for seq, ts := uint16(1), uint32(0); ; seq, ts = seq+1, ts+1800 {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			_ = track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: seq, Timestamp: ts}, Payload: payload})
		}
	}()

	url := "/api/rooms/R1/participants/cust/snapshot"
	var r apiReply
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if r = p.call("GET", url, testAPIKey, nil); r.Status != 404 && r.Status != 409 && r.Status != 504 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the forged publication never reached the snapshot path: %d %v", r.Status, r.Body)
		}
	}
	if r.Status != http.StatusUnprocessableEntity || r.Code != "frame_too_large" {
		t.Fatalf("snapshot of a forged 16383×16383 keyframe: %d %v, want 422 frame_too_large", r.Status, r.Body)
	}
	// Ten at once, as in the finding (which took the server from 182 MB to 4.15 GB).
	peakBefore := p.procStatus("VmHWM")
	start := time.Now()
	statuses := make([]int, 10)
	var rg sync.WaitGroup
	for i := range statuses {
		rg.Add(1)
		go func() {
			defer rg.Done()
			r, err := p.try("GET", url, testAPIKey, nil)
			if err != nil {
				r.Status = -1
			}
			statuses[i] = r.Status
		}()
	}
	rg.Wait()
	took := time.Since(start)
	peakAfter := p.procStatus("VmHWM")
	refused := 0
	for i, s := range statuses {
		switch s {
		case http.StatusUnprocessableEntity:
			refused++
		case http.StatusServiceUnavailable: // the job gate: more than jobs + queue at once
		default:
			t.Errorf("parallel snapshot %d: %d, want 422 (or 503 busy)", i, s)
		}
	}
	if refused == 0 {
		t.Error("no parallel snapshot was answered 422")
	}
	t.Logf("10 parallel snapshots of the forged keyframe answered in %v; peak RSS %d MB → %d MB", took, peakBefore>>20, peakAfter>>20)
	// One decode of the claimed picture is ≈ 390 MB; the check allocates nothing of the sort.
	if grew := peakAfter - peakBefore; grew > 64<<20 {
		t.Errorf("peak RSS grew by %d MB answering the forged keyframe", grew>>20)
	}
}

// Finding 3: bursts of heavy image jobs are bounded: excess answered
// 503/429 with Retry-After, peak memory under 1 GiB (the server runs in a
// 1 GiB memory cgroup where this machine allows one), and RSS back under
// 400 MB within a minute after the burst.
func TestSecurityImageJobBurst(t *testing.T) {
	models := filepath.Join("..", "..", ".cache", "models")
	if _, err := os.Stat(filepath.Join(models, "ocr")); err != nil {
		t.Skip("models are not installed in .cache/models (make models)")
	}
	cg := newMemoryCgroup(t, 1<<30)
	args := append(operatorArgs(), "--jobs", "2")
	p := startStoaIn(t, cg, args...)

	bigPNG := uniformPNG(t, 6320, 6320)
	cardJPEG := cardLikeJPEG(t, 1000, 1000)
	t.Logf("inputs: %d×%d PNG of %d KB, 1000×1000 JPEG of %d KB", 6320, 6320, len(bigPNG)>>10, len(cardJPEG)>>10)

	type result struct {
		status int
		retry  string
	}
	results := make(chan result, 100)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path, body := "/api/faces/detect", bigPNG
			if i%2 == 1 {
				path, body = "/api/ocr?kind=idcard", cardJPEG
			}
			r, err := p.try("POST", path, testAPIKey, body)
			if err != nil {
				r.Status = -1 // the connection failed: the server died or dropped it
			}
			results <- result{r.Status, r.RetryAfter}
		}()
	}
	wg.Wait()
	close(results)
	burst := time.Since(start)
	counts := map[int]int{}
	for r := range results {
		counts[r.status]++
		if (r.status == 503 || r.status == 429) && r.retry == "" {
			t.Errorf("%d without Retry-After", r.status)
		}
	}
	if !p.alive() {
		t.Fatalf("the server died in the burst (statuses %v):\n%s", counts, p.logs.String())
	}
	peak := p.procStatus("VmHWM")
	t.Logf("100 parallel jobs (50 face detects of 6320×6320, 50 OCRs of 1 MP) in %v: statuses %v; peak RSS %d MB", burst, counts, peak>>20)
	if counts[503]+counts[429] == 0 {
		t.Error("no request was turned away: the job gate did not act")
	}
	if done := counts[200] + counts[422]; done == 0 {
		t.Error("no job ran")
	}
	for s := range counts {
		if s != 200 && s != 422 && s != 503 && s != 429 {
			t.Errorf("unexpected status %d (%d times)", s, counts[s])
		}
	}
	if peak > 1<<30 {
		t.Errorf("peak RSS %d MB, above 1 GiB", peak>>20)
	}
	if cg != nil {
		if n := cg.oomKills(); n > 0 {
			t.Errorf("the 1 GiB cgroup saw %d OOM kills", n)
		}
	}
	// RSS falls back once the burst is over (memory handed back to the OS).
	var rss int64
	deadline := time.Now().Add(60 * time.Second)
	for rss = p.procStatus("VmRSS"); rss > 400<<20 && time.Now().Before(deadline); rss = p.procStatus("VmRSS") {
		time.Sleep(time.Second)
	}
	t.Logf("RSS after the burst: %d MB", rss>>20)
	if rss > 400<<20 {
		t.Errorf("RSS is %d MB a minute after the burst, want under 400 MB", rss>>20)
	}
	if r := p.call("GET", "/healthz", "", nil); r.Status != 200 {
		t.Errorf("healthz after the burst: %d", r.Status)
	}
}

func uniformPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = 180, 170, 160, 255
	}
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// cardLikeJPEG draws dark bars of text height on a light background, so the
// OCR detector finds boxes and the recognizer runs.
func cardLikeJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(220 + x%20), 225, uint8(230 - y%15), 255})
		}
	}
	for row := range 12 {
		y0 := 60 + row*75
		for word := range 6 {
			x0 := 40 + word*155
			for y := y0; y < y0+28; y++ {
				for x := x0; x < x0+110; x++ {
					if (x/7+y/5)%3 != 0 {
						img.Set(x, y, color.RGBA{20, 20, 30, 255})
					}
				}
			}
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// memoryCgroup is a cgroup (v1 or v2) with a memory limit that the test's
// server runs in.
type memoryCgroup struct {
	dir string
	v2  bool
}

// newMemoryCgroup makes a child of this process's memory cgroup limited to
// limit bytes, or returns nil (saying so) where the machine does not allow
// it; the test then checks the peak RSS instead.
func newMemoryCgroup(t *testing.T, limit int64) *memoryCgroup {
	t.Helper()
	name := fmt.Sprintf("stoa-security-%d", os.Getpid())
	for _, f := range cgroupLimitFiles("/proc/self/cgroup", "/sys/fs/cgroup") {
		cg := memoryCgroup{dir: filepath.Join(filepath.Dir(f), name), v2: filepath.Base(f) == "memory.max"}
		if err := os.Mkdir(cg.dir, 0o755); err != nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(cg.dir, filepath.Base(f)), []byte(strconv.FormatInt(limit, 10)), 0o644); err != nil {
			_ = os.Remove(cg.dir)
			continue
		}
		t.Cleanup(func() { _ = os.Remove(cg.dir) }) // after the server has stopped (cleanups run last-in first-out)
		t.Logf("the server runs in memory cgroup %s limited to %d MB", cg.dir, limit>>20)
		return &cg
	}
	t.Log("no writable memory cgroup here: checking peak RSS instead")
	return nil
}

// oomKills reports how many processes the cgroup's OOM killer ended.
func (cg *memoryCgroup) oomKills() int {
	file, key := "memory.oom_control", "oom_kill "
	if cg.v2 {
		file = "memory.events"
	}
	raw, _ := os.ReadFile(filepath.Join(cg.dir, file))
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(rest))
			return n
		}
	}
	return 0
}

// startStoaIn starts the server with models inside cg (nil: as usual): a
// shell joins the cgroup and execs the server, so all its memory is charged.
func startStoaIn(t *testing.T, cg *memoryCgroup, args ...string) *stoaProc {
	t.Helper()
	if cg == nil {
		return startStoa(t, true, args...)
	}
	return startStoaWrapped(t, true, []string{"/bin/sh", "-c", `echo $$ > "$1/cgroup.procs" && shift && exec "$@"`, "sh", cg.dir}, args...)
}
