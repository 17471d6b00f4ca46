package sfu

import (
	"time"

	"github.com/pion/rtp"
)

// numbering maps an up track's sequence numbers, timestamps and VP8 picture
// ids to a down track's: out = in + offset, in each field's own modulus.
type numbering struct {
	seq    uint16
	ts     uint32
	pid    uint16 // 15-bit
	tl0    uint8
	hasPID bool
}

// numberingEntry is a numbering in force from out sequence number from on,
// for packets of src.
type numberingEntry struct {
	src  *LocalUpTrack
	from uint16
	n    numbering
}

// historyLen is how many numbering changes (layer switches, dropped
// padding) a retransmission can reach back across.
const historyLen = 16

// rewriter is a down track's numbering state: the offsets in force, what was
// last sent, and a short history so a NACK is answered with the packet that
// was actually sent under that sequence number.
type rewriter struct {
	started bool
	cur     numbering
	lastSeq uint16
	lastTS  uint32
	lastAt  int64
	lastPID uint16
	lastTL0 uint8
	havePID bool
	hist    [historyLen]numberingEntry
	histN   int
	next    int
}

// source begins numbering packets of src from p: unchanged for the first
// source (the subscriber sees the publisher's numbers), else continuing
// from the last packet sent, with the timestamp advanced by the time that
// passed, so a layer switch looks to the subscriber like the next frame.
func (r *rewriter) source(src *LocalUpTrack, p *Packet, vp8 bool) {
	if !r.started {
		r.cur = numbering{}
		r.push(src, p.SequenceNumber)
		return
	}
	r.cur.seq = r.lastSeq + 1 - p.SequenceNumber
	clock := int64(src.codec.ClockRate)
	if clock == 0 {
		clock = 90000
	}
	delta := (p.Arrival - r.lastAt) * clock / int64(time.Second)
	if delta < 1 {
		delta = 1
	}
	r.cur.ts = r.lastTS + uint32(delta) - p.Timestamp
	r.cur.hasPID = false
	if vp8 && r.havePID {
		if pid, _, tl0, ok := vp8PictureID(p.Payload); ok {
			r.cur.pid = (r.lastPID + 1 - pid) & 0x7fff
			r.cur.tl0 = r.lastTL0 + 1 - tl0
			r.cur.hasPID = true
		}
	}
	r.push(src, r.lastSeq+1)
}

// switchSource is source for a layer switch.
func (r *rewriter) switchSource(src *LocalUpTrack, p *Packet, vp8 bool) { r.source(src, p, vp8) }

// skip drops one packet (padding) from the numbering: later packets move
// down by one so the subscriber sees no gap.
func (r *rewriter) skip() {
	if !r.started || r.histN == 0 {
		return
	}
	src := r.hist[(r.next+historyLen-1)%historyLen].src
	r.cur.seq--
	r.push(src, r.lastSeq+1)
}

func (r *rewriter) push(src *LocalUpTrack, from uint16) {
	r.hist[r.next] = numberingEntry{src: src, from: from, n: r.cur}
	r.next = (r.next + 1) % historyLen
	if r.histN < historyLen {
		r.histN++
	}
}

// apply writes p's rewritten numbers into hdr and returns the payload to
// send: p's own, or a copy in buf when the picture id must change.
func (r *rewriter) apply(hdr *rtp.Header, p *Packet, n numbering, buf []byte, vp8 bool) []byte {
	hdr.SequenceNumber = p.SequenceNumber + n.seq
	hdr.Timestamp = p.Timestamp + n.ts
	if !vp8 || !n.hasPID || (n.pid == 0 && n.tl0 == 0) {
		return p.Payload
	}
	pid, long, tl0, ok := vp8PictureID(p.Payload)
	if !ok || len(p.Payload) > len(buf) {
		return p.Payload
	}
	out := buf[:copy(buf, p.Payload)]
	setVP8PictureID(out, (pid+n.pid)&0x7fff, long, tl0+n.tl0)
	return out
}

// sent records a packet that went out under hdr.
func (r *rewriter) sent(hdr *rtp.Header, payload []byte, vp8 bool) {
	if r.started && int16(hdr.SequenceNumber-r.lastSeq) <= 0 {
		return // a late packet: what was last sent is unchanged
	}
	r.started = true
	r.lastSeq, r.lastTS = hdr.SequenceNumber, hdr.Timestamp
	if vp8 {
		if pid, _, tl0, ok := vp8PictureID(payload); ok {
			r.lastPID, r.lastTL0, r.havePID = pid, tl0, true
		}
	}
}

// lookup finds which packet was sent as out sequence number seq: its source
// and the numbering it went out with.
func (r *rewriter) lookup(seq uint16) (numberingEntry, bool) {
	if !r.started || int16(seq-r.lastSeq) > 0 {
		return numberingEntry{}, false
	}
	for i := 1; i <= r.histN; i++ {
		e := r.hist[(r.next+historyLen-i)%historyLen]
		if int16(seq-e.from) >= 0 {
			return e, true
		}
	}
	return numberingEntry{}, false
}

// vp8PictureID reads the picture id (15-bit, or 7-bit when long is false)
// and TL0PICIDX of a VP8 payload descriptor (RFC 7741 §4.2).
func vp8PictureID(p []byte) (pid uint16, long bool, tl0 uint8, ok bool) {
	if len(p) < 3 || p[0]&0x80 == 0 || p[1]&0x80 == 0 {
		return 0, false, 0, false
	}
	i := 2
	if p[i]&0x80 != 0 {
		if len(p) < 4 {
			return 0, false, 0, false
		}
		pid, long = uint16(p[i]&0x7f)<<8|uint16(p[i+1]), true
		i += 2
	} else {
		pid = uint16(p[i])
		i++
	}
	if p[1]&0x40 != 0 && len(p) > i {
		tl0 = p[i]
	}
	return pid, long, tl0, true
}

// setVP8PictureID writes a picture id and TL0PICIDX into a payload that
// vp8PictureID accepted.
func setVP8PictureID(p []byte, pid uint16, long bool, tl0 uint8) {
	i := 2
	if long {
		p[i], p[i+1] = 0x80|byte(pid>>8)&0x7f, byte(pid)
		i += 2
	} else {
		p[i] = byte(pid) & 0x7f
		i++
	}
	if p[1]&0x40 != 0 && len(p) > i {
		p[i] = tl0
	}
}
