package sfu

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

func TestIsKeyframeStart(t *testing.T) {
	tests := []struct {
		name    string
		mime    string
		payload []byte
		want    bool
	}{
		{"vp8 key frame", webrtc.MimeTypeVP8, []byte{0x10, 0x00, 0x9d}, true},
		{"vp8 inter frame", webrtc.MimeTypeVP8, []byte{0x10, 0x01, 0x9d}, false},
		{"vp8 continuation", webrtc.MimeTypeVP8, []byte{0x00, 0x00}, false},
		{"vp8 other partition", webrtc.MimeTypeVP8, []byte{0x11, 0x00}, false},
		{"vp8 7-bit picture id", webrtc.MimeTypeVP8, []byte{0x90, 0x80, 0x05, 0x00}, true},
		{"vp8 15-bit picture id", webrtc.MimeTypeVP8, []byte{0x90, 0x80, 0x85, 0x05, 0x00}, true},
		{"vp8 15-bit picture id, inter", webrtc.MimeTypeVP8, []byte{0x90, 0x80, 0x85, 0x05, 0x01}, false},
		{"vp8 picture id, tl0picidx, tid", webrtc.MimeTypeVP8, []byte{0x90, 0xe0, 0x05, 0x07, 0x20, 0x00}, true},
		{"vp8 truncated extension", webrtc.MimeTypeVP8, []byte{0x90, 0x80}, false},
		{"vp8 empty", webrtc.MimeTypeVP8, nil, false},
		{"h264 IDR", webrtc.MimeTypeH264, []byte{0x65, 0x88}, true},
		{"h264 SPS", webrtc.MimeTypeH264, []byte{0x67, 0x42}, true},
		{"h264 P slice", webrtc.MimeTypeH264, []byte{0x41, 0x9a}, false},
		{"h264 STAP-A with SPS", webrtc.MimeTypeH264, []byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce}, true},
		{"h264 STAP-A without", webrtc.MimeTypeH264, []byte{0x78, 0x00, 0x02, 0x41, 0x42}, false},
		{"h264 STAP-A bad size", webrtc.MimeTypeH264, []byte{0x78, 0x00, 0x09, 0x67}, false},
		{"h264 FU-A IDR start", webrtc.MimeTypeH264, []byte{0x7c, 0x85, 0x00}, true},
		{"h264 FU-A IDR middle", webrtc.MimeTypeH264, []byte{0x7c, 0x05, 0x00}, false},
		{"h264 FU-A P start", webrtc.MimeTypeH264, []byte{0x7c, 0x81, 0x00}, false},
		{"opus", webrtc.MimeTypeOpus, []byte{0x00}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsKeyframeStart(tc.mime, tc.payload); got != tc.want {
				t.Errorf("IsKeyframeStart(%s, % x) = %v, want %v", tc.mime, tc.payload, got, tc.want)
			}
		})
	}
}

func TestPacketCache(t *testing.T) {
	c := NewPacketCache(8)
	put := func(seq uint16, payload string, key bool) {
		p := newPacket()
		b := marshal(t, seq, []byte(payload))
		if err := p.parse(copy(p.buf[:], b)); err != nil {
			t.Fatal(err)
		}
		p.Keyframe = key
		c.Store(p)
		p.Release()
	}
	put(3, "three", true)
	put(11, "eleven", false) // same slot as 3: overwrites it, and the keyframe with it
	if _, ok := c.LastKeyframe(); ok {
		t.Error("an overwritten keyframe is still reported as cached")
	}
	put(4, "four", true)
	buf := make([]byte, maxPacketSize)
	tests := []struct {
		seq  uint16
		dst  []byte
		want string
	}{
		{4, buf, "four"},
		{11, buf, "eleven"},
		{3, buf, ""},     // overwritten
		{6, buf, ""},     // never stored
		{4, buf[:2], ""}, // destination too small
		{65535, buf, ""}, // empty slot
	}
	for _, tc := range tests {
		n := c.Copy(tc.seq, tc.dst)
		var got string
		if n > 0 {
			var p rtp.Packet
			if err := p.Unmarshal(tc.dst[:n]); err != nil {
				t.Fatal(err)
			}
			got = string(p.Payload)
		}
		if got != tc.want {
			t.Errorf("Copy(%d) = %q, want %q", tc.seq, got, tc.want)
		}
	}
	if k, ok := c.LastKeyframe(); !ok || k != 4 {
		t.Errorf("LastKeyframe = %d, %v; want 4", k, ok)
	}
}

