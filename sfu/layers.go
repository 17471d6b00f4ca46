package sfu

import (
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// layerSet is the up tracks of one published media track: one without
// simulcast, or one per simulcast layer, lowest first. A subscriber's down
// track forwards one of them and switches between them at keyframes.
type layerSet struct {
	id     string
	layers atomic.Pointer[[]*LocalUpTrack]

	mu    sync.Mutex
	downs map[*RTPDownTrack]struct{}
}

func newLayerSet(id string) *layerSet {
	s := &layerSet{id: id, downs: map[*RTPDownTrack]struct{}{}}
	s.layers.Store(&[]*LocalUpTrack{})
	return s
}

// list is the layers, lowest first.
func (s *layerSet) list() []*LocalUpTrack { return *s.layers.Load() }

// top is the highest layer, or nil.
func (s *layerSet) top() *LocalUpTrack {
	l := s.list()
	if len(l) == 0 {
		return nil
	}
	return l[len(l)-1]
}

// byLayer finds the up track of a layer.
func (s *layerSet) byLayer(layer int8) *LocalUpTrack {
	for _, u := range s.list() {
		if u.layer == layer {
			return u
		}
	}
	return nil
}

// add inserts a layer and lets every down track reconsider its choice. With
// more than one layer, viewers' bandwidth estimates choose layers instead of
// capping the publisher's encoder.
func (s *layerSet) add(u *LocalUpTrack) {
	s.mu.Lock()
	next := append(append([]*LocalUpTrack{}, s.list()...), u)
	sort.Slice(next, func(i, j int) bool { return next[i].layer < next[j].layer })
	s.layers.Store(&next)
	if len(next) > 1 {
		for _, l := range next {
			l.relayREMB.Store(false)
		}
	}
	downs := make([]*RTPDownTrack, 0, len(s.downs))
	for d := range s.downs {
		downs = append(downs, d)
	}
	s.mu.Unlock()
	for _, d := range downs {
		d.chooseLayer()
	}
}

func (s *layerSet) register(d *RTPDownTrack, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on {
		s.downs[d] = struct{}{}
	} else {
		delete(s.downs, d)
	}
}

// ridLayer ranks a simulcast RTP stream id: the SDK sends "l" (low), "m" and
// "h" (high); other common names ("q", "f", "0".."2") rank the same way.
// An unknown rid ranks by its order of arrival.
func ridLayer(rid string, arrived int) int8 {
	switch rid {
	case "", "l", "q", "low", "0":
		return 0
	case "m", "mid", "1":
		return 1
	case "h", "f", "high", "2":
		return 2
	}
	return int8(arrived)
}

// Layer choice from bandwidth. A browser's receive-side estimate (REMB)
// only grows past what it receives when the sender probes, which an SFU
// forwarding a publisher's packets does not: after a move down, the
// estimate settles near the low layer's rate and would never justify the
// high one again. So the estimate alone moves a viewer down only when the
// viewer also reports loss (real congestion, not a cautious start), moves it
// up at once when it clearly fits a higher layer, and otherwise a viewer
// that has been moved down tries the next layer up after a quiet spell
// without loss (probing by switching), waiting twice as long after each try
// that failed.
const (
	// congestedLoss is the reported loss (of 256) that confirms congestion: 5 %.
	congestedLoss = 13
	// fitMargin is the headroom an estimate needs over a layer's bitrate, in percent.
	fitMargin = 120
	// probeAfter is the first quiet spell before trying a layer up; it doubles
	// after each failed try, up to probeMax.
	probeAfter = 8 * time.Second
	probeMax   = 2 * time.Minute
)

// layerInput is what a layer choice looks at.
type layerInput struct {
	bitrates  []uint64 // each layer's measured bitrate, lowest first
	cur       int      // index of the layer forwarded now
	estimate  uint64   // the viewer's REMB, 0 if none yet
	loss      uint8    // the viewer's last reported fraction lost, of 256
	preferLow bool
	quiet     time.Duration // time since the last move down or loss
	probeWait time.Duration // current wait before a probe up
}

// pickLayer returns the index of the layer to forward; probe says it is a
// try one layer up that the estimate alone does not justify.
func pickLayer(in layerInput) (layer int, probe bool) {
	top := len(in.bitrates) - 1
	switch {
	case top <= 0:
		return 0, false
	case in.preferLow:
		return 0, false
	case in.estimate == 0:
		return top, false
	}
	fits := 0
	for i, br := range in.bitrates {
		if br*fitMargin/100 <= in.estimate {
			fits = i
		}
	}
	switch {
	case fits > in.cur:
		return fits, false
	case in.loss >= congestedLoss && in.estimate < in.bitrates[in.cur]:
		return min(fits, in.cur), false
	case in.cur < top && in.loss < congestedLoss && in.quiet >= in.probeWait:
		return in.cur + 1, true
	}
	return in.cur, false
}

// pauseUnwatched tells a simulcast publisher which layers to send: those
// somebody watches, and always the highest (a new viewer, a snapshot or a
// recording starts from it at once). An unwatched layer costs the
// publisher's uplink and CPU for nothing; a viewer that switches to it
// brings it back (its keyframe request follows).
func (p *Participant) pauseUnwatched(pub *publication) {
	p.mu.Lock()
	if p.pub != pub || p.closed {
		p.mu.Unlock()
		return
	}
	var rids []string
	for _, s := range pub.sets {
		layers := s.list()
		if len(layers) < 2 {
			continue
		}
		for i, u := range layers {
			if i == len(layers)-1 || u.DownTracks() > 0 {
				rids = append(rids, u.rid)
			}
		}
	}
	key := strings.Join(rids, ",")
	changed := len(rids) > 0 && key != pub.layers
	if changed {
		pub.layers = key
	}
	p.mu.Unlock()
	if changed {
		p.notify(Event{Type: EventLayers, UID: p.uid, Layers: rids})
	}
}
