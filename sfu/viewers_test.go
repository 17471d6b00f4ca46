package sfu

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"
	"github.com/stoa-video/stoa/internal/mediatest"
	"golang.org/x/image/vp8"
)

// vp8Clip encodes a short real VP8 clip (ffmpeg's test pattern, 320×180,
// 15 fps, one keyframe at the start) and returns its frames.
func vp8Clip(t *testing.T) [][]byte {
	t.Helper()
	mediatest.NeedTools(t, "ffmpeg")
	frames := mediatest.VP8Clip(t, "320x180", 4, 200, 1000)
	if len(frames) < 30 {
		t.Fatalf("clip has %d frames", len(frames))
	}
	return frames
}

// publishClip makes tp publish frames at 15 fps, looping, until the test ends.
func publishClip(t *testing.T, tp *testPeer, frames [][]byte) {
	t.Helper()
	tr, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "clip")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := tp.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	negotiatePublish(t, tp, pc)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second / 15)
		defer tick.Stop()
		for i := 0; ; i = (i + 1) % len(frames) {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			_ = tr.WriteSample(media.Sample{Data: frames[i], Duration: time.Second / 15})
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		_ = pc.Close()
	})
}

// frameViewer rebuilds VP8 frames from what it receives and decodes its
// first one, which must be a keyframe.
type frameViewer struct {
	mu          sync.Mutex
	frames      int
	firstErr    error
	width, high int
	got         chan struct{}
}

func (v *frameViewer) onTrack(_ string, tr *webrtc.TrackRemote, _ *webrtc.PeerConnection) {
	if tr.Kind() != webrtc.RTPCodecTypeVideo {
		return
	}
	go func() {
		sb := samplebuilder.New(64, &codecs.VP8Packet{}, 90000)
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			sb.Push(p)
			for s := sb.Pop(); s != nil; s = sb.Pop() {
				v.frame(s.Data)
			}
		}
	}()
}

func (v *frameViewer) frame(data []byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.frames == 0 {
		d := vp8.NewDecoder()
		d.Init(bytes.NewReader(data), len(data))
		fh, err := d.DecodeFrameHeader()
		switch {
		case err != nil:
			v.firstErr = err
		case !fh.KeyFrame:
			v.firstErr = errors.New("the first frame is not a keyframe")
		default:
			img, err := d.DecodeFrame()
			if err != nil {
				v.firstErr = err
			} else {
				v.width, v.high = img.Bounds().Dx(), img.Bounds().Dy()
			}
		}
	}
	v.frames++
	select {
	case v.got <- struct{}{}:
	default:
	}
}

// One host, fifty in-process viewers: each gets the real VP8 stream from a
// keyframe it can decode, and keeps receiving whole frames.
func TestFiftyViewersDecode(t *testing.T) {
	frames := vp8Clip(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*lookFor)
	defer cancel()
	s := newTestSFU(t, Config{})
	host := join(t, s, "fifty", "host", false, peerOptions{}, nil)
	publishClip(t, host, frames)
	const n = 50
	viewers := make([]*frameViewer, n)
	for i := range viewers {
		viewers[i] = &frameViewer{got: make(chan struct{}, 1)}
		join(t, s, "fifty", uidN("v", i), true, peerOptions{}, viewers[i].onTrack)
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i, v := range viewers {
		for {
			v.mu.Lock()
			frames, err, w, h := v.frames, v.firstErr, v.width, v.high
			v.mu.Unlock()
			if err != nil {
				t.Fatalf("viewer %d: first frame: %v", i, err)
			}
			if frames >= 15 {
				if w != 320 || h != 180 {
					t.Errorf("viewer %d decoded a %d×%d first frame, want 320×180", i, w, h)
				}
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("viewer %d got %d whole frames", i, frames)
			case <-v.got:
			case <-tick.C:
			}
		}
	}
	ups := host.part.UpTracks()
	if len(ups) != 1 {
		t.Fatalf("%d up tracks", len(ups))
	}
	st := ups[0].Stats()
	t.Logf("50 viewers decoding; up track: %+v", st)
	if st.DownTracks != n {
		t.Errorf("%d down tracks, want %d", st.DownTracks, n)
	}
}
