package recorder

import (
	"fmt"
	"slices"
	"testing"

	"github.com/pion/rtp"

	"github.com/stoa-video/stoa/sfu"
)

// pkt is a test packet: sequence number, RTP timestamp, marker.
type pkt struct {
	seq    uint16
	ts     uint32
	marker bool
}

func (k pkt) packet() *sfu.Packet {
	return &sfu.Packet{Packet: rtp.Packet{Header: rtp.Header{SequenceNumber: k.seq, Timestamp: k.ts, Marker: k.marker}}}
}

// drain takes every run the buffer hands out now, as sequence numbers, with
// a "gap" entry before a run that follows given-up packets.
func drain(j *jitterBuffer, final bool) []string {
	var out []string
	var run []*sfu.Packet
	for {
		got, gap := j.next(final, run)
		if gap {
			out = append(out, "gap")
		}
		if got == nil {
			return out
		}
		seqs := ""
		for i, p := range got {
			if i > 0 {
				seqs += ","
			}
			seqs += fmt.Sprint(p.SequenceNumber)
		}
		out = append(out, seqs)
		j.releaseTo(j.head + int64(len(got)))
		run = got
	}
}

// feed pushes each packet and takes what the buffer hands out after it,
// as the recorder's track does; final then drains it as at the end.
func feed(t *testing.T, j *jitterBuffer, push []pkt, final bool) []string {
	t.Helper()
	var out []string
	for _, k := range push {
		if !j.push(k.packet()) {
			t.Fatalf("push %+v refused", k)
		}
		out = append(out, drain(j, false)...)
	}
	if final {
		out = append(out, drain(j, true)...)
	}
	return out
}

// The jitter buffer hands out whole frames in sequence order, waits for a
// missing packet up to its wait in media time (2 s of video, 300 ms of
// audio at their clocks, from when the gap was first seen), gives every
// gap up at once at the end, and counts what it never got.
func TestJitterBuffer(t *testing.T) {
	const s = 90000 // video ticks per second
	const a = 48000 // audio
	const wrap = 0xFFFFF000
	for _, c := range []struct {
		name  string
		video bool
		push  []pkt
		final bool
		want  []string
		lost  uint64
	}{
		{name: "in order", video: true,
			push: []pkt{{1, 0, false}, {2, 0, true}, {3, 3000, false}, {4, 3000, true}},
			want: []string{"1,2", "3,4"}},
		{name: "reordered", video: true,
			push: []pkt{{1, 0, false}, {3, 3000, false}, {2, 0, true}, {4, 3000, true}},
			want: []string{"1,2", "3,4"}},
		{name: "a frame waits for the rest of its packets", video: true,
			push: []pkt{{1, 0, false}, {2, 0, true}, {3, 3000, false}},
			want: []string{"1,2"}},
		{name: "a hole waits while the stream moves on less than 2 s", video: true,
			push: []pkt{{1, 0, false}, {3, 0, true}, {4, 3000, true}, {5, 2*s - 1, true}}},
		{name: "a hole is given up after 2 s of media", video: true,
			push: []pkt{{1, 0, false}, {3, 0, true}, {4, 3000, true}, {5, 2 * s, true}},
			want: []string{"gap", "3", "4", "5"}, lost: 1},
		{name: "the end gives every hole up at once", video: true,
			push: []pkt{{1, 0, false}, {3, 0, true}, {4, 3000, true}, {6, 6000, false}, {7, 6000, true}}, final: true,
			want: []string{"gap", "3", "4", "gap", "6,7"}, lost: 2},
		{name: "a frame whose marker packet was lost ends at the next timestamp", video: true,
			push: []pkt{{1, 0, false}, {2, 0, false}, {3, 3000, true}},
			want: []string{"1,2", "3"}},
		{name: "sequence numbers wrap", video: true,
			push: []pkt{{65534, 0, false}, {65535, 0, true}, {0, 3000, false}, {1, 3000, true}},
			want: []string{"65534,65535", "0,1"}},
		{name: "timestamps wrap", video: true,
			push: []pkt{{1, wrap, true}, {3, wrap + 3000, true}, {4, (wrap + 3000 + 2*s) & 0xFFFFFFFF, true}},
			want: []string{"1", "gap", "3", "4"}, lost: 1},
		{name: "audio: a packet is a run", video: false,
			push: []pkt{{1, 0, false}, {2, 960, false}, {3, 1920, false}},
			want: []string{"1", "2", "3"}},
		{name: "audio waits less than 300 ms for a missing packet", video: false,
			push: []pkt{{1, 0, false}, {3, 1920, false}, {4, 1920 + a*3/10 - 1, false}},
			want: []string{"1"}},
		{name: "audio gives it up after 300 ms", video: false,
			push: []pkt{{1, 0, false}, {3, 1920, false}, {4, 1920 + a*3/10, false}},
			want: []string{"1", "gap", "3", "4"}, lost: 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			clock := int64(s)
			if !c.video {
				clock = a
			}
			j := newJitterBuffer(c.video, clock)
			defer j.clear()
			if got := feed(t, j, c.push, c.final); !slices.Equal(got, c.want) {
				t.Errorf("runs %q, want %q", got, c.want)
			}
			if j.lost != c.lost || j.late != 0 {
				t.Errorf("lost %d late %d, want %d and 0", j.lost, j.late, c.lost)
			}
		})
	}
}

// A retransmission that comes within the wait fills its hole: the frame is
// whole and nothing is lost. One that comes after its gap was given up is
// late, as is a packet from before the first; a packet pushed twice is
// refused.
func TestJitterBufferRetransmission(t *testing.T) {
	j := newJitterBuffer(true, 90000)
	defer j.clear()
	if got := feed(t, j, []pkt{{1, 0, false}, {3, 0, true}, {4, 3000, true}}, false); got != nil {
		t.Fatalf("with packet 2 missing: %q, want a wait", got)
	}
	if got := feed(t, j, []pkt{{2, 0, false}}, false); !slices.Equal(got, []string{"1,2,3", "4"}) { // the NACK's answer
		t.Errorf("after the retransmission: %q", got)
	}
	if j.lost != 0 {
		t.Errorf("lost %d after the hole was filled", j.lost)
	}
	if got := feed(t, j, []pkt{{6, 6000, true}, {7, 6000 + 2*90000, true}}, false); !slices.Equal(got, []string{"gap", "6", "7"}) {
		t.Errorf("packet 5 never came: %q", got)
	}
	if j.push(pkt{5, 4500, true}.packet()) {
		t.Error("a retransmission after its gap was given up was taken")
	}
	if j.push(pkt{65000, 0, true}.packet()) {
		t.Error("a packet from before the first was taken")
	}
	if j.late != 2 {
		t.Errorf("late %d, want 2", j.late)
	}
	if !j.push(pkt{9, 2*90000 + 9000, false}.packet()) || j.push(pkt{9, 2*90000 + 9000, false}.packet()) {
		t.Error("a packet pushed twice was taken twice (or not once)")
	}
}
