package loadtest

import (
	"encoding/binary"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

// trackStats counts what one subscriber receives on one remote track. Only
// the goroutine reading the track writes it (the frame state is that
// goroutine's alone); the counters are atomics so the progress line and the
// measurement window can read them at any time without stopping the reader.
type trackStats struct {
	video bool
	start func(payload []byte) (frameStart, keyframe bool)
	// requestKeyframe sends the server a PLI; nil for audio.
	requestKeyframe func()

	requests atomic.Uint64 // PLIs sent
	lastReq  int64         // ns since the run began of the last PLI; the reader's own

	packets       atomic.Uint64
	bytes         atomic.Uint64
	first         atomic.Int64 // extended sequence number of the first packet
	highest       atomic.Int64 // highest extended sequence number, -1 before the first packet
	firstPacketAt atomic.Int64 // ns since the run began, 0 = none yet
	firstKeyAt    atomic.Int64 // ns since the run began of the first complete keyframe, 0 = none yet
	keyframes     atomic.Uint64

	// Frame assembly, owned by the reader.
	inFrame    bool
	frameTS    uint32
	startOK    bool // the frame's first packet starts a frame
	contiguous bool // no sequence gap inside the frame so far
	keyframe   bool
	prevExt    int64
	prevMarker bool
}

func newTrackStats(kind webrtc.RTPCodecType, mime string) *trackStats {
	st := &trackStats{video: kind == webrtc.RTPCodecTypeVideo}
	st.highest.Store(-1)
	switch {
	case strings.EqualFold(mime, webrtc.MimeTypeVP8):
		st.start = vp8Start
	case strings.EqualFold(mime, webrtc.MimeTypeH264):
		st.start = h264Start
	}
	return st
}

// readTrack counts every packet of tr until it ends. It runs on the goroutine
// pion (or the signaling client) gives each remote track, so a subscriber
// costs no goroutine of ours.
func readTrack(tr *webrtc.TrackRemote, st *trackStats, since func() int64) {
	buf := make([]byte, 1600)
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			return
		}
		st.add(buf[:n], since())
	}
}

// add accounts one RTP packet that arrived at now (ns since the run began).
func (st *trackStats) add(pkt []byte, now int64) {
	seq, ts, marker, payload, ok := parseRTP(pkt)
	if !ok {
		return
	}
	high := st.highest.Load()
	var ext int64
	if high < 0 {
		ext = int64(seq)
		st.first.Store(ext)
		st.highest.Store(ext)
		st.firstPacketAt.Store(max(now, 1))
	} else {
		// The nearest extended number with these low 16 bits: handles wrap and reordering.
		ext = high + int64(int16(seq-uint16(high)))
		if ext > high {
			st.highest.Store(ext)
		}
	}
	st.packets.Add(1)
	st.bytes.Add(uint64(len(pkt)))
	if st.video && st.start != nil {
		st.frame(ext, ts, marker, payload, now)
	}
	st.prevExt, st.prevMarker = ext, marker
}

// frame follows frame boundaries (a new RTP timestamp starts a frame, the
// marker bit ends it) and records the first keyframe received whole: its
// first packet starts a frame and no packet up to the marker is missing.
func (st *trackStats) frame(ext int64, ts uint32, marker bool, payload []byte, now int64) {
	start, key := st.start(payload)
	follows := st.packets.Load() > 1 && ext == st.prevExt+1
	if !st.inFrame || ts != st.frameTS {
		st.inFrame, st.frameTS = true, ts
		st.startOK, st.contiguous, st.keyframe = start, true, key
	} else {
		st.contiguous = st.contiguous && follows
		st.keyframe = st.keyframe || key
	}
	if !marker {
		return
	}
	switch {
	case st.startOK && st.contiguous && st.keyframe:
		st.keyframes.Add(1)
		if st.firstKeyAt.Load() == 0 {
			st.firstKeyAt.Store(max(now, 1))
		}
	case st.firstKeyAt.Load() == 0 && st.requestKeyframe != nil && (st.lastReq == 0 || now-st.lastReq >= int64(keyframeRetry)):
		// A frame that cannot be decoded before any keyframe: ask, as a
		// browser's receiver does, so an SFU that waits for the viewer to
		// ask is measured the way browsers use it.
		st.lastReq = now
		st.requests.Add(1)
		st.requestKeyframe()
	}
	st.inFrame = false
}