// recordingWriter is a webrtc.TrackLocalWriter that keeps what it is given.
// While notReady, it drops writes and says (0, nil), as pion's sender does
// before the subscriber's SRTP is up.
type recordingWriter struct {
	packets  []rtp.Packet
	keep     bool
	notReady bool
}

func (w *recordingWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	if w.notReady {
		return 0, nil
	}
	if w.keep {
		w.packets = append(w.packets, rtp.Packet{Header: *h, Payload: append([]byte(nil), payload...)})
	}
	return len(payload), nil
}

func (w *recordingWriter) Write(b []byte) (int, error) { return len(b), nil }

func vp8Codec() webrtc.RTPCodecParameters {
	return webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}
}

// boundDownTrack makes a down track bound to w and attached to up.
func boundDownTrack(up *LocalUpTrack, w webrtc.TrackLocalWriter, ssrc uint32, pt uint8) *RTPDownTrack {
	d := NewRTPDownTrack("video", "pub", up)
	d.bound.Store(&binding{ssrc: ssrc, pt: pt, w: w})
	d.attach()
	return d
}

func marshal(t testing.TB, seq uint16, payload []byte) []byte {
	b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, SSRC: 1234}, Payload: payload}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A keyframe written before the subscriber's transport is ready is lost, but
// it is still in the cache: once the transport is up, the down track starts
// by replaying the cached keyframe and what followed it, so the subscriber
// neither starts mid-frame nor waits for the publisher's next keyframe.
func TestDownTrackStartsAtAKeyframeThatWentOut(t *testing.T) {
	up := NewUpTrack("video", webrtc.RTPCodecTypeVideo, vp8Codec(), 1234, nil)
	w := &recordingWriter{keep: true, notReady: true}
	d := boundDownTrack(up, w, 999, 100)
	up.Forward(marshal(t, 1, []byte{0x10, 0x00, 0xaa})) // key, lost: SRTP not up
	up.Flush()
	w.notReady = false
	up.Forward(marshal(t, 2, []byte{0x00, 0xbb}))       // rest of that keyframe: replay 1, then 2
	up.Forward(marshal(t, 3, []byte{0x10, 0x01, 0xcc})) // delta
	up.Flush()
	var seqs []uint16
	for _, p := range w.packets {
		seqs = append(seqs, p.SequenceNumber)
	}
	if !slices.Equal(seqs, []uint16{1, 2, 3}) {
		t.Fatalf("forwarded %v, want [1 2 3]: the cached keyframe, then on", seqs)
	}
	if st := d.Stats(); st.Dropped != 1 || st.Packets != 3 || st.Replayed != 1 {
		t.Errorf("down stats %+v, want 1 dropped, 3 sent, 1 replayed", st)
	}
}

