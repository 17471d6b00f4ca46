package recorder

import (
	"time"

	"github.com/stoa-video/stoa/sfu"
)

// How long a track waits for a missing packet (the publisher's NACK
// retransmission, asked for by the SFU's receiver) before it gives the gap
// up: long enough for a retransmission over a poor mobile link, short enough
// that the recorder does not hold seconds of video in memory. The wait is
// measured in media time (how far the stream has moved on past the gap), so
// it means the same whatever the pace the packets come at.
const (
	videoWait = 2 * time.Second
	audioWait = 300 * time.Millisecond
)

// ringSize bounds the packets a track holds while it waits for a gap.
const (
	videoRing = 2048
	audioRing = 256
)

// slot is one held packet and its extended sequence number.
type slot struct {
	p   *sfu.Packet
	ext int64
}

// jitterBuffer puts one track's packets back in sequence order, waits for
// retransmissions of missing ones for a time, and hands out runs of packets
// in order: a frame for video (the packets of one timestamp, up to the
// marker), a packet for audio. It holds references to the fanout's packets,
// never copies.
type jitterBuffer struct {
	video bool
	wait  int64 // in RTP clock ticks
	ring  []slot

	started bool
	head    int64 // the next sequence number to hand out
	high    int64 // the highest seen
	newest  int64 // the highest RTP timestamp seen, extended
	haveGap bool
	gapAt   int64 // newest when the gap at head was first seen

	lost, late uint64
}

func newJitterBuffer(video bool, clock int64) *jitterBuffer {
	j := &jitterBuffer{video: video, wait: int64(audioWait) * clock / int64(time.Second), ring: make([]slot, audioRing)}
	if video {
		j.wait, j.ring = int64(videoWait)*clock/int64(time.Second), make([]slot, videoRing)
	}
	return j
}

// extendTS turns an RTP timestamp into one that does not wrap, near newest.
func (j *jitterBuffer) extendTS(ts uint32) int64 {
	if !j.started {
		return int64(ts)
	}
	return j.newest + int64(int32(ts-uint32(j.newest)))
}

// extend turns a 16-bit sequence number into one that does not wrap.
func (j *jitterBuffer) extend(seq uint16) int64 {
	if !j.started {
		return int64(seq)
	}
	return j.high + int64(int16(seq-uint16(j.high)))
}

// push holds p (retaining it). It reports false for a packet that came too
// late (its place was given up) or twice.
func (j *jitterBuffer) push(p *sfu.Packet) bool {
	ext := j.extend(p.SequenceNumber)
	ts := j.extendTS(p.Timestamp)
	if !j.started {
		j.started, j.head, j.high, j.newest = true, ext, ext, ts
	}
	if ext < j.head {
		j.late++
		return false
	}
	if ext-j.head >= int64(len(j.ring)) {
		// Too far ahead to hold the gap open: give up what lies before.
		j.skipTo(ext - int64(len(j.ring)) + 1)
	}
	s := &j.ring[ext%int64(len(j.ring))]
	if s.p != nil {
		if s.ext == ext {
			return false
		}
		s.p.Release()
	}
	p.Retain()
	*s = slot{p: p, ext: ext}
	if ext > j.high {
		j.high = ext
	}
	if ts > j.newest {
		j.newest = ts
	}
	return true
}

// at returns the held packet with sequence number ext, or nil.
func (j *jitterBuffer) at(ext int64) *sfu.Packet {
	s := j.ring[ext%int64(len(j.ring))]
	if s.p == nil || s.ext != ext {
		return nil
	}
	return s.p
}

// release drops the packets from head up to (not including) end.
func (j *jitterBuffer) releaseTo(end int64) {
	for ; j.head < end; j.head++ {
		s := &j.ring[j.head%int64(len(j.ring))]
		if s.p != nil && s.ext == j.head {
			s.p.Release()
			*s = slot{}
		}
	}
	j.haveGap = false
}

// skipTo gives up everything before end, counting what was never received.
func (j *jitterBuffer) skipTo(end int64) {
	for e := j.head; e < end; e++ {
		if j.at(e) == nil {
			j.lost++
		}
	}
	j.releaseTo(end)
}

// next returns the next run of packets in order (a frame, or an audio
// packet), and gap=true when packets were given up before it. It returns
// nil when it must wait (final: do not wait, give gaps up). The packets stay
// held until the caller calls releaseTo(head+len(run)).
func (j *jitterBuffer) next(final bool, run []*sfu.Packet) (out []*sfu.Packet, gap bool) {
	for j.started && j.head <= j.high {
		first := j.at(j.head)
		if first == nil {
			if !j.giveUp(final) {
				return nil, gap
			}
			j.skipMissing(j.head)
			gap = true
			continue
		}
		if !j.video {
			return append(run[:0], first), gap
		}
		run = append(run[:0], first)
		for e := j.head + 1; ; e++ {
			if run[len(run)-1].Marker {
				return run, gap
			}
			p := j.at(e)
			if p == nil {
				if e > j.high && !final {
					return nil, gap // the rest of the frame has not come yet
				}
				if e <= j.high && !j.giveUp(final) {
					return nil, gap // a hole in the frame: wait for its retransmission
				}
				// The frame cannot be completed: give it up, and the hole.
				j.skipMissing(e)
				gap = true
				break
			}
			if p.Timestamp != first.Timestamp {
				return run, gap // a frame that lost its marker packet ends at the next timestamp
			}
			run = append(run, p)
		}
	}
	return nil, gap
}

// skipMissing gives up everything before from and the run of missing
// packets that starts there, at once: the wait was for all of them.
func (j *jitterBuffer) skipMissing(from int64) {
	e := from
	for e <= j.high && j.at(e) == nil {
		e++
	}
	j.skipTo(e)
}

// giveUp reports whether the gap at the head has waited long enough.
func (j *jitterBuffer) giveUp(final bool) bool {
	if final {
		return true
	}
	if !j.haveGap {
		j.haveGap, j.gapAt = true, j.newest
	}
	return j.newest-j.gapAt >= j.wait
}

// clear releases every held packet.
func (j *jitterBuffer) clear() {
	for i := range j.ring {
		if j.ring[i].p != nil {
			j.ring[i].p.Release()
			j.ring[i] = slot{}
		}
	}
}
