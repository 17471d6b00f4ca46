package loadtest

import (
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
)

func TestParseRTP(t *testing.T) {
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, PayloadType: 96, SequenceNumber: 65535,
		Timestamp: 123456, SSRC: 7, CSRC: []uint32{1, 2}}, Payload: []byte{9, 8, 7}}
	if err := pkt.SetExtension(1, []byte{0xaa, 0xbb}); err != nil {
		t.Fatal(err)
	}
	padded := pkt
	padded.Padding, padded.PaddingSize = true, 4
	for _, tc := range []struct {
		name string
		pkt  rtp.Packet
	}{{"csrc and extension", pkt}, {"padding", padded}} {
		b, err := tc.pkt.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		seq, ts, marker, payload, ok := parseRTP(b)
		if !ok || seq != 65535 || ts != 123456 || !marker || string(payload) != string([]byte{9, 8, 7}) {
			t.Errorf("%s: got seq %d ts %d marker %v payload %v ok %v", tc.name, seq, ts, marker, payload, ok)
		}
	}
	for _, bad := range [][]byte{nil, make([]byte, 11), {0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}} {
		if _, _, _, _, ok := parseRTP(bad); ok {
			t.Errorf("parsed a bad packet % x", bad)
		}
	}
}

func FuzzParseRTP(f *testing.F) {
	f.Add([]byte{0x80, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0x10, 0})
	f.Add([]byte{0xb1, 0xe0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0xbe, 0xde, 0, 1, 1, 2, 3, 4, 5, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _, payload, ok := parseRTP(b)
		if ok {
			vp8Start(payload)
			h264Start(payload)
		}
	})
}

func TestVP8Start(t *testing.T) {
	for _, tc := range []struct {
		name       string
		p          []byte
		start, key bool
	}{
		{"start of a key frame, no extension", []byte{0x10, 0x00}, true, true},
		{"start of an inter frame", []byte{0x10, 0x01}, true, false},
		{"15-bit picture id, key frame", []byte{0x90, 0x80, 0x81, 0x23, 0x00}, true, true},
		{"7-bit picture id, TL0PICIDX and TID, inter", []byte{0x90, 0xe0, 0x05, 0x01, 0x20, 0x01}, true, false},
		{"continuation of a frame", []byte{0x00, 0x00}, false, false},
		{"start of partition 1", []byte{0x11, 0x00}, false, false},
		{"truncated", []byte{0x90}, false, false},
	} {
		start, key := vp8Start(tc.p)
		if start != tc.start || key != tc.key {
			t.Errorf("%s: start %v key %v, want %v %v", tc.name, start, key, tc.start, tc.key)
		}
	}
}

func TestH264Start(t *testing.T) {
	for _, tc := range []struct {
		name       string
		p          []byte
		start, key bool
	}{
		{"IDR slice", []byte{0x65, 0x88}, true, true},
		{"non-IDR slice", []byte{0x41, 0x9a}, true, false},
		{"STAP-A with SPS and PPS", []byte{0x78, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce}, true, true},
		{"FU-A start of an IDR", []byte{0x7c, 0x85, 0x88}, true, true},
		{"FU-A middle of an IDR", []byte{0x7c, 0x05, 0x88}, false, false},
		{"FU-A start of a non-IDR", []byte{0x5c, 0x81, 0x9a}, true, false},
		{"empty", nil, false, false},
	} {
		start, key := h264Start(tc.p)
		if start != tc.start || key != tc.key {
			t.Errorf("%s: start %v key %v, want %v %v", tc.name, start, key, tc.start, tc.key)
		}
	}
}

// packetize turns frames into RTP packets the way a publisher's track does.
func packetize(t *testing.T, frames [][]byte) []*rtp.Packet {
	t.Helper()
	p := rtp.NewPacketizer(200, 96, 1, &codecs.VP8Payloader{EnablePictureID: true}, rtp.NewFixedSequencer(65530), 90000)
	var out []*rtp.Packet
	for _, f := range frames {
		out = append(out, p.Packetize(f, 3000)...)
	}
	return out
}

func feed(st *trackStats, pkts []*rtp.Packet, skip map[int]bool) {
	for i, p := range pkts {
		if skip[i] {
			continue
		}
		b, _ := p.Marshal()
		st.add(b, int64(i+1))
	}
}

// TestTrackStatsKeyframeAndLoss: a keyframe counts once all its packets
// arrived; one missing packet spoils it; sequence numbers wrap; a frame that
// cannot be decoded before the first keyframe asks for one, not too often.
func TestTrackStatsKeyframeAndLoss(t *testing.T) {
	key := make([]byte, 500) // 0x00 first byte: a VP8 key frame
	inter := append([]byte{0x01}, make([]byte, 499)...)
	pkts := packetize(t, [][]byte{inter, key, inter, key})
	perFrame := len(pkts) / 4

	st := newTrackStats(webrtc.RTPCodecTypeVideo, webrtc.MimeTypeVP8)
	asked := 0
	st.requestKeyframe = func() { asked++ }
	feed(st, pkts, map[int]bool{perFrame + 1: true}) // a packet inside the first keyframe is lost
	// The undecodable inter frame asks; the spoiled keyframe, within keyframeRetry, does not.
	if asked != 1 || st.requests.Load() != 1 {
		t.Errorf("keyframe requests: %d (counted %d), want 1", asked, st.requests.Load())
	}
	if got := st.keyframes.Load(); got != 1 {
		t.Errorf("whole keyframes: %d, want 1 (the second one)", got)
	}
	if at := st.firstKeyAt.Load(); at != int64(len(pkts)) {
		t.Errorf("first whole keyframe at packet %d, want %d", at, len(pkts))
	}
	c := st.snapshot()
	if c.packets != uint64(len(pkts)-1) || c.highest-c.first+1 != int64(len(pkts)) {
		t.Errorf("counted %d packets over %d sequence numbers, want %d over %d", c.packets, c.highest-c.first+1, len(pkts)-1, len(pkts))
	}
	if _, _, expected := windowDelta(counters{highest: -1}, c); expected != uint64(len(pkts)) {
		t.Errorf("expected %d packets, want %d", expected, len(pkts))
	}
}

func TestWindowDelta(t *testing.T) {
	a := counters{packets: 100, bytes: 1000, highest: 65600, first: 65500}
	b := counters{packets: 190, bytes: 1900, highest: 65700, first: 65500}
	if p, by, x := windowDelta(a, b); p != 90 || by != 900 || x != 100 {
		t.Errorf("delta: %d packets %d bytes %d expected, want 90 900 100", p, by, x)
	}
	if p, _, x := windowDelta(a, counters{highest: -1}); p != 0 || x != 0 {
		t.Errorf("nothing received: %d packets %d expected", p, x)
	}
}

func TestSummarize(t *testing.T) {
	vs := make([]float64, 0, 100)
	for i := 100; i >= 1; i-- {
		vs = append(vs, float64(i))
	}
	s := summarize(vs)
	if s != (Summary{N: 100, Min: 1, Median: 50, P95: 95, Max: 100}) {
		t.Errorf("summary of 1..100: %+v", s)
	}
	if s := summarize([]float64{7}); s != (Summary{N: 1, Min: 7, Median: 7, P95: 7, Max: 7}) {
		t.Errorf("summary of one value: %+v", s)
	}
	if s := summarize(nil); s != (Summary{}) {
		t.Errorf("summary of nothing: %+v", s)
	}
}
