package loadtest

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stoa-video/stoa/sfu"
	"github.com/stoa-video/stoa/signaling"
)

// makeClip encodes a short test clip with ffmpeg from its lavfi sources, as
// docs/benchmarks.md describes (smaller and shorter, to spare the test's CPU):
// video in the given format (ivf or h264) and Opus audio.
func makeClip(t *testing.T, format string) (video, audio string) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not found: the load test encodes its clip with it")
	}
	dir := t.TempDir()
	video, audio = filepath.Join(dir, "clip."+format), filepath.Join(dir, "clip.ogg")
	vargs := []string{"-c:v", "libvpx", "-b:v", "150k", "-deadline", "realtime", "-cpu-used", "8", "-g", "30", "-auto-alt-ref", "0"}
	if format == "h264" {
		vargs = []string{"-c:v", "libx264", "-profile:v", "baseline", "-preset", "veryfast", "-b:v", "150k", "-g", "30", "-bf", "0"}
	}
	ffmpeg(t, append(append([]string{"-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30", "-t", "2"}, vargs...), video)...)
	ffmpeg(t, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "2", "-ac", "2",
		"-c:a", "libopus", "-b:a", "32k", "-frame_duration", "20", "-page_duration", "20000", audio)
	return video, audio
}

func ffmpeg(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("ffmpeg", append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// stoaServer starts a whole Stoa server in this process on loopback and
// returns its websocket URL and token secret.
func stoaServer(t *testing.T) (url string, secret []byte) {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	media, err := sfu.New(sfu.Config{UDPPort: 0, TCPPort: -1, ICEIPs: []string{"127.0.0.1"}}, quiet)
	if err != nil {
		t.Fatalf("start the SFU: %v", err)
	}
	secret = []byte("loadtest-secret-0123456789")
	sig := signaling.NewServer(signaling.Options{SFU: media, Tokens: signaling.NewTokenIssuer(secret), Logger: quiet})
	hs := httptest.NewServer(sig.Handler())
	t.Cleanup(func() {
		sig.Close()
		hs.Close()
		_ = media.Close()
	})
	return "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws", secret
}

// TestRunAgainstStoa: one publisher playing a VP8 or H264 clip to three subscribers
// through an in-process server; every subscriber receives the stream with
// little loss and decodes a first frame, and the run leaves no goroutine
// behind. Durations are logged, never asserted.
func TestRunAgainstStoa(t *testing.T) {
	for _, format := range []string{"ivf", "h264"} {
		t.Run(format, func(t *testing.T) { testRunAgainstStoa(t, format) })
	}
}

func testRunAgainstStoa(t *testing.T, format string) {
	videoPath, audioPath := makeClip(t, format)
	video, err := LoadVideo(videoPath, 30)
	if err != nil {
		t.Fatal(err)
	}
	audio, err := LoadAudio(audioPath)
	if err != nil {
		t.Fatal(err)
	}
	url, secret := stoaServer(t)
	before := runtime.NumGoroutine()

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var progress bytes.Buffer
	res, err := Run(ctx, Config{URL: url, Room: "lt", Publishers: 1, Subscribers: 3, Video: video, Audio: audio,
		Duration: 3 * time.Second, JoinRate: 0, JoinTimeout: 60 * time.Second, Secret: secret,
		ICEIPs: []string{"127.0.0.1"}, ServerPID: os.Getpid(), Progress: time.Second, ProgressOut: &progress})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	var table bytes.Buffer
	res.WriteTable(&table)
	t.Logf("progress:\n%s\n%s", progress.String(), table.String())

	if res.Joined != 3 || res.Subscriptions != 3 {
		t.Fatalf("joined %d of 3 subscribers, %d subscriptions; first error: %s", res.Joined, res.Subscriptions, res.FirstError)
	}
	for _, s := range res.PerSubscription {
		if s.Packets == 0 {
			t.Errorf("%s received nothing from %s in the window", s.Subscriber, s.Publisher)
		}
		if s.LossPct > 20 {
			t.Errorf("%s lost %.1f%% of %s's packets", s.Subscriber, s.LossPct, s.Publisher)
		}
		if s.JoinToFirstFrameMs == nil || s.KeyframeWaitMs == nil {
			t.Errorf("%s got no whole keyframe from %s", s.Subscriber, s.Publisher)
		}
	}
	// The server is this process, so its figures include the peers': only
	// the plumbing is checked here.
	if res.ServerUsage == nil || res.ServerUsage.MicrosPerPacket <= 0 {
		t.Errorf("no server CPU per packet from /proc: %+v", res.ServerUsage)
	}
	waitGoroutines(t, before)
}

// waitGoroutines waits for the goroutine count to come back to before:
// pion ends some of its goroutines shortly after Close returns.
func waitGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("goroutines: %d before the run, %d after it\n%s", before, runtime.NumGoroutine(), buf[:n])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestConfigCheck(t *testing.T) {
	err := (&Config{}).check()
	if err == nil {
		t.Fatal("an empty config passed")
	}
	for _, want := range []string{"URL", "room", "publisher", "video", "duration"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}
