package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/stoa-video/stoa/internal/mediatest"
	"github.com/stoa-video/stoa/recorder"
	"github.com/stoa-video/stoa/signaling/client"
)

func needMediaTools(t *testing.T) { t.Helper(); mediatest.NeedTools(t, "ffmpeg", "ffprobe") }

// vp8Clip is 10 s of ffmpeg's test pattern as VP8 frames at 15 fps with a
// keyframe every 2 s, so that it loops on a keyframe.
func vp8Clip(t *testing.T) [][]byte {
	t.Helper()
	return mediatest.VP8Clip(t, "320x180", 10, 300, 30)
}

// publishCustomer joins room R as a customer (the tag the policy records)
// and publishes the clip in a loop at 15 fps until the test ends; it
// returns the customer's client.
func publishCustomer(t *testing.T, p *stoaProc, frames [][]byte) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	c, err := client.Dial(ctx, client.Options{URL: p.wsURL(), Token: p.mint("R", "cust", "customer"), API: loopbackAPI(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "cust")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, track); err != nil {
		t.Fatal(err)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second / 15)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			_ = track.WriteSample(media.Sample{Data: frames[i%len(frames)], Duration: time.Second / 15})
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return c
}

// waitClusters waits for the server's recording to hold n complete clusters
// on disk and returns its path. The deadline is one only a defect trips.
func waitClusters(t *testing.T, p *stoaProc, n int) string {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(p.dataDir, "recordings", "*.webm"))
		if len(files) == 1 {
			if f, err := os.Open(files[0]); err == nil {
				st, _ := f.Stat()
				spans, _ := recorder.Clusters(f, st.Size())
				f.Close()
				if len(spans) >= n {
					return files[0]
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recording with %d complete clusters in %s (files %v)\n%s", n, p.dataDir, files, p.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// probeDuration is ffprobe's format duration in seconds.
func probeDuration(t *testing.T, path string) float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	d, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		t.Fatalf("ffprobe %s duration %q: %v", path, out, err)
	}
	return d
}

// lastPTS is the time of the file's last packet, as ffprobe reads it.
func lastPTS(t *testing.T, path string) float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "packet=pts_time", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe packets of %s: %v", path, err)
	}
	last := 0.0
	for _, f := range strings.Fields(string(out)) {
		if v, err := strconv.ParseFloat(strings.Trim(f, ","), 64); err == nil {
			last = max(last, v)
		}
	}
	return last
}

// ffmpegSays runs ffmpeg -v error with args and returns what it prints; a
// failing run is a test error.
func ffmpegSays(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ffmpeg", append([]string{"-v", "error"}, args...)...).CombinedOutput()
	if err != nil {
		t.Errorf("ffmpeg %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// checkFinalized checks a file has cues after its last cluster and seeks to
// its middle cleanly; it returns ffprobe's duration.
func checkFinalized(t *testing.T, path string) float64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	spans, err := recorder.Clusters(bytes.NewReader(data), int64(len(data)))
	if err != nil || len(spans) == 0 {
		t.Fatalf("%s: %d clusters, %v", path, len(spans), err)
	}
	last := spans[len(spans)-1]
	if !bytes.HasPrefix(data[last.Offset+last.Size:], []byte{0x1C, 0x53, 0xBB, 0x6B}) {
		t.Errorf("%s: no Cues after the last cluster", filepath.Base(path))
	}
	dur := probeDuration(t, path)
	mid := strconv.FormatFloat(dur/2, 'f', 2, 64)
	if out := ffmpegSays(t, "-ss", mid, "-i", path, "-frames:v", "1", "-f", "null", "-"); out != "" {
		t.Errorf("seeking to %s s in %s: %s", mid, filepath.Base(path), out)
	}
	if out := ffmpegSays(t, "-i", path, "-f", "null", "-"); out != "" {
		t.Errorf("decoding %s: %s", filepath.Base(path), out)
	}
	return dur
}

// stoaCLI runs the binary with args and returns its output and exit error.
func stoaCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(stoaBin(t), args...).CombinedOutput()
	return string(out), err
}

func waitExit(t *testing.T, p *stoaProc) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("stoa did not exit\n%s", p.logs.String())
	}
}

// SIGTERM with a customer being recorded by policy: the server finalizes the
// file (duration, cues) and signs its manifest before it exits.
func TestRecordingFinalizedOnSIGTERM(t *testing.T) {
	needMediaTools(t)
	frames := vp8Clip(t)
	p := startStoa(t, false, append(operatorArgs(), "--record-tag", "customer")...)
	publishCustomer(t, p, frames)
	path := waitClusters(t, p, 2)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitExit(t, p)
	dur := checkFinalized(t, path)
	if dur <= 1 {
		t.Errorf("finalized duration %.3f s, want more than 1 s", dur)
	}
	key, err := recorder.LoadKey(p.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := recorder.Verify(path, key.Public().(ed25519.PublicKey)); err != nil || !res.OK {
		t.Errorf("manifest of the finalized file: %+v %v", res, err)
	}
	if out, err := stoaCLI(t, "recordings", "verify", "--data-dir", p.dataDir, path); err != nil {
		t.Errorf("stoa recordings verify: %v\n%s", err, out)
	}
	t.Logf("SIGTERM: %s finalized, %.3f s, verified", filepath.Base(path), dur)
}

// kill -9 mid-recording: the file plays to its last cluster, and `stoa
// recordings repair` makes a seekable copy with the duration of what was
// written, whose new manifest `stoa recordings verify` accepts.
func TestRecordingRepairAfterKill9(t *testing.T) {
	needMediaTools(t)
	frames := vp8Clip(t)
	p := startStoa(t, false, append(operatorArgs(), "--record-tag", "customer")...)
	publishCustomer(t, p, frames)
	path := waitClusters(t, p, 2)
	if err := p.cmd.Process.Kill(); err != nil { // SIGKILL: nothing is finalized
		t.Fatal(err)
	}
	waitExit(t, p)
	if _, err := os.Stat(recorder.ManifestPath(path)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a manifest beside the killed recording: %v", err)
	}
	if out := ffmpegSays(t, "-i", path, "-f", "null", "-"); out != "" {
		t.Errorf("ffmpeg on the killed recording says:\n%s", out)
	}
	written := lastPTS(t, path)
	before := probeDuration(t, path)

	out, err := stoaCLI(t, "recordings", "repair", "--data-dir", p.dataDir, path)
	if err != nil || !strings.Contains(out, "repaired into") {
		t.Fatalf("stoa recordings repair: %v\n%s", err, out)
	}
	repaired := recorder.RepairedPath(path)
	dur := checkFinalized(t, repaired)
	if dur < written-0.3 || dur > written+0.3 || dur <= 1 {
		t.Errorf("repaired duration %.3f s, what was written ends at %.3f s", dur, written)
	}
	if out, err := stoaCLI(t, "recordings", "verify", "--data-dir", p.dataDir, repaired); err != nil {
		t.Errorf("stoa recordings verify of the repaired file: %v\n%s", err, out)
	}
	t.Logf("kill -9: %s read as %.3f s before repair; repaired %.3f s (packets end at %.3f s)\n%s", filepath.Base(path), before, dur, written, out)
}