// keyframeRetry spaces a subscriber's keyframe requests while it has none.
const keyframeRetry = 500 * time.Millisecond

// parseRTP reads the fields the counters need from an RTP packet without
// allocating (RFC 3550 5.1): sequence number, timestamp, marker and the
// payload without CSRCs, header extension and padding.
func parseRTP(b []byte) (seq uint16, ts uint32, marker bool, payload []byte, ok bool) {
	if len(b) < 12 || b[0]>>6 != 2 {
		return 0, 0, false, nil, false
	}
	off := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 {
		if len(b) < off+4 {
			return 0, 0, false, nil, false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(b[off+2:]))
	}
	end := len(b)
	if b[0]&0x20 != 0 && end > 0 {
		end -= int(b[end-1])
	}
	if off > end {
		return 0, 0, false, nil, false
	}
	return binary.BigEndian.Uint16(b[2:]), binary.BigEndian.Uint32(b[4:]), b[1]&0x80 != 0, b[off:end], true
}

// vp8Start reads a VP8 RTP payload descriptor (RFC 7741 4.2): whether the
// packet starts a frame (S=1, partition 0) and, if so, whether that frame is
// a key frame (the P bit of the frame tag is 0).
func vp8Start(p []byte) (frameStart, keyframe bool) {
	if len(p) < 1 || p[0]&0x10 == 0 || p[0]&0x07 != 0 {
		return false, false
	}
	i := 1
	if p[0]&0x80 != 0 { // X: extension byte
		if len(p) < 2 {
			return false, false
		}
		x := p[1]
		i = 2
		if x&0x80 != 0 { // I: picture id, 7 or 15 bits
			if len(p) <= i {
				return false, false
			}
			if p[i]&0x80 != 0 {
				i += 2
			} else {
				i++
			}
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if x&0x30 != 0 { // T or K: TID/Y/KEYIDX byte
			i++
		}
	}
	if len(p) <= i {
		return true, false
	}
	return true, p[i]&0x01 == 0
}

// h264Start reads an H264 RTP payload (RFC 6184 5.2): whether the packet
// starts a NAL unit (a single NAL, an aggregate, or the first fragment) and
// whether it carries an IDR slice or an SPS.
func h264Start(p []byte) (frameStart, keyframe bool) {
	if len(p) < 1 {
		return false, false
	}
	isKey := func(t byte) bool { return t == nalIDR || t == nalSPS }
	switch t := p[0] & 0x1f; {
	case t >= 1 && t <= 23:
		return true, isKey(t)
	case t == 24: // STAP-A: 16-bit sizes, each followed by a NAL unit
		key := false
		for i := 1; i+2 < len(p); {
			n := int(binary.BigEndian.Uint16(p[i:]))
			i += 2
			if i < len(p) && isKey(p[i]&0x1f) {
				key = true
			}
			i += n
		}
		return true, key
	case t == 28: // FU-A: the S bit of the FU header marks the first fragment
		if len(p) < 2 || p[1]&0x80 == 0 {
			return false, false
		}
		return true, isKey(p[1] & 0x1f)
	}
	return false, false
}

// counters is a copy of one track's counters at an instant.
type counters struct {
	packets, bytes uint64
	highest        int64 // -1 = nothing received yet
	first          int64
}

func (st *trackStats) snapshot() counters {
	if st == nil {
		return counters{highest: -1}
	}
	// The loads are not one atomic read: a packet arriving meanwhile may be
	// counted in one field and not the other, an error of one packet.
	return counters{packets: st.packets.Load(), bytes: st.bytes.Load(), highest: st.highest.Load(), first: st.first.Load()}
}

// windowDelta is what arrived between two snapshots: packets, bytes and the
// packets expected from the sequence numbers (RFC 3550 A.3).
func windowDelta(a, b counters) (packets, bytes, expected uint64) {
	if b.highest < 0 {
		return 0, 0, 0
	}
	packets, bytes = b.packets-a.packets, b.bytes-a.bytes
	if a.highest < 0 {
		return packets, bytes, uint64(b.highest - b.first + 1)
	}
	return packets, bytes, uint64(max(b.highest-a.highest, 0))
}

// since returns a clock of nanoseconds since base (monotonic).
func since(base time.Time) func() int64 {
	return func() int64 { return int64(time.Since(base)) }
}
