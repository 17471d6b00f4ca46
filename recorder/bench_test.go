package recorder

import (
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/stoa-video/stoa/sfu"
)

// BenchmarkRecordPacket measures recording one packet of a 360p-class VP8 +
// Opus stream end to end: the up track's fanout, the recorder's bounded
// queue, reordering, depacketizing, muxing and writing the file. One op is
// one packet; a 300 kbps 360p call is about 80 packets/s of video and 50 of
// audio, so a stream costs 130 × ns/op of CPU time per second.
func BenchmarkRecordPacket(b *testing.B) {
	if testing.Short() {
		b.Skip("short")
	}
	t := &testing.T{}
	c := makeClip(t, 10)
	if t.Failed() || len(c.video) == 0 {
		b.Skip("ffmpeg could not make the clip")
	}
	var pkts []*rtp.Packet
	vp := rtp.NewPacketizer(1200, 96, 1111, &codecs.VP8Payloader{}, rtp.NewRandomSequencer(), 90000)
	for i, fr := range c.video {
		for _, p := range vp.Packetize(fr, 6000) {
			p.Timestamp = uint32(i * 6000)
			pkts = append(pkts, p)
		}
	}
	f := newFeeder(0, false)
	f.senderReports(time.Now(), 0)
	rec, err := Start([]sfu.UpTrack{f.video}, Options{ID: "bench", Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1500)
	b.ReportAllocs()
	b.ResetTimer()
	seqBase, tsBase := uint16(0), uint32(0)
	for i := 0; i < b.N; i++ {
		k := i % len(pkts)
		if k == 0 && i > 0 {
			seqBase += uint16(len(pkts))
			tsBase += uint32(len(c.video) * 6000)
		}
		p := *pkts[k]
		p.SequenceNumber += seqBase
		p.Timestamp += tsBase
		n, err := p.MarshalTo(buf)
		if err != nil {
			b.Fatal(err)
		}
		f.video.Forward(buf[:n])
		if i%32 == 31 { // the pace of a publisher, not a burst the queue cannot hold
			f.video.Flush()
			for rec.bufs[0].Queued() > 0 {
				time.Sleep(10 * time.Microsecond)
			}
		}
	}
	b.StopTimer()
	if _, err := rec.Stop(); err != nil {
		b.Fatal(err)
	}
	if d := rec.Stats().QueueDrops; d > 0 {
		b.Logf("%d packets dropped at the recorder's queue", d)
	}
}
