// Package mediatest makes real media for tests: ffmpeg's test sources
// encoded with real codecs, read back into frames. Only tests import it, so
// every package's media tests make their clips the same way.
package mediatest

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
)

// NeedTools skips the test, with one line, when a tool it needs is absent.
func NeedTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (make deps installs it): no real media for this test", tool)
		}
	}
}

// FFmpeg runs ffmpeg quietly, failing the test with its output on error.
func FFmpeg(t testing.TB, args ...string) {
	t.Helper()
	cmd := exec.Command("ffmpeg", append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
	}
}

// VP8Clip encodes seconds of ffmpeg's test pattern at size ("320x180") and
// 15 fps as VP8 at kbps with a keyframe every gop frames (libvpx in its
// real-time mode, as a browser encodes) and returns the frames.
func VP8Clip(t testing.TB, size string, seconds, kbps, gop int) [][]byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "clip.ivf")
	FFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size="+size+":rate=15", "-t", strconv.Itoa(seconds),
		"-c:v", "libvpx", "-b:v", strconv.Itoa(kbps)+"k", "-g", strconv.Itoa(gop), "-deadline", "realtime",
		"-cpu-used", "8", "-auto-alt-ref", "0", "-f", "ivf", path)
	return IVFFrames(t, path)
}

// IVFFrames reads every frame of an IVF file (VP8 from ffmpeg).
func IVFFrames(t testing.TB, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, _, err := ivfreader.NewWith(f)
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	for {
		fr, _, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			return frames
		}
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, fr)
	}
}
