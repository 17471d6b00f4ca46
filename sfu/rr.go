package sfu

import (
	"sync"
	"time"

	"github.com/pion/rtcp"
)

// ReportStats is what a subscriber's RTCP receiver reports say about one down
// track, kept cumulatively so that a reader can window them itself: the loss
// between two reads is ΔLost / ΔExpected, whatever number of reports came
// between (not the last report's fraction, which forgets the ones before).
type ReportStats struct {
	// Reports counts receiver reports received.
	Reports uint64 `json:"reports"`
	// Lost is the subscriber's cumulative count of packets lost.
	Lost int64 `json:"lost"`
	// Expected is how many packets the subscriber expected: its extended
	// highest sequence number, counted from its first report.
	Expected int64 `json:"expected"`
	// Jitter is the last reported interarrival jitter.
	Jitter time.Duration `json:"jitterNs"`
	// RTT is the round-trip time from the last report that echoed one of
	// our sender reports (LSR/DLSR); zero before one did.
	RTT time.Duration `json:"rttNs"`
}

// srMark remembers when a sender report with NTP middle bits mid went out.
type srMark struct {
	mid uint32
	at  time.Time
}

// receiverReports accumulates a down track's receiver reports and matches
// their LSR against the sender reports the track sent, for the RTT.
type receiverReports struct {
	mu        sync.Mutex
	marks     [8]srMark
	next      int
	st        ReportStats
	firstHigh uint32
	seen      bool
}

// sent records a sender report's NTP time and when it went.
func (r *receiverReports) sent(ntp uint64, at time.Time) {
	r.mu.Lock()
	r.marks[r.next%len(r.marks)] = srMark{mid: uint32(ntp >> 16), at: at}
	r.next++
	r.mu.Unlock()
}

// take adds one reception report block, arrived at now.
func (r *receiverReports) take(b rtcp.ReceptionReport, clockRate uint32, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st.Reports++
	if !r.seen {
		r.seen, r.firstHigh = true, b.LastSequenceNumber-1
	}
	r.st.Expected = int64(b.LastSequenceNumber - r.firstHigh)
	r.st.Lost = int64(b.TotalLost)
	if clockRate > 0 {
		r.st.Jitter = time.Duration(uint64(b.Jitter) * uint64(time.Second) / uint64(clockRate))
	}
	if b.LastSenderReport == 0 {
		return
	}
	for _, m := range r.marks {
		if m.mid == b.LastSenderReport && !m.at.IsZero() {
			// DLSR is in units of 1/65536 s.
			rtt := now.Sub(m.at) - time.Duration(uint64(b.Delay)*uint64(time.Second)>>16)
			if rtt >= 0 {
				r.st.RTT = rtt
			}
			return
		}
	}
}

// stats returns the accumulated report statistics.
func (r *receiverReports) stats() ReportStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st
}

// clockRate is the RTP clock rate of what the down track forwards.
func (d *RTPDownTrack) clockRate() uint32 {
	if u := d.set.top(); u != nil {
		return u.codec.ClockRate
	}
	return 0
}
