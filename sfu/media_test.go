package sfu

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// The deadlines below are how long to look before calling something a
// failure, never claims of speed: each is far above what an idle machine
// needs (milliseconds), so only a missing feature trips it.
const lookFor = 45 * time.Second

// A viewer joining mid-stream starts from the cached keyframe: its first
// packet starts a keyframe and the publisher is not asked for a new one.
func TestGOPCacheServesLateJoinerWithoutPLI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), lookFor)
	defer cancel()
	s := newTestSFU(t, Config{})
	pubPeer := join(t, s, "gop", "pub", false, peerOptions{}, nil)
	sp := publish(t, pubPeer, 1)
	// A keyframe every 400 ms, so the cached one is always fresh enough to
	// start from (replayMaxAge), however long the join takes on a busy machine.
	sp.keyEvery.Store(int64(400 * time.Millisecond))
	early := newSynthViewer()
	join(t, s, "gop", "early", true, peerOptions{}, early.onTrack)
	if !early.waitUntil(ctx, func(st synthStats) bool { return st.packets >= 3 }) {
		t.Fatalf("early viewer got %d packets", early.stats().packets)
	}
	plis := sp.plis.Load()
	late := newSynthViewer()
	lp := join(t, s, "gop", "late", true, peerOptions{}, late.onTrack)
	if !late.waitUntil(ctx, func(st synthStats) bool { return st.packets >= 10 }) {
		t.Fatalf("late viewer got %d packets", late.stats().packets)
	}
	st := late.stats()
	if !st.firstKeyframe {
		t.Error("the late viewer's first packet does not start a keyframe: it cannot decode")
	}
	if st.gaps != 0 {
		t.Errorf("the late viewer saw %d missing sequence numbers", st.gaps)
	}
	if got := sp.plis.Load(); got != plis {
		t.Errorf("the publisher got %d PLIs for the late joiner; a keyframe was cached", got-plis)
	}
	replayed := uint64(0)
	for _, ds := range lp.part.DownTrackStats() {
		replayed += ds.Replayed
	}
	if replayed == 0 {
		t.Error("the late viewer's down track replayed nothing from the cache")
	}
	t.Logf("late joiner: %d packets replayed from the cache, PLIs %d → %d", replayed, plis, sp.plis.Load())
}

// Twenty viewers joining at once, when no usable keyframe is cached, cost
// the publisher at most two keyframe requests: the first brings a keyframe
// the others start from.
func TestJoinersCoalesceKeyframeRequests(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*lookFor)
	defer cancel()
	s := newTestSFU(t, Config{})
	pubPeer := join(t, s, "burst", "pub", false, peerOptions{}, nil)
	sp := publish(t, pubPeer, 24) // 360 packets/s: the start keyframe leaves the replay window within a second or two
	first := newSynthViewer()
	join(t, s, "burst", "first", true, peerOptions{}, first.onTrack)
	if !first.waitUntil(ctx, func(st synthStats) bool { return st.packets >= int(videoCacheSize) }) {
		t.Fatalf("first viewer got %d packets", first.stats().packets)
	}
	up := pubPeer.part.UpTracks()[0].(*LocalUpTrack)
	aged := func() bool {
		k, ok := up.LastKeyframe()
		if !ok {
			return true
		}
		p := up.cached(k + uint16(videoCacheSize/2)) // read under the cache's lock, not the reader's highSeq
		if p != nil {
			p.Release()
		}
		return p != nil
	}
	if !up.waitUntil(ctx, aged) {
		t.Fatal("the start keyframe never aged out of the replay window")
	}
	sp.perDelta.Store(1) // from now on a keyframe stays in the replay window for seconds
	plis := sp.plis.Load()
	const n = 20
	viewers := make([]*synthViewer, n)
	var wg sync.WaitGroup
	for i := range viewers {
		viewers[i] = newSynthViewer()
		wg.Add(1)
		go func() {
			defer wg.Done()
			join(t, s, "burst", uidN("v", i), true, peerOptions{}, viewers[i].onTrack)
		}()
	}
	wg.Wait()
	for i, v := range viewers {
		if !v.waitUntil(ctx, func(st synthStats) bool { return st.keyframes >= 1 }) {
			t.Fatalf("viewer %d got no keyframe: %+v", i, v.stats())
		}
		if !v.stats().firstKeyframe {
			t.Errorf("viewer %d started mid-frame", i)
		}
	}
	got := sp.plis.Load() - plis
	if got > 2 {
		t.Errorf("%d joiners caused %d PLIs at the publisher, want at most 2", n, got)
	}
	t.Logf("%d joiners: %d PLIs at the publisher", n, got)
}