func TestDownTrackStartsAtKeyframeAndRewritesHeader(t *testing.T) {
	up := NewUpTrack("video", webrtc.RTPCodecTypeVideo, vp8Codec(), 1234, nil)
	w := &recordingWriter{keep: true}
	d := boundDownTrack(up, w, 999, 100)
	up.Forward(marshal(t, 1, []byte{0x10, 0x01, 0xaa})) // delta: dropped
	up.Forward(marshal(t, 2, []byte{0x10, 0x00, 0xbb})) // key: starts
	up.Forward(marshal(t, 3, []byte{0x00, 0xcc}))       // continuation
	up.Forward([]byte{0x80})                            // garbage: counted, not forwarded
	up.Flush()
	if len(w.packets) != 2 {
		t.Fatalf("forwarded %d packets, want 2 (from the keyframe on)", len(w.packets))
	}
	for i, p := range w.packets {
		if p.SSRC != 999 || p.PayloadType != 100 {
			t.Errorf("packet %d: ssrc %d pt %d, want the subscriber's 999/100", i, p.SSRC, p.PayloadType)
		}
		if p.SequenceNumber != uint16(i+2) {
			t.Errorf("packet %d: seq %d", i, p.SequenceNumber)
		}
	}
	if !bytes.Equal(w.packets[0].Payload, []byte{0x10, 0x00, 0xbb}) {
		t.Errorf("payload changed: % x", w.packets[0].Payload)
	}
	if st := up.Stats(); st.Packets != 3 || st.BadPackets != 1 {
		t.Errorf("up stats %+v", st)
	}
	if st := d.Stats(); st.Dropped != 1 || st.Packets != 2 {
		t.Errorf("down stats %+v", st)
	}

	// A NACK for seq 3 and (bitmask) 4 retransmits 3 from the cache; 4 was never seen.
	d.HandleRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{Nacks: []rtcp.NackPair{{PacketID: 3, LostPackets: 0x1}}}})
	if len(w.packets) != 3 || w.packets[2].SequenceNumber != 3 || w.packets[2].SSRC != 999 {
		t.Fatalf("NACK did not retransmit seq 3 with the subscriber's SSRC: %+v", w.packets[len(w.packets)-1].Header)
	}
	if st := d.Stats(); st.Retransmits != 1 || st.NACKs != 1 {
		t.Errorf("down stats after NACK %+v", st)
	}
	d.detach()
	up.Forward(marshal(t, 5, []byte{0x10, 0x01}))
	up.Flush()
	if len(w.packets) != 3 {
		t.Error("a removed down track still receives packets")
	}
}

// A viewer's REMB reaches the publisher as a cap only while that viewer
// reports loss; without loss the publisher is left to its own estimate
// (uncapped), so one dip in a viewer's estimate cannot hold the call low.
func TestREMBReachesPublisherAsLowestEstimate(t *testing.T) {
	var sent []rtcp.Packet
	up := NewUpTrack("video", webrtc.RTPCodecTypeVideo, vp8Codec(), 77, func(p []rtcp.Packet) error {
		sent = append(sent, p...)
		return nil
	})
	last := func() *rtcp.ReceiverEstimatedMaximumBitrate {
		var r *rtcp.ReceiverEstimatedMaximumBitrate
		for _, p := range sent {
			if x, ok := p.(*rtcp.ReceiverEstimatedMaximumBitrate); ok {
				r = x
			}
		}
		return r
	}
	a, b := boundDownTrack(up, &recordingWriter{}, 1, 96), boundDownTrack(up, &recordingWriter{}, 2, 96)
	b.HandleRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: 300_000}})
	up.rembLast = time.Time{} // next estimate is due at once
	a.HandleRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: 900_000}})
	if r := last(); r == nil || r.Bitrate != uncappedREMB || len(r.SSRCs) != 1 || r.SSRCs[0] != 77 {
		t.Fatalf("no viewer losing packets: publisher got REMB %+v, want %d (uncapped) for SSRC 77", r, uncappedREMB)
	}
	// b reports 10 % loss: its estimate is now a cap.
	b.HandleRTCP([]rtcp.Packet{&rtcp.ReceiverReport{Reports: []rtcp.ReceptionReport{{SSRC: 2, FractionLost: 26}}}})
	b.HandleRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: 300_000}})
	up.rembLast = time.Time{}
	a.HandleRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: 900_000}})
	if r := last(); r == nil || r.Bitrate != 300_000 {
		t.Fatalf("a congested viewer at 300 kbit/s: publisher got REMB %+v, want 300000", r)
	}
}

func FuzzIsKeyframeStart(f *testing.F) {
	for _, seed := range [][]byte{{0x10, 0x00}, {0x90, 0xe0, 0x05, 0x07, 0x20, 0x00}, {0x78, 0x00, 0x02, 0x67, 0x42}, {0x7c, 0x85}} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		_ = IsKeyframeStart(webrtc.MimeTypeVP8, p)
		_ = IsKeyframeStart(webrtc.MimeTypeH264, p)
	})
}

