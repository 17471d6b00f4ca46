package recorder

import (
	"encoding/binary"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp/codecs"
	"github.com/stoa-video/stoa/sfu"
)

// frame is one depacketized video frame or audio packet on the recording's
// wall clock.
type frame struct {
	track      int // the recording's index of the track
	video, key bool
	at         time.Time
	data       []byte
	// width and height of a video keyframe; sps and pps of an H264 one.
	width, height int
	sps, pps      []byte
}

// trackRecorder is the down track a recording attaches to one up track (behind
// sfu.Buffered, so it runs on a goroutine of its own and never holds up the
// fanout). It puts packets back in order, depacketizes them and stamps each
// frame with wall-clock time through the publisher's sender reports.
type trackRecorder struct {
	up    sfu.UpTrack
	codec string // vp8, h264, opus
	video bool
	clock int64
	jb    *jitterBuffer
	index int
	out   func(frame)
	// mark tells the recording how far the track has got.
	mark func(int, time.Time)
	// holding says packets wait in the jitter buffer (for a retransmission,
	// or the rest of a frame).
	holding atomic.Bool
	run     []*sfu.Packet
	buf     []byte
	h264    codecs.H264Packet

	needKey bool
	lastKey time.Time // when a keyframe was last asked for

	// The RTP clock: the latest sender-report mapping, or before one comes
	// an anchor at the first packet's arrival.
	mapping    *sfu.TimeMapping
	anchorAt   time.Time
	anchorTS   uint32
	haveAnchor bool

	mu       sync.Mutex
	ended    bool
	frames   uint64
	dropped  uint64
	gapCount uint64
}

func newTrackRecorder(up sfu.UpTrack, index int, out func(frame), mark func(int, time.Time)) *trackRecorder {
	codec := strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(up.Codec().MimeType, "video/"), "audio/"))
	t := &trackRecorder{up: up, codec: codec, video: up.Kind().String() == "video", clock: int64(up.Codec().ClockRate),
		index: index, out: out, mark: mark}
	if t.clock == 0 {
		t.clock = 90000
	}
	t.jb = newJitterBuffer(t.video, t.clock)
	t.needKey = t.video
	t.h264.IsAVC = true
	return t
}

// SetTimeMapping takes the publisher's latest sender report.
func (t *trackRecorder) SetTimeMapping(m sfu.TimeMapping) { t.mapping = &m }

// UpTrackEnded writes out what is held, giving up gaps.
func (t *trackRecorder) UpTrackEnded() { t.flush() }

// WriteRTP holds p and writes out every frame now complete.
func (t *trackRecorder) WriteRTP(p *sfu.Packet) error {
	if t.jb.push(p) {
		t.drain(false)
	}
	return nil
}

// flush writes out everything held, giving up gaps, and releases it.
func (t *trackRecorder) flush() {
	t.mu.Lock()
	done := t.ended
	t.ended = true
	t.mu.Unlock()
	if !done {
		t.drain(true)
		t.jb.clear()
	}
}

func (t *trackRecorder) drain(final bool) {
	for {
		run, gap := t.jb.next(final, t.run)
		if gap {
			t.gapCount++
			if t.video {
				t.needKey = true
				t.askKeyframe()
			}
		}
		if run == nil {
			t.holding.Store(t.jb.head <= t.jb.high)
			return
		}
		t.run = run
		end := t.jb.head + int64(len(run))
		at := t.wallTime(run[0])
		if !t.emit(run, at) {
			t.mark(t.index, at) // dropped: the track has still got this far
		}
		t.jb.releaseTo(end)
	}
}

// keyframeAsk rate-limits the recorder's own keyframe requests (the up
// track coalesces everyone's anyway).
const keyframeAsk = time.Second

func (t *trackRecorder) askKeyframe() {
	if now := time.Now(); now.Sub(t.lastKey) >= keyframeAsk {
		t.lastKey = now
		t.up.RequestKeyframe()
	}
}

// emit depacketizes one run into a frame and hands it on; false says the
// run was dropped.
func (t *trackRecorder) emit(run []*sfu.Packet, at time.Time) bool {
	first := run[0]
	f := frame{track: t.index, video: t.video, key: !t.video || first.Keyframe, at: at}
	if t.video && t.needKey && !f.key {
		t.dropped++
		t.askKeyframe()
		return false
	}
	t.buf = t.buf[:0]
	switch t.codec {
	case "vp8":
		var vp codecs.VP8Packet
		for _, p := range run {
			data, err := vp.Unmarshal(p.Payload)
			if err != nil {
				t.dropped++
				return false
			}
			t.buf = append(t.buf, data...)
		}
		if f.key {
			w, h, err := sfu.VP8FrameSize(t.buf)
			if err != nil {
				t.dropped++
				return false
			}
			f.width, f.height = w, h
		}
	case "h264":
		t.h264 = codecs.H264Packet{IsAVC: true}
		for _, p := range run {
			data, err := t.h264.Unmarshal(p.Payload)
			if err != nil {
				t.dropped++
				return false
			}
			t.buf = append(t.buf, data...)
		}
		if f.key {
			f.sps, f.pps = avcParameterSets(t.buf)
			if f.sps == nil || f.pps == nil {
				t.dropped++ // an IDR without its parameter sets cannot start a file
				return false
			}
			w, h, err := sfu.H264FrameSize(append([]byte{0, 0, 0, 1}, f.sps...))
			if err != nil {
				t.dropped++
				return false
			}
			f.width, f.height = w, h
		}
	default: // opus: the payload is the frame
		t.buf = append(t.buf, first.Payload...)
	}
	if len(t.buf) == 0 {
		return false
	}
	t.needKey = false
	f.data = t.buf
	t.frames++
	t.out(f)
	return true
}

// wallTime maps a packet's RTP timestamp to wall-clock time: through the
// publisher's latest sender report, or, before one has come, through the
// first packet's arrival.
func (t *trackRecorder) wallTime(p *sfu.Packet) time.Time {
	if t.mapping != nil {
		return t.mapping.Time(p.Timestamp)
	}
	if !t.haveAnchor {
		t.haveAnchor, t.anchorAt, t.anchorTS = true, time.Unix(0, p.Arrival), p.Timestamp
	}
	delta := int64(int32(p.Timestamp - t.anchorTS))
	return t.anchorAt.Add(time.Duration(delta * int64(time.Second) / t.clock))
}

// avcParameterSets finds the SPS and PPS among an AVC (length-prefixed)
// access unit's NAL units.
func avcParameterSets(au []byte) (sps, pps []byte) {
	for len(au) >= 4 {
		n := int(binary.BigEndian.Uint32(au))
		au = au[4:]
		if n <= 0 || n > len(au) {
			return sps, pps
		}
		switch au[0] & 0x1f {
		case 7:
			sps = append([]byte(nil), au[:n]...)
		case 8:
			pps = append([]byte(nil), au[:n]...)
		}
		au = au[n:]
	}
	return sps, pps
}

// avcC builds the AVCDecoderConfigurationRecord Matroska carries as an H264
// track's CodecPrivate (ISO/IEC 14496-15 §5.2.4.1), from one SPS and PPS.
func avcC(sps, pps []byte) []byte {
	if len(sps) < 4 {
		return nil
	}
	b := []byte{1, sps[1], sps[2], sps[3], 0xff, 0xe1, byte(len(sps) >> 8), byte(len(sps))}
	b = append(b, sps...)
	b = append(b, 1, byte(len(pps)>>8), byte(len(pps)))
	return append(b, pps...)
}
