package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/jpeg"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/h264reader"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"

	"github.com/stoa-video/stoa/signaling"
)

// encodedClip is one second of ffmpeg's testsrc2 pattern (15 frames, one
// keyframe at the start), encoded as a browser would send it, and frame 0 as
// a PNG to compare snapshots with.
type encodedClip struct {
	frames [][]byte // one access unit (H264, Annex-B) or frame (VP8) each
	ref    image.Image
}

func ffmpeg(t *testing.T, args ...string) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg is required (make deps-test installs it): ", err)
	}
	out, err := exec.Command("ffmpeg", append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
	}
}

func makeClip(t *testing.T, codec string) encodedClip {
	dir := t.TempDir()
	src := []string{"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=15", "-frames:v"}
	ffmpeg(t, append(src, "1", filepath.Join(dir, "ref.png"))...)
	f, err := os.Open(filepath.Join(dir, "ref.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ref, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	clip := encodedClip{ref: ref}
	switch codec {
	case "vp8":
		out := filepath.Join(dir, "clip.ivf")
		ffmpeg(t, append(src, "15", "-c:v", "libvpx", "-g", "15", "-b:v", "1M", "-deadline", "realtime", "-f", "ivf", out)...)
		r, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		ivf, _, err := ivfreader.NewWith(r)
		if err != nil {
			t.Fatal(err)
		}
		for {
			frame, _, err := ivf.ParseNextFrame()
			if err != nil {
				break
			}
			clip.frames = append(clip.frames, frame)
		}
	case "h264":
		out := filepath.Join(dir, "clip.h264")
		ffmpeg(t, append(src, "15", "-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-g", "15",
			"-x264-params", "slices=1:sliced-threads=0", "-bsf:v", "h264_mp4toannexb", "-f", "h264", out)...)
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		hr, err := h264reader.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		var au []byte
		for {
			nal, err := hr.NextNAL()
			if err != nil {
				break
			}
			au = append(append(au, 0, 0, 0, 1), nal.Data...)
			if nal.UnitType == h264reader.NalUnitTypeCodedSliceIdr || nal.UnitType == h264reader.NalUnitTypeCodedSliceNonIdr {
				clip.frames = append(clip.frames, au)
				au = nil
			}
		}
	}
	if len(clip.frames) != 15 {
		t.Fatalf("%s clip has %d frames, want 15", codec, len(clip.frames))
	}
	return clip
}

// meanAbsDiff compares two images' luma, pixel by pixel (0..255).
func meanAbsDiff(a, b image.Image) float64 {
	ab, bb := a.Bounds(), b.Bounds()
	if ab.Dx() != bb.Dx() || ab.Dy() != bb.Dy() {
		return 255
	}
	luma := func(img image.Image, x, y int) float64 {
		r, g, b, _ := img.At(x, y).RGBA()
		return (0.299*float64(r) + 0.587*float64(g) + 0.114*float64(b)) / 257
	}
	var sum float64
	for y := 0; y < ab.Dy(); y += 2 {
		for x := 0; x < ab.Dx(); x += 2 {
			d := luma(a, ab.Min.X+x, ab.Min.Y+y) - luma(b, bb.Min.X+x, bb.Min.Y+y)
			if d < 0 {
				d = -d
			}
			sum += d
		}
	}
	return sum / float64((ab.Dy()/2)*(ab.Dx()/2))
}

func TestSnapshot(t *testing.T) {
	for _, codec := range []string{"vp8", "h264"} {
		t.Run(codec, func(t *testing.T) {
			clip := makeClip(t, codec)
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			ts := newTestServer(t, withKey)
			hs := ts.http.URL
			host := ts.dial(ctx, "snap-"+codec, "customer", signaling.RoleHost)
			capability := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
			if codec == "h264" {
				capability = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
					SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
			}
			track, err := webrtc.NewTrackLocalStaticSample(capability, "video", "customer")
			if err != nil {
				t.Fatal(err)
			}
			if err := host.Publish(ctx, track); err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() { // loop the clip at 15 fps: a keyframe once a second
				defer close(done)
				tick := time.NewTicker(time.Second / 15)
				defer tick.Stop()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					case <-tick.C:
					}
					_ = track.WriteSample(media.Sample{Data: clip.frames[i%len(clip.frames)], Duration: time.Second / 15})
				}
			}()
			defer func() { close(stop); <-done }()

			url := hs + "/api/rooms/snap-" + codec + "/participants/customer/snapshot"
			var img image.Image
			deadline := time.Now().Add(60 * time.Second)    // generous: a busy machine, not a latency claim
			for img == nil && time.Now().Before(deadline) { // until the publication is up
				resp, body := httpGet(t, url+"?format=png", "operator-key")
				if resp.StatusCode == http.StatusOK {
					if img, err = png.Decode(bytes.NewReader(body)); err != nil {
						t.Fatalf("snapshot is not a PNG: %v", err)
					}
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if img == nil {
				t.Fatal("no snapshot within 60 s")
			}
			if d := meanAbsDiff(img, clip.ref); d > 10 {
				t.Errorf("snapshot differs from the keyframe's source by %.1f luma levels on average", d)
			}
			// JPEG by default, and the agent's own room token (with the claim_tools grant) works too.
			agentToken := ts.token("snap-"+codec, "agent", signaling.RoleHost, signaling.GrantClaimTools)
			start := time.Now()
			resp, body := httpGet(t, url, agentToken)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/jpeg" {
				t.Fatalf("JPEG snapshot: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			if _, err := jpeg.Decode(bytes.NewReader(body)); err != nil {
				t.Fatalf("not a JPEG: %v", err)
			}
			t.Logf("%s snapshot latency (request → image, keyframe on request): %v", codec, time.Since(start))

			errorCases := []struct {
				name, url, key string
				status         int
				code           string
			}{
				{"no key", url, "", http.StatusUnauthorized, signaling.CodeUnauthorized},
				{"forged key", url, "guess", http.StatusUnauthorized, signaling.CodeUnauthorized},
				{"agent token of another room", url, ts.token("elsewhere", "agent", signaling.RoleHost, signaling.GrantClaimTools), http.StatusForbidden, signaling.CodeForbidden},
				{"audience token", url, ts.token("snap-"+codec, "v", signaling.RoleAudience), http.StatusForbidden, signaling.CodeForbidden},
				{"customer's host token without the grant", url, ts.token("snap-"+codec, "customer", signaling.RoleHost), http.StatusForbidden, signaling.CodeForbidden},
				{"unknown room", hs + "/api/rooms/nope/participants/customer/snapshot", "operator-key", http.StatusNotFound, signaling.CodeRoomNotFound},
				{"unknown participant", hs + "/api/rooms/snap-" + codec + "/participants/ghost/snapshot", "operator-key", http.StatusNotFound, signaling.CodeParticipantNotFound},
				{"bad format", url + "?format=gif", "operator-key", http.StatusBadRequest, signaling.CodeBadRequest},
			}
			for _, ec := range errorCases {
				resp, body := httpGet(t, ec.url, ec.key)
				var e struct{ Code string }
				_ = json.Unmarshal(body, &e)
				if resp.StatusCode != ec.status || e.Code != ec.code {
					t.Errorf("%s: got %d %s, want %d %s", ec.name, resp.StatusCode, body, ec.status, ec.code)
				}
			}
			if err := host.Mute(ctx, "video", true); err != nil {
				t.Fatal(err)
			}
			resp, body = httpGet(t, url, "operator-key")
			if resp.StatusCode != http.StatusConflict || !bytes.Contains(body, []byte(signaling.CodeVideoMuted)) {
				t.Errorf("snapshot of muted video: %d %s", resp.StatusCode, body)
			}
		})
	}
}