// FuzzForward feeds arbitrary datagrams to an up track, as a publisher (or
// an attacker) could: it must never panic, and what it forwards and caches is
// exactly what parsed.
func FuzzForward(f *testing.F) {
	f.Add(marshal(f, 7, []byte{0x10, 0x00, 1, 2, 3}))
	f.Add([]byte{0x80, 0x60, 0x00})
	f.Add([]byte{0x90, 0x60, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xde, 0x00, 0x01, 0x10, 0xff, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		up := NewUpTrack("video", webrtc.RTPCodecTypeVideo, vp8Codec(), 1, nil)
		w := &recordingWriter{keep: true}
		defer up.End()
		boundDownTrack(up, w, 5, 96)
		up.Forward(data)
		up.Flush()
		var want rtp.Packet
		if err := want.Unmarshal(data); err != nil {
			if up.Stats().BadPackets != 1 || len(w.packets) != 0 {
				t.Fatalf("an unparsable packet was forwarded")
			}
			return
		}
		buf := make([]byte, maxPacketSize)
		if n := up.CopyPacket(want.SequenceNumber, buf); len(data) <= maxPacketSize && !bytes.Equal(buf[:n], data) {
			t.Fatalf("cache holds % x, want % x", buf[:n], data)
		}
		for _, p := range w.packets {
			if !bytes.Equal(p.Payload, want.Payload) {
				t.Fatalf("forwarded payload % x, want % x", p.Payload, want.Payload)
			}
		}
	})
}

// BenchmarkForward measures the forwarding path from one publisher's packet
// to N subscribers' writes (SRTP and the socket excluded: see
// BenchmarkForwardLoopback for those). One op is one packet written to one
// subscriber; the target is 0 allocs/op.
func BenchmarkForward(b *testing.B) {
	for _, subs := range []int{1, 10, 100} {
		b.Run(map[int]string{1: "subs=1", 10: "subs=10", 100: "subs=100"}[subs], func(b *testing.B) {
			up := NewUpTrack("video", webrtc.RTPCodecTypeVideo, vp8Codec(), 1, nil)
			w := &recordingWriter{}
			for i := 0; i < subs; i++ {
				boundDownTrack(up, w, uint32(100+i), 96)
			}
			payload := make([]byte, 1100)
			payload[0] = 0x10 // a keyframe start, so every down track starts at once
			data := marshal(b, 0, payload)
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			for i := 0; i < b.N; i += subs {
				data[2], data[3] = byte(i>>8), byte(i)
				up.Forward(data)
			}
			up.Flush()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
		})
	}
}

// Padding-only packets (bandwidth probes) are not forwarded, and the
// subscriber's numbering closes over them: it sees no gap, and a NACK for a
// packet sent after the padding is answered with that packet.
func TestDownTrackDropsPaddingWithoutAGap(t *testing.T) {
	up := NewUpTrack("video", webrtc.RTPCodecTypeVideo, vp8Codec(), 1234, nil)
	defer up.End()
	w := &recordingWriter{keep: true}
	d := boundDownTrack(up, w, 999, 100)
	padding := func(seq uint16) []byte {
		b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, Padding: true, PayloadType: 96, SequenceNumber: seq, Timestamp: 3000, SSRC: 1234},
			PaddingSize: 4}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	up.Forward(marshal(t, 10, []byte{0x10, 0x00, 0xaa})) // keyframe
	up.Forward(padding(11))
	up.Forward(padding(12))
	up.Forward(marshal(t, 13, []byte{0x10, 0x01, 0xbb}))
	up.Forward(marshal(t, 14, []byte{0x10, 0x01, 0xcc}))
	up.Flush()
	var seqs []uint16
	for _, p := range w.packets {
		seqs = append(seqs, p.SequenceNumber)
	}
	if !slices.Equal(seqs, []uint16{10, 11, 12}) {
		t.Fatalf("subscriber saw sequence numbers %v, want [10 11 12]", seqs)
	}
	d.HandleRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{Nacks: []rtcp.NackPair{{PacketID: 11}}}})
	last := w.packets[len(w.packets)-1]
	if len(w.packets) != 4 || last.SequenceNumber != 11 || !bytes.Equal(last.Payload, []byte{0x10, 0x01, 0xbb}) {
		t.Fatalf("NACK for 11 retransmitted %+v % x, want the packet sent as 11 (publisher's 13)", last.Header, last.Payload)
	}
}

