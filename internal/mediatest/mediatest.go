// Package mediatest makes real media for tests: ffmpeg's test sources
// encoded with real codecs, read back into frames. Only tests import it, so
// every package's media tests make their clips the same way.
package mediatest

import (
	"errors"
	"io"
	"os"
	"os/exec"
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
