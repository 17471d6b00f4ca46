package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// Receiver reports are kept cumulatively, so a reader windows them itself,
// and the RTT comes from the sender report each one echoes.
func TestReceiverReports(t *testing.T) {
	var r receiverReports
	t0 := time.Unix(5000, 0)
	ntpA, ntpB := toNTP(t0), toNTP(t0.Add(time.Second))
	r.sent(ntpA, t0)
	r.sent(ntpB, t0.Add(time.Second))
	mid := func(ntp uint64) uint32 { return uint32(ntp >> 16) }
	for _, c := range []struct {
		name     string
		block    rtcp.ReceptionReport
		at       time.Time
		expected int64
		lost     int64
		rtt      time.Duration
	}{
		{"first report, no SR seen yet", rtcp.ReceptionReport{LastSequenceNumber: 1000, TotalLost: 3, Jitter: 900}, t0.Add(100 * time.Millisecond), 1, 3, 0},
		{"echoes SR A, held 40 ms", rtcp.ReceptionReport{LastSequenceNumber: 1200, TotalLost: 13, Jitter: 1800,
			LastSenderReport: mid(ntpA), Delay: uint32(40 * 65536 / 1000)}, t0.Add(100 * time.Millisecond), 201, 13, 60 * time.Millisecond},
		{"wraps its sequence numbers", rtcp.ReceptionReport{LastSequenceNumber: 1<<16 + 5, TotalLost: 20,
			LastSenderReport: mid(ntpB), Delay: 0}, t0.Add(1250 * time.Millisecond), 1<<16 + 5 - 999, 20, 250 * time.Millisecond},
		{"echoes an SR never sent", rtcp.ReceptionReport{LastSequenceNumber: 1<<16 + 50, TotalLost: 20,
			LastSenderReport: 12345}, t0.Add(2 * time.Second), 1<<16 + 50 - 999, 20, 250 * time.Millisecond},
	} {
		r.take(c.block, 90000, c.at)
		st := r.stats()
		off := st.RTT - c.rtt // DLSR is in 1/65536 s: allow its rounding
		if st.Expected != c.expected || st.Lost != c.lost || off > time.Millisecond || off < -time.Millisecond {
			t.Errorf("%s: expected %d lost %d rtt %v, want %d %d %v", c.name, st.Expected, st.Lost, st.RTT, c.expected, c.lost, c.rtt)
		}
	}
	if st := r.stats(); st.Reports != 4 || st.Jitter != 0 {
		t.Errorf("after four reports: %+v (the last one's jitter is 0)", st)
	}
	var j receiverReports
	j.take(rtcp.ReceptionReport{LastSequenceNumber: 1, Jitter: 1800}, 90000, t0)
	if got := j.stats().Jitter; got != 20*time.Millisecond {
		t.Errorf("jitter 1800 at 90 kHz is %v, want 20ms", got)
	}
}
