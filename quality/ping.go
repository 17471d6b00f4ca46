package quality

import (
	"sync"
	"time"
)

// PingWindow keeps one participant's pings over a sliding window and says
// how many were lost. A client sends ping n (counting from 1) every interval;
// pings that never came count as lost, including the ones not yet due to
// have come since the last arrival (a client that stopped pinging is losing
// them all, even with its websocket open). Safe for concurrent use.
type PingWindow struct {
	interval time.Duration

	mu      sync.Mutex
	slots   []ping // by seq % len(slots)
	high    uint32 // highest seq arrived
	last    time.Time
	lastSeq uint32
	jitter  float64 // ns
}

type ping struct {
	seq uint32
	rtt time.Duration
}

// NewPingWindow keeps the last window's worth of pings sent every interval.
func NewPingWindow(window, interval time.Duration) *PingWindow {
	n := max(int(window/interval), 1)
	return &PingWindow{interval: interval, slots: make([]ping, n)}
}

// restartGap is how far below the highest a seq must be to mean the client
// started counting again (a new page), not a late ping.
const restartGap = 1000

// Record notes that ping seq arrived at now; rtt is the round trip the client
// last measured (0 if none).
func (w *PingWindow) Record(seq uint32, rtt time.Duration, now time.Time) {
	if seq == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.high > restartGap && seq < w.high-restartGap {
		clear(w.slots)
		w.high, w.lastSeq, w.jitter = 0, 0, 0
	}
	if w.slots[seq%uint32(len(w.slots))].seq == seq {
		return // a duplicate
	}
	w.slots[seq%uint32(len(w.slots))] = ping{seq: seq, rtt: rtt}
	if seq <= w.high {
		return // late: counted as arrived, but it says nothing of the spacing
	}
	if w.lastSeq != 0 {
		// RFC 3550's estimator on pings: how far the spacing of arrivals
		// strays from the spacing of sending.
		d := float64(now.Sub(w.last)) - float64(seq-w.lastSeq)*float64(w.interval)
		if d < 0 {
			d = -d
		}
		w.jitter += (d - w.jitter) / 16
	}
	w.high, w.last, w.lastSeq = seq, now, seq
}

// Stats returns the window's statistics at now.
func (w *PingWindow) Stats(now time.Time) PingStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.high == 0 {
		return PingStats{}
	}
	// Pings due since the last arrival, allowing half an interval of delay.
	overdue := 0
	if late := now.Sub(w.last) - w.interval/2; late > 0 {
		overdue = int(late / w.interval)
	}
	head := int64(w.high) + int64(overdue)
	from := max(head-int64(len(w.slots))+1, 1)
	st := PingStats{Expected: int(head - from + 1), ContinueLost: overdue, Jitter: time.Duration(w.jitter)}
	received, rtts := 0, 0
	var sum time.Duration
	for seq := from; seq <= int64(w.high); seq++ {
		p := w.slots[uint32(seq)%uint32(len(w.slots))]
		if p.seq != uint32(seq) {
			continue
		}
		received++
		if p.rtt <= 0 {
			continue
		}
		if rtts == 0 || p.rtt < st.RTTMin {
			st.RTTMin = p.rtt
		}
		st.RTTMax = max(st.RTTMax, p.rtt)
		sum += p.rtt
		rtts++
	}
	if rtts > 0 {
		st.RTTAvg = sum / time.Duration(rtts)
	}
	st.Lost = st.Expected - received
	st.LostRate = float64(st.Lost) / float64(st.Expected)
	return st
}
