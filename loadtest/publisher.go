package loadtest

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// publication is one publisher's connection as a driver set it up: the
// senders whose RTCP carries keyframe requests, and how to end it.
type publication struct {
	pc      *webrtc.PeerConnection
	senders []*webrtc.RTPSender
	close   func() error
}

// publisher plays a clip into its tracks in real time, looping, and answers
// a keyframe request (PLI or FIR) by jumping to the clip's next keyframe, as
// an encoder would encode one: the subscribers' keyframe wait then measures
// the SFU, not the clip's keyframe interval.
type publisher struct {
	uid          string
	video, audio *webrtc.TrackLocalStaticSample
	clipV, clipA *Track
	wantKey      atomic.Bool
	plis         atomic.Uint64 // keyframe requests received
	jumps        atomic.Uint64 // keyframes sent because of one
}

func newPublisher(uid string, video, audio *Track) (*publisher, error) {
	p := &publisher{uid: uid, clipV: video, clipA: audio}
	var err error
	if video != nil {
		if p.video, err = webrtc.NewTrackLocalStaticSample(video.Codec, "video", uid); err != nil {
			return nil, fmt.Errorf("video track of %s: %w", uid, err)
		}
	}
	if audio != nil {
		if p.audio, err = webrtc.NewTrackLocalStaticSample(audio.Codec, "audio", uid); err != nil {
			return nil, fmt.Errorf("audio track of %s: %w", uid, err)
		}
	}
	return p, nil
}

// tracks returns the local tracks to publish, video first.
func (p *publisher) tracks() []webrtc.TrackLocal {
	var ts []webrtc.TrackLocal
	if p.video != nil {
		ts = append(ts, p.video)
	}
	if p.audio != nil {
		ts = append(ts, p.audio)
	}
	return ts
}

// readRTCP watches one sender for keyframe requests until its PeerConnection
// closes. Reading also drives pion's interceptors (NACK responder, reports).
func (p *publisher) readRTCP(s *webrtc.RTPSender) {
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		for _, pk := range pkts {
			switch pk.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				p.plis.Add(1)
				p.wantKey.Store(true)
			}
		}
	}
}

// play sends the clip's frames on track, each at its place on the clip's
// timeline (start + the durations before it, so a late wake-up does not
// slow the stream down), looping until ctx ends.
func (p *publisher) play(ctx context.Context, track *webrtc.TrackLocalStaticSample, clip *Track) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	start := time.Now()
	var at time.Duration
	video := track == p.video
	for i := 0; ; i = (i + 1) % len(clip.Frames) {
		if video && p.wantKey.Swap(false) && !clip.Frames[i].Keyframe {
			i = clip.nextKeyframe(i)
			p.jumps.Add(1)
		}
		if wait := time.Until(start.Add(at)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		f := clip.Frames[i]
		// An error is a PeerConnection not yet or no longer connected: the
		// stream keeps its timeline and tries again with the next frame.
		_ = track.WriteSample(media.Sample{Data: f.Data, Duration: f.Duration})
		at += f.Duration
	}
}