// waitUntil polls cond every 20 ms until it holds or ctx ends.
func (u *LocalUpTrack) waitUntil(ctx context.Context, cond func() bool) bool {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		u.Flush()
		if cond() {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
}

// lossy drops a share of a peer's incoming RTP before its NACK generator
// sees it, like a lossy last mile.
type lossy struct {
	interceptor.NoOp
	every int
	mu    sync.Mutex
	n     int
}

func (l *lossy) BindRemoteStream(_ *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			n, attr, err := r.Read(b, a)
			l.mu.Lock()
			l.n++
			drop := l.n%10 < l.every
			l.mu.Unlock()
			if err != nil || !drop {
				return n, attr, err
			}
		}
	})
}

type lossyFactory struct{ l *lossy }

func (f lossyFactory) NewInterceptor(string) (interceptor.Interceptor, error) { return f.l, nil }

// A viewer losing 30 % of its packets and one whose socket stalls for 2 s
// do not change what the other viewers get: their loss and latency with the
// bad viewers present are compared with a clean run of the same length.
func TestBadViewersDoNotHurtTheOthers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*lookFor)
	defer cancel()
	s := newTestSFU(t, Config{})
	pubPeer := join(t, s, "iso", "pub", false, peerOptions{}, nil)
	publish(t, pubPeer, 4)
	const clean = 4
	viewers := make([]*synthViewer, clean)
	for i := range viewers {
		viewers[i] = newSynthViewer()
		join(t, s, "iso", uidN("clean", i), true, peerOptions{}, viewers[i].onTrack)
	}
	for i, v := range viewers {
		if !v.waitUntil(ctx, func(st synthStats) bool { return st.packets >= 20 }) {
			t.Fatalf("viewer %d got nothing", i)
		}
	}
	measure := func(d time.Duration) (missing int, latency time.Duration) {
		from := make([]synthStats, clean)
		for i, v := range viewers {
			from[i] = v.stats()
		}
		time.Sleep(d)
		time.Sleep(500 * time.Millisecond) // room for the window's last retransmissions
		var pkts int
		for i, v := range viewers {
			to := v.stats()
			missing += v.missing(from[i].lastSeq+1, to.lastSeq-10)
			pkts += to.packets - from[i].packets
			latency += to.latency - from[i].latency
		}
		if pkts == 0 {
			t.Fatal("no packets in the window")
		}
		return missing, latency / time.Duration(pkts)
	}
	cleanMissing, cleanLatency := measure(3 * time.Second)

	bad := newSynthViewer()
	join(t, s, "iso", "lossy", true, peerOptions{interceptors: []interceptor.Factory{lossyFactory{&lossy{every: 3}}}}, bad.onTrack)
	stalled := newSynthViewer()
	stalled.pause.Store(time.Now().Add(2500 * time.Millisecond).UnixNano())
	join(t, s, "iso", "stalled", true, peerOptions{}, stalled.onTrack)
	badMissing, badLatency := measure(3 * time.Second)
	t.Logf("clean viewers, clean run: %d missing, mean latency %v; with a 30%%-loss and a stalled viewer: %d missing, %v",
		cleanMissing, cleanLatency, badMissing, badLatency)
	// "Not worse than twice the clean run", with floors so that a busy
	// machine (other tests on both cores, a packet or two, tens of ms) is not
	// a failure; a bad viewer holding up the others costs seconds.
	if badMissing > 2*cleanMissing+10 {
		t.Errorf("clean viewers lost %d packets next to the bad viewers, %d in the clean run", badMissing, cleanMissing)
	}
	if badLatency > 2*cleanLatency+250*time.Millisecond {
		t.Errorf("clean viewers' latency %v next to the bad viewers, %v in the clean run", badLatency, cleanLatency)
	}
	if bad.stats().packets == 0 {
		t.Error("the lossy viewer got nothing")
	}
}

// sendREMB makes a viewer report a bandwidth estimate for what it
// receives, with a receiver report of the given loss (of 256) before it.
func sendREMB(t *testing.T, tp *testPeer, bps float32, loss uint8) {
	t.Helper()
	tp.mu.Lock()
	pcs := append([]*webrtc.PeerConnection(nil), tp.pcs...)
	tp.mu.Unlock()
	for _, pc := range pcs {
		for _, r := range pc.GetReceivers() {
			if tr := r.Track(); tr != nil {
				ssrc := uint32(tr.SSRC())
				err := pc.WriteRTCP([]rtcp.Packet{
					&rtcp.ReceiverReport{Reports: []rtcp.ReceptionReport{{SSRC: ssrc, FractionLost: loss}}},
					&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: bps, SSRCs: []uint32{ssrc}},
				})
				if err != nil {
					t.Logf("REMB: %v", err)
				}
			}
		}
	}
}

