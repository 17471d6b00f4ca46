package quality

import (
	"testing"
	"time"
)

func TestTipFor(t *testing.T) {
	th := DefaultThresholds()
	for _, c := range []struct {
		name string
		p    PingStats
		want Tip
	}{
		{"no pings yet", PingStats{}, TipNone},
		{"clean", PingStats{Expected: 20}, TipNone},
		{"10 % is not above 0.1", PingStats{Expected: 20, LostRate: 0.1}, TipNone},
		{"15 %", PingStats{Expected: 20, LostRate: 0.15}, TipPoor},
		{"30 % is not above 0.3", PingStats{Expected: 20, LostRate: 0.3}, TipPoor},
		{"40 %", PingStats{Expected: 20, LostRate: 0.4}, TipVoice},
		{"80 % is not above 0.8", PingStats{Expected: 20, LostRate: 0.8}, TipVoice},
		{"90 %", PingStats{Expected: 20, LostRate: 0.9}, TipDown},
		{"9 in a row", PingStats{Expected: 20, LostRate: 0.45, ContinueLost: 9}, TipVoice},
		{"10 in a row", PingStats{Expected: 20, LostRate: 0.5, ContinueLost: 10}, TipDown},
	} {
		if got := TipFor(c.p, th); got != c.want {
			t.Errorf("%s: tip %q, want %q", c.name, got, c.want)
		}
	}
	if TipDown.Message() == "" || TipVoice.Message() == TipPoor.Message() || TipNone.Message() != "" {
		t.Error("every tip but none has its own message")
	}
}

func TestThresholdsValidate(t *testing.T) {
	if err := DefaultThresholds().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []Thresholds{
		{Down: 0.8, Voice: 0.9, Poor: 0.1, DownConsecutive: 10},
		{Down: 1.2, Voice: 0.3, Poor: 0.1, DownConsecutive: 10},
		{Down: 0.8, Voice: 0.3, Poor: 0, DownConsecutive: 10},
		{Down: 0.8, Voice: 0.3, Poor: 0.1, DownConsecutive: 0},
	} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestLevelsFromPingLoss(t *testing.T) {
	th := DefaultThresholds()
	prev := Unknown
	for _, c := range []struct {
		loss     float64
		want     Level
		wantTip  Tip
		lostNext int
	}{
		{0, Excellent, TipNone, 0},
		{0.05, Poor, TipNone, 0},
		{0.15, Bad, TipPoor, 0},
		{0.40, VeryBad, TipVoice, 0},
		{0.90, Down, TipDown, 0},
	} {
		p := PingStats{Expected: 20, LostRate: c.loss, RTTAvg: 40 * time.Millisecond}
		up, down := Levels(Inputs{Ping: p}, th)
		if up != c.want {
			t.Errorf("loss %.2f: uplink %v, want %v", c.loss, up, c.want)
		}
		if up < prev {
			t.Errorf("loss %.2f: level %v fell below %v", c.loss, up, prev)
		}
		prev = up
		if tip := TipFor(p, th); tip != c.wantTip {
			t.Errorf("loss %.2f: tip %q, want %q", c.loss, tip, c.wantTip)
		}
		if c.loss < th.Down && down != Excellent {
			t.Errorf("loss %.2f on the uplink moved the downlink to %v", c.loss, down)
		}
	}
}

// A tip and a level computed from the same pings never disagree in
// direction: a worse tip never comes with a better level.
func TestLevelsAgreeWithTips(t *testing.T) {
	th := DefaultThresholds()
	rank := map[Tip]int{TipNone: 0, TipPoor: 1, TipVoice: 2, TipDown: 3}
	prevTip, prevLevel := TipNone, Unknown
	for i := 0; i <= 100; i++ {
		p := PingStats{Expected: 100, Lost: i, LostRate: float64(i) / 100}
		tip := TipFor(p, th)
		up, _ := Levels(Inputs{Ping: p}, th)
		if rank[tip] < rank[prevTip] || up < prevLevel {
			t.Fatalf("loss %d %%: tip %q level %v after tip %q level %v", i, tip, up, prevTip, prevLevel)
		}
		if (tip == TipNone) != (up <= Poor) {
			t.Errorf("loss %d %%: tip %q with level %v", i, tip, up)
		}
		prevTip, prevLevel = tip, up
	}
}

func TestLevelsOtherInputs(t *testing.T) {
	th := DefaultThresholds()
	for _, c := range []struct {
		name     string
		in       Inputs
		up, down Level
	}{
		{"nothing measured", Inputs{}, Unknown, Unknown},
		{"media only, clean", Inputs{Up: Link{Expected: 1000}, Down: Link{Expected: 1000, RTT: 20 * time.Millisecond}}, Excellent, Excellent},
		{"too few packets to judge", Inputs{Up: Link{Expected: 10, Lost: 5}}, Unknown, Unknown},
		{"uplink media loss 20 %", Inputs{Ping: PingStats{Expected: 20}, Up: Link{Expected: 1000, Lost: 200}}, Bad, Excellent},
		{"downlink loss 5 %", Inputs{Ping: PingStats{Expected: 20}, Down: Link{Expected: 1000, Lost: 50}}, Excellent, Poor},
		{"rtt 600 ms", Inputs{Ping: PingStats{Expected: 20, RTTAvg: 600 * time.Millisecond}}, Bad, Bad},
		{"downlink rtt from reports wins", Inputs{Ping: PingStats{Expected: 20, RTTAvg: 600 * time.Millisecond}, Down: Link{Expected: 1000, RTT: 50 * time.Millisecond}}, Bad, Excellent},
		{"jitter 120 ms up", Inputs{Ping: PingStats{Expected: 20}, Up: Link{Expected: 1000, Jitter: 120 * time.Millisecond}}, Bad, Excellent},
		{"pings stopped", Inputs{Ping: PingStats{Expected: 20, ContinueLost: 10, LostRate: 0.5}, Down: Link{Expected: 1000}}, Down, Down},
	} {
		up, down := Levels(c.in, th)
		if up != c.up || down != c.down {
			t.Errorf("%s: levels %v/%v, want %v/%v", c.name, up, down, c.up, c.down)
		}
	}
}

func TestLevelTables(t *testing.T) {
	for _, c := range []struct {
		rtt  time.Duration
		want Level
	}{{0, Excellent}, {149 * time.Millisecond, Excellent}, {150 * time.Millisecond, Good}, {450 * time.Millisecond, Poor}, {900 * time.Millisecond, Bad}, {3 * time.Second, VeryBad}} {
		if got := RTTLevel(c.rtt); got != c.want {
			t.Errorf("rtt %v: %v, want %v", c.rtt, got, c.want)
		}
	}
	for _, c := range []struct {
		j    time.Duration
		want Level
	}{{0, Excellent}, {40 * time.Millisecond, Good}, {70 * time.Millisecond, Poor}, {150 * time.Millisecond, Bad}, {time.Second, VeryBad}} {
		if got := JitterLevel(c.j); got != c.want {
			t.Errorf("jitter %v: %v, want %v", c.j, got, c.want)
		}
	}
	if Level(9).String() != "level(9)" || Down.String() != "down" {
		t.Error("level names")
	}
}
