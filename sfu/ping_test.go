package sfu

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestParsePing(t *testing.T) {
	for _, c := range []struct {
		in   string
		seq  uint32
		rtt  time.Duration
		fail bool
	}{
		{`{"seq":7,"rtt":42.5}`, 7, 42500 * time.Microsecond, false},
		{`{"seq":1}`, 1, 0, false},
		{`{"seq":3,"rtt":-5}`, 3, 0, false},
		{`{"seq":3,"rtt":1e12}`, 3, 0, false},
		{`{"seq":0}`, 0, 0, true},
		{`{"rtt":5}`, 0, 0, true},
		{`{"seq":-1}`, 0, 0, true},
		{`{"seq":99999999999}`, 0, 0, true},
		{`not json`, 0, 0, true},
		{`{"seq":1,"pad":"` + string(make([]byte, 300)) + `"}`, 0, 0, true},
	} {
		seq, rtt, err := ParsePing([]byte(c.in))
		if c.fail {
			if !errors.Is(err, ErrBadPing) {
				t.Errorf("%.40q: err %v, want ErrBadPing", c.in, err)
			}
			continue
		}
		if err != nil || seq != c.seq || rtt != c.rtt {
			t.Errorf("%.40q: %d %v %v, want %d %v", c.in, seq, rtt, err, c.seq, c.rtt)
		}
	}
}

func FuzzParsePing(f *testing.F) {
	for _, s := range []string{`{"seq":7,"rtt":42.5}`, `{"seq":1}`, `{}`, `[]`, `{"seq":"1"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		seq, rtt, err := ParsePing(b)
		if err == nil && (seq == 0 || rtt < 0 || len(b) > maxPingSize) {
			t.Fatalf("accepted %q as seq %d rtt %v", b, seq, rtt)
		}
	})
}

// The impairment drops exactly its fraction of every run of items whose
// length is a multiple of 1/rate.
func TestImpairmentPattern(t *testing.T) {
	for _, rate := range []float64{0, 0.05, 0.15, 0.4, 0.5, 0.9, 1} {
		var p Participant
		p.Impair(rate)
		var n atomic.Uint64
		dropped := 0
		for range 200 {
			if p.impair.drop(&n) {
				dropped++
			}
		}
		if want := int(rate * 200); dropped != want {
			t.Errorf("rate %.2f: dropped %d of 200, want %d", rate, dropped, want)
		}
	}
}
