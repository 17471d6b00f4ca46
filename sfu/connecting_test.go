package sfu

import (
	"sync/atomic"
	"testing"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// While the subscriber's connection is being made, a video down track asks
// for no keyframe: one that came back now would be dropped by pion (SRTP is
// not up), and the next request would wait out the keyframe interval, which
// Chromium viewers measured as half a second more to their first frame.
// Once the connection is up, the next packet asks, once.
func TestDownTrackAsksForAKeyframeOnceConnected(t *testing.T) {
	var plis atomic.Int32
	up := NewUpTrack("video", webrtc.RTPCodecTypeVideo, vp8Codec(), 1234, func(pkts []rtcp.Packet) error {
		for _, p := range pkts {
			if _, ok := p.(*rtcp.PictureLossIndication); ok {
				plis.Add(1)
			}
		}
		return nil
	})
	w := &recordingWriter{keep: true}
	d := NewRTPDownTrack("video", "pub", up)
	d.connecting.Store(true)
	d.bound.Store(&binding{ssrc: 999, pt: 100, w: w})
	d.attach()
	up.Forward(marshal(t, 7, []byte{0x10, 0x01, 0xaa})) // deltas, no keyframe cached
	up.Forward(marshal(t, 8, []byte{0x10, 0x01, 0xbb}))
	up.Flush()
	if plis.Load() != 0 {
		t.Fatalf("%d keyframe requests while the connection was being made", plis.Load())
	}
	d.connecting.Store(false)
	up.Forward(marshal(t, 9, []byte{0x10, 0x01, 0xcc}))
	up.Forward(marshal(t, 10, []byte{0x10, 0x01, 0xdd}))
	up.Flush()
	if plis.Load() != 1 || len(w.packets) != 0 {
		t.Errorf("connected: %d keyframe requests and %d packets written, want 1 request (coalesced) and nothing", plis.Load(), len(w.packets))
	}
	up.Forward(marshal(t, 11, []byte{0x10, 0x00, 0xee})) // the keyframe asked for
	up.Flush()
	if len(w.packets) != 1 || w.packets[0].SequenceNumber != 11 {
		t.Errorf("after the keyframe: %d packets, want it alone", len(w.packets))
	}
}