// Simulcast: a congested viewer (its estimate below the high layer's
// bitrate, and losing packets) is switched to the low layer, and back when
// its estimate clearly fits the high one; the
// viewer's own choice (SetRemoteStreamType) does the same. Every switch
// happens at a keyframe, and the viewer sees one continuous stream: no
// sequence gap, no picture-id jump.
func TestSimulcastSwitchesLayers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*lookFor)
	defer cancel()
	s := newTestSFU(t, Config{})
	pubPeer := join(t, s, "sim", "pub", false, peerOptions{simulcast: true}, nil)
	sp := publish(t, pubPeer, 2, 150, 1100) // ≈ 40 and ≈ 270 kbit/s
	v := newSynthViewer()
	vp := join(t, s, "sim", "viewer", true, peerOptions{}, v.onTrack)
	onLayer := func(layer byte, what string) {
		t.Helper()
		if !v.waitUntil(ctx, func(st synthStats) bool { return st.lastLayer == layer && st.layers[layer] > 0 }) {
			vp.part.mu.Lock()
			for _, sub := range vp.part.subs {
				for _, d := range sub.downs {
					d.mu.Lock()
					t.Logf("down %s target %d preferLow %v est %d attached %d cur %v", d.id, d.target.Load(), d.preferLow.Load(), d.estimate.Load(), len(d.attached), d.cur != nil)
					d.mu.Unlock()
				}
			}
			vp.part.mu.Unlock()
			for _, u := range pubPeer.part.UpTracks() {
				t.Logf("up %s stats %+v", u.ID(), u.Stats())
			}
			t.Logf("publisher plis %d", sp.plis.Load())
			t.Fatalf("%s: the viewer is not on layer %d: %+v", what, layer, v.stats())
		}
	}
	onLayer(1, "start")
	if got := pubPeer.waitLayers(ctx, []string{"h"}); !slices.Equal(got, []string{"h"}) {
		t.Errorf("with its one viewer on the high layer the publisher was told to send %v, want [h]", got)
	}
	// Let both layers' bitrates be measured before estimates are compared.
	time.Sleep(time.Second)
	sendREMB(t, vp, 100_000, 0)
	time.Sleep(500 * time.Millisecond)
	if st := v.stats(); st.lastLayer != 1 {
		t.Error("a low estimate without loss (a cautious start, not congestion) moved the viewer down")
	}
	sendREMB(t, vp, 100_000, 77)
	onLayer(0, "estimate 100 kbit/s, 30 % loss")
	sendREMB(t, vp, 5_000_000, 0)
	onLayer(1, "estimate 5 Mbit/s")
	if err := vp.part.SetRemoteStreamType("pub", StreamLow); err != nil {
		t.Fatal(err)
	}
	onLayer(0, "StreamLow")
	if got := pubPeer.waitLayers(ctx, []string{"l", "h"}); !slices.Equal(got, []string{"l", "h"}) {
		t.Errorf("with its viewer on the low layer the publisher was told to send %v, want [l h]", got)
	}
	if err := vp.part.SetRemoteStreamType("pub", StreamHigh); err != nil {
		t.Fatal(err)
	}
	onLayer(1, "StreamHigh")
	st := v.stats()
	if st.gaps != 0 || st.pidJumps != 0 {
		t.Errorf("across layer switches the viewer saw %d missing sequence numbers and %d picture-id jumps", st.gaps, st.pidJumps)
	}
	if !st.firstKeyframe {
		t.Error("the viewer's stream did not start at a keyframe")
	}
	var switches uint64
	for _, ds := range vp.part.DownTrackStats() {
		switches += ds.Switches
	}
	if switches < 4 {
		t.Errorf("%d layer switches counted, want 4", switches)
	}
	if err := vp.part.SetRemoteStreamType("pub", 7); !errors.Is(err, ErrBadStreamType) {
		t.Errorf("stream type 7: %v, want ErrBadStreamType", err)
	}
	if err := vp.part.SetRemoteStreamType("nobody", StreamLow); !errors.Is(err, ErrStreamNotFound) {
		t.Errorf("a stream type for a uid not in the room: %v, want ErrStreamNotFound (the choices stay bounded by the room)", err)
	}
	t.Logf("layers seen: %v, switches %d", st.layers, switches)
}
