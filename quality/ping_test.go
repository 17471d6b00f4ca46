package quality

import (
	"math"
	"testing"
	"time"
)

// dropEvery is a deterministic loss pattern: ping n is dropped when the
// running count of rate·n steps up, so every window of 1/rate-multiple
// length holds exactly rate of them.
func dropEvery(rate float64, n int) bool {
	return math.Floor(float64(n)*rate) > math.Floor(float64(n-1)*rate)
}

func TestPingWindowLossRates(t *testing.T) {
	const interval = time.Second
	start := time.Unix(1000, 0)
	for _, rate := range []float64{0, 0.05, 0.15, 0.40, 0.90} {
		w := NewPingWindow(20*time.Second, interval)
		var now time.Time
		for n := 1; n <= 60; n++ {
			now = start.Add(time.Duration(n) * interval)
			if !dropEvery(rate, n) {
				w.Record(uint32(n), 50*time.Millisecond, now.Add(20*time.Millisecond))
			}
		}
		st := w.Stats(now.Add(100 * time.Millisecond))
		if st.Expected != 20 {
			t.Errorf("rate %.2f: %d pings expected in a 20 s window, want 20", rate, st.Expected)
		}
		if math.Abs(st.LostRate-rate) > 0.03 {
			t.Errorf("rate %.2f: lost rate %.3f", rate, st.LostRate)
		}
		if rate < 0.9 && st.RTTAvg != 50*time.Millisecond {
			t.Errorf("rate %.2f: rtt %v, want 50ms", rate, st.RTTAvg)
		}
	}
}

func TestPingWindowStopped(t *testing.T) {
	const interval = time.Second
	start := time.Unix(1000, 0)
	w := NewPingWindow(20*time.Second, interval)
	for n := 1; n <= 30; n++ {
		w.Record(uint32(n), 0, start.Add(time.Duration(n)*interval))
	}
	last := start.Add(30 * interval)
	th := DefaultThresholds()
	for _, c := range []struct {
		after time.Duration
		lost  int
		tip   Tip
	}{
		{400 * time.Millisecond, 0, TipNone},
		{1600 * time.Millisecond, 1, TipNone},
		{3600 * time.Millisecond, 3, TipPoor},
		{9400 * time.Millisecond, 8, TipVoice},
		{10600 * time.Millisecond, 10, TipDown},
	} {
		st := w.Stats(last.Add(c.after))
		if st.ContinueLost != c.lost || TipFor(st, th) != c.tip {
			t.Errorf("%v after the last ping: %d in a row (want %d), tip %q (want %q)", c.after, st.ContinueLost, c.lost, TipFor(st, th), c.tip)
		}
	}
	// Pinging again: the run ends at once; the window clears as good pings
	// replace the lost ones.
	resume := last.Add(15 * interval)
	for n := 46; n <= 70; n++ {
		w.Record(uint32(n), 0, resume.Add(time.Duration(n-46)*interval))
	}
	if st := w.Stats(resume.Add(24*interval + 100*time.Millisecond)); st.ContinueLost != 0 || st.LostRate != 0 {
		t.Errorf("after 25 good pings: %+v", st)
	}
}

func TestPingWindowEdges(t *testing.T) {
	start := time.Unix(1000, 0)
	w := NewPingWindow(10*time.Second, time.Second)
	if st := w.Stats(start); st.Expected != 0 || TipFor(st, DefaultThresholds()) != TipNone {
		t.Fatalf("no pings: %+v", st)
	}
	w.Record(0, 0, start) // not a ping number
	if w.Stats(start).Expected != 0 {
		t.Fatal("seq 0 counted")
	}
	// The first two pings were lost: they count.
	w.Record(3, 10*time.Millisecond, start.Add(3*time.Second))
	w.Record(3, 10*time.Millisecond, start.Add(3*time.Second)) // duplicate
	st := w.Stats(start.Add(3 * time.Second))
	if st.Expected != 3 || st.Lost != 2 {
		t.Errorf("first pings lost: %+v", st)
	}
	// A late ping fills its slot.
	w.Record(2, 30*time.Millisecond, start.Add(3500*time.Millisecond))
	st = w.Stats(start.Add(3500 * time.Millisecond))
	if st.Lost != 1 || st.RTTMin != 10*time.Millisecond || st.RTTMax != 30*time.Millisecond || st.RTTAvg != 20*time.Millisecond {
		t.Errorf("late ping: %+v", st)
	}
	// A client that starts counting again (a new page) starts a new window.
	for n := 4; n <= 2000; n++ {
		w.Record(uint32(n), 0, start.Add(time.Duration(n)*time.Second))
	}
	w.Record(1, 0, start.Add(2001*time.Second))
	if st := w.Stats(start.Add(2001 * time.Second)); st.Expected != 1 || st.Lost != 0 {
		t.Errorf("restart: %+v", st)
	}
}

func TestPingWindowJitter(t *testing.T) {
	start := time.Unix(1000, 0)
	steady, jumpy := NewPingWindow(20*time.Second, time.Second), NewPingWindow(20*time.Second, time.Second)
	for n := 1; n <= 40; n++ {
		at := start.Add(time.Duration(n) * time.Second)
		steady.Record(uint32(n), 0, at.Add(200*time.Millisecond)) // a constant delay is no jitter
		wobble := time.Duration(n%2) * 80 * time.Millisecond
		jumpy.Record(uint32(n), 0, at.Add(wobble))
	}
	end := start.Add(40 * time.Second)
	if j := steady.Stats(end).Jitter; j > time.Millisecond {
		t.Errorf("constant delay: jitter %v", j)
	}
	if j := jumpy.Stats(end).Jitter; j < 60*time.Millisecond || j > 100*time.Millisecond {
		t.Errorf("±80 ms wobble: jitter %v, want about 80ms", j)
	}
}