func TestPickLayer(t *testing.T) {
	rates := []uint64{100_000, 300_000, 1_000_000}
	tests := []struct {
		name      string
		in        layerInput
		want      int
		wantProbe bool
	}{
		{"one layer", layerInput{bitrates: rates[:1], estimate: 10}, 0, false},
		{"the viewer asked for low", layerInput{bitrates: rates, cur: 2, estimate: 5e6, preferLow: true}, 0, false},
		{"no estimate yet: the highest", layerInput{bitrates: rates, cur: 0}, 2, false},
		{"an estimate that fits the top moves up at once", layerInput{bitrates: rates, cur: 0, estimate: 1_300_000}, 2, false},
		{"up only as far as it fits", layerInput{bitrates: rates, cur: 0, estimate: 400_000}, 1, false},
		{"a low estimate without loss is a cautious start", layerInput{bitrates: rates, cur: 2, estimate: 300_000}, 2, false},
		{"a low estimate with loss is congestion", layerInput{bitrates: rates, cur: 2, estimate: 400_000, loss: 40}, 1, false},
		{"congested below every layer: the lowest", layerInput{bitrates: rates, cur: 2, estimate: 50_000, loss: 40}, 0, false},
		{"loss alone, the estimate still fits: stay", layerInput{bitrates: rates, cur: 1, estimate: 350_000, loss: 40}, 1, false},
		{"quiet long enough after a move down: try one up", layerInput{bitrates: rates, cur: 0, estimate: 110_000, quiet: 9 * time.Second, probeWait: 8 * time.Second}, 1, true},
		{"not quiet long enough: stay", layerInput{bitrates: rates, cur: 0, estimate: 110_000, quiet: 3 * time.Second, probeWait: 8 * time.Second}, 0, false},
		{"no probe while losing", layerInput{bitrates: rates, cur: 0, estimate: 110_000, loss: 30, quiet: time.Minute, probeWait: 8 * time.Second}, 0, false},
		{"no probe past the top", layerInput{bitrates: rates, cur: 2, estimate: 2e6, quiet: time.Minute, probeWait: 8 * time.Second}, 2, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, probe := pickLayer(tc.in)
			if got != tc.want || probe != tc.wantProbe {
				t.Errorf("pickLayer(%+v) = %d, %v; want %d, %v", tc.in, got, probe, tc.want, tc.wantProbe)
			}
		})
	}
}

// An H264 keyframe is SPS and PPS (here in a STAP-A), then the IDR slice
// (an FU-A), all with one timestamp: each is a keyframe start by itself,
// but only the first packet is flagged, so a new viewer's replay starts at
// the SPS, without which no decoder can read the IDR. A retransmitted SPS
// (an earlier sequence number) moves the start back to it; the next
// keyframe moves it on.
func TestH264KeyframeStartsAtItsSPS(t *testing.T) {
	h264 := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000}, PayloadType: 102}
	up := NewUpTrack("video", webrtc.RTPCodecTypeVideo, h264, 1234, nil)
	stapA := []byte{24, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce} // SPS, PPS
	fuIDR := []byte{28, 0x80 | 5, 0xaa}                     // FU-A start of an IDR slice
	fuEnd := []byte{28, 0x40 | 5, 0xbb}
	delta := []byte{1, 0xcc} // a non-IDR slice
	send := func(seq uint16, ts uint32, payload []byte) {
		b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 102, SequenceNumber: seq, Timestamp: ts, SSRC: 1234}, Payload: payload}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		up.Forward(b)
	}
	key := func(want uint16, when string) {
		t.Helper()
		if got, ok := up.LastKeyframe(); !ok || got != want {
			t.Errorf("%s: the newest keyframe starts at %d (%v), want %d", when, got, ok, want)
		}
	}
	send(10, 9000, stapA)
	send(11, 9000, fuIDR)
	send(12, 9000, fuEnd)
	send(13, 12000, delta)
	key(10, "SPS+PPS, then the IDR")

	send(21, 30000, fuIDR) // the SPS+PPS packet 20 is late
	send(22, 30000, fuEnd)
	key(21, "an IDR whose SPS has not come")
	send(20, 30000, stapA) // its retransmission
	key(20, "the SPS retransmitted")
	send(30, 60000, stapA)
	send(31, 60000, fuIDR)
	key(30, "the next keyframe")
}
