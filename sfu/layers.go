package sfu

import (
	"sort"
	"sync"
	"sync/atomic"
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
