package sfu

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// The media harness: an SFU on loopback and in-process pion peers that join
// it through the sfu API itself (no signaling), so the media tests exercise
// the real forwarding path, SRTP and UDP included.

func newTestSFU(t testing.TB, cfg Config) *SFU {
	t.Helper()
	cfg.TCPPort, cfg.ICEIPs = -1, []string{"127.0.0.1"}
	s, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// peerOptions shape a test peer's PeerConnections.
type peerOptions struct {
	// interceptors are added before pion's defaults (NACK, reports, TWCC),
	// so a lossy one drops packets before the NACK generator sees them.
	interceptors []interceptor.Factory
	simulcast    bool
}

func peerAPI(t testing.TB, o peerOptions) *webrtc.API {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	if o.simulcast {
		for _, uri := range []string{sdp.SDESMidURI, sdp.SDESRTPStreamIDURI} {
			if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: uri}, webrtc.RTPCodecTypeVideo); err != nil {
				t.Fatal(err)
			}
		}
	}
	reg := &interceptor.Registry{}
	for _, f := range o.interceptors {
		reg.Add(f)
	}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))
}

// testPeer is one participant: a Listener that answers the SFU's
// subscription offers with PeerConnections of its own.
type testPeer struct {
	t       testing.TB
	api     *webrtc.API
	part    *Participant
	ready   chan struct{}
	onTrack func(publisher string, tr *webrtc.TrackRemote, pc *webrtc.PeerConnection)

	mu     sync.Mutex
	pcs    []*webrtc.PeerConnection
	layers [][]string // "layers" events, oldest first
}

func (tp *testPeer) Notify(ev Event) {
	switch ev.Type {
	case EventOffer:
		go tp.answer(ev)
	case EventLayers:
		tp.mu.Lock()
		tp.layers = append(tp.layers, ev.Layers)
		tp.mu.Unlock()
	}
}

// lastLayers is the layers the publisher was last told to send.
func (tp *testPeer) lastLayers() []string {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if len(tp.layers) == 0 {
		return nil
	}
	return tp.layers[len(tp.layers)-1]
}

// waitLayers waits until the publisher was last told to send want, and
// returns what it was last told: a viewer's switch detaches it from its old
// layer just after its first packet of the new one, so the event that
// follows may come a moment after the viewer saw the switch.
func (tp *testPeer) waitLayers(ctx context.Context, want []string) []string {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		got := tp.lastLayers()
		if slices.Equal(got, want) {
			return got
		}
		select {
		case <-ctx.Done():
			return got
		case <-t.C:
		}
	}
}

func (tp *testPeer) answer(ev Event) {
	<-tp.ready
	pc, err := tp.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tp.t.Logf("subscriber pc: %v", err)
		return
	}
	tp.mu.Lock()
	tp.pcs = append(tp.pcs, pc)
	tp.mu.Unlock()
	if tp.onTrack != nil {
		pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { tp.onTrack(ev.UID, tr, pc) })
	}
	ans, err := answerOffer(pc, ev.SDP)
	if err != nil {
		tp.t.Logf("answer: %v", err) // the participant may be closing
		return
	}
	if err := tp.part.SetAnswer(ev.PC, ans); err != nil {
		tp.t.Logf("set answer: %v", err)
	}
}

// join adds a peer to room; auto says whether it subscribes to every stream.
func join(t testing.TB, s *SFU, room, uid string, auto bool, o peerOptions, onTrack func(string, *webrtc.TrackRemote, *webrtc.PeerConnection)) *testPeer {
	t.Helper()
	tp := &testPeer{t: t, api: peerAPI(t, o), ready: make(chan struct{}), onTrack: onTrack}
	p, err := s.Join(room, JoinOptions{UID: uid, Role: "host", CanPublish: true, AutoSubscribe: auto, Listener: tp})
	if err != nil {
		t.Fatal(err)
	}
	tp.part = p
	close(tp.ready)
	t.Cleanup(func() {
		p.Close("quit")
		tp.mu.Lock()
		defer tp.mu.Unlock()
		for _, pc := range tp.pcs {
			_ = pc.Close()
		}
	})
	return tp
}

// synthPublisher sends synthetic VP8 (15 frames/s; a keyframe is 4
// packets, a delta frame 1) with real payload descriptors and picture ids,
// each packet carrying its layer, its sequence number and the send time, so
// receivers can check order, continuity and latency. Keyframes go out at
// start and on PLI only.
type synthPublisher struct {
	pc     *webrtc.PeerConnection
	tracks []*webrtc.TrackLocalStaticRTP // one per layer, lowest first
	sizes  []int                         // payload bytes per packet, per layer
	// perDelta is how many packets a delta frame takes (a keyframe 4 more).
	perDelta atomic.Int64
	// midID and ridID are the negotiated header extension ids: pion does
	// not write MID and RID itself, and a simulcast receiver needs them.
	midID, ridID uint8
	mid          string
	rids         []string
	plis         atomic.Int64
	force        atomic.Bool
	// keyEvery, when set (ns), makes every frame that many ns after the last
	// keyframe a keyframe too, as an encoder with a short GOP.
	keyEvery atomic.Int64
	frames   atomic.Int64
	stop     context.CancelFunc
	wg       sync.WaitGroup
}

// publish makes tp publish synthetic video: one layer, or with rids "l"
// and "h" (sizes gives each layer's packet size), perDelta packets per delta
// frame.
func publish(t testing.TB, tp *testPeer, perDelta int, sizes ...int) *synthPublisher {
	t.Helper()
	if len(sizes) == 0 {
		sizes = []int{600}
	}
	if perDelta < 1 {
		perDelta = 1
	}
	sp := &synthPublisher{sizes: sizes}
	sp.perDelta.Store(int64(perDelta))
	pc, err := tp.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	sp.pc = pc
	codec := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	rids := []string{""}
	if len(sizes) == 2 {
		rids = []string{"l", "h"}
	}
	var sender *webrtc.RTPSender
	for i, rid := range rids {
		var opts []func(*webrtc.TrackLocalStaticRTP)
		if rid != "" {
			opts = append(opts, webrtc.WithRTPStreamID(rid))
		}
		tr, err := webrtc.NewTrackLocalStaticRTP(codec, "video", "synth", opts...)
		if err != nil {
			t.Fatal(err)
		}
		sp.tracks = append(sp.tracks, tr)
		if i == 0 {
			tx, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
			if err != nil {
				t.Fatal(err)
			}
			sender = tx.Sender()
		} else if err := sender.AddEncoding(tr); err != nil {
			t.Fatal(err)
		}
	}
	for _, rid := range rids {
		go sp.readRTCP(sender, rid)
	}
	negotiatePublish(t, tp, pc)
	if len(rids) > 1 {
		sp.rids = rids
		for _, tx := range pc.GetTransceivers() {
			sp.mid = tx.Mid()
		}
		for _, e := range sender.GetParameters().HeaderExtensions {
			switch e.URI {
			case sdp.SDESMidURI:
				sp.midID = uint8(e.ID)
			case sdp.SDESRTPStreamIDURI:
				sp.ridID = uint8(e.ID)
			}
		}
		if sp.midID == 0 || sp.ridID == 0 {
			t.Fatalf("MID/RID header extensions not negotiated: %+v", sender.GetParameters().HeaderExtensions)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	sp.stop = cancel
	sp.wg.Add(1)
	go sp.run(ctx)
	t.Cleanup(func() { sp.close() })
	return sp
}

// readRTCP counts the PLIs for one layer and has its next frame be a
// keyframe (pion's ReadRTCP reads the first layer's only).
func (sp *synthPublisher) readRTCP(sender *webrtc.RTPSender, rid string) {
	for {
		var pkts []rtcp.Packet
		var err error
		if rid == "" {
			pkts, _, err = sender.ReadRTCP()
		} else {
			pkts, _, err = sender.ReadSimulcastRTCP(rid)
		}
		if err != nil {
			return
		}
		for _, p := range pkts {
			if _, ok := p.(*rtcp.PictureLossIndication); ok {
				sp.plis.Add(1)
				sp.force.Store(true)
			}
		}
	}
}

// negotiatePublish offers pc's tracks as tp's publication and applies the
// SFU's answer.
func negotiatePublish(t testing.TB, tp *testPeer, pc *webrtc.PeerConnection) {
	t.Helper()
	ans, err := tp.part.Publish(gatheredOffer(t, pc), false, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans}); err != nil {
		t.Fatal(err)
	}
}

// gatheredOffer makes pc's offer, with its candidates.
func gatheredOffer(t testing.TB, pc *webrtc.PeerConnection) string {
	t.Helper()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	sdp, err := setLocalAndGather(pc, offer)
	if err != nil {
		t.Fatal(err)
	}
	return sdp
}

func (sp *synthPublisher) close() {
	sp.stop()
	sp.wg.Wait()
	_ = sp.pc.Close()
}

// synthHeader is the layout of a synthetic VP8 payload: descriptor (X, S,
// 15-bit picture id), the VP8 frame tag byte, then layer, sequence number
// and send time.
const synthHeader = 4 + 1 + 1 + 2 + 8

func (sp *synthPublisher) run(ctx context.Context) {
	defer sp.wg.Done()
	tick := time.NewTicker(time.Second / 15)
	defer tick.Stop()
	seqs := make([]uint16, len(sp.tracks))
	buf := make([]byte, 1200)
	var ts uint32
	lastKey := time.Now()
	for pid := uint16(0); ; pid = (pid + 1) & 0x7fff {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		key := pid == 0 || sp.force.Swap(false) ||
			(sp.keyEvery.Load() > 0 && time.Since(lastKey) >= time.Duration(sp.keyEvery.Load()))
		if key {
			lastKey = time.Now()
		}
		n := int(sp.perDelta.Load())
		if key {
			n += 4
		}
		ts += 6000
		for layer, tr := range sp.tracks {
			for i := 0; i < n; i++ {
				seqs[layer]++
				p := buf[:sp.sizes[layer]]
				p[0], p[1] = 0x80, 0x80 // X; I
				if i == 0 {
					p[0] |= 0x10 // S: start of the frame's first partition
				}
				binary.BigEndian.PutUint16(p[2:], 0x8000|pid)
				p[4] = 1 // frame tag: inter frame
				if key {
					p[4] = 0
				}
				p[5] = byte(layer)
				binary.BigEndian.PutUint16(p[6:], seqs[layer])
				binary.BigEndian.PutUint64(p[8:], uint64(time.Now().UnixNano()))
				pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seqs[layer], Timestamp: ts, Marker: i == n-1}, Payload: p}
				if sp.rids != nil {
					_ = pkt.Header.SetExtension(sp.midID, []byte(sp.mid))
					_ = pkt.Header.SetExtension(sp.ridID, []byte(sp.rids[layer]))
				}
				_ = tr.WriteRTP(pkt)
			}
		}
		sp.frames.Add(1)
	}
}

// synthStats is what a viewer saw of a synthetic stream.
type synthStats struct {
	packets, gaps, keyframes int
	layers                   map[byte]int
	firstKeyframe            bool // the first packet started a keyframe
	lastSeq                  uint16
	lastPID                  uint16
	pidJumps                 int
	latency                  time.Duration // summed
	lastLayer                byte
	firstSeq                 uint16
}

// synthViewer reads synthetic video and keeps its stats.
type synthViewer struct {
	mu    sync.Mutex
	st    synthStats
	seen  [1 << 16]bool
	pause atomic.Int64 // stop reading until this Unix ns (a stalled socket)
	got   chan struct{}
}

func newSynthViewer() *synthViewer {
	return &synthViewer{st: synthStats{layers: map[byte]int{}}, got: make(chan struct{}, 1)}
}

func (v *synthViewer) onTrack(_ string, tr *webrtc.TrackRemote, _ *webrtc.PeerConnection) {
	if tr.Kind() != webrtc.RTPCodecTypeVideo {
		return
	}
	go func() {
		for {
			if until := v.pause.Load(); until > 0 {
				time.Sleep(time.Until(time.Unix(0, until)))
				v.pause.Store(0)
			}
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			v.take(p)
		}
	}()
}

func (v *synthViewer) take(p *rtp.Packet) {
	if len(p.Payload) < synthHeader {
		return
	}
	now := time.Now().UnixNano()
	v.mu.Lock()
	st := &v.st
	pid := binary.BigEndian.Uint16(p.Payload[2:]) & 0x7fff
	first := p.Payload[0]&0x10 != 0
	key := first && p.Payload[4]&1 == 0
	v.seen[p.SequenceNumber] = true
	if st.packets == 0 {
		st.firstKeyframe, st.firstSeq = key, p.SequenceNumber
	} else {
		if d := p.SequenceNumber - st.lastSeq; d != 1 && int16(d) > 0 {
			st.gaps += int(d) - 1
		}
		if first && pid != st.lastPID && pid != (st.lastPID+1)&0x7fff {
			st.pidJumps++
		}
	}
	if int16(p.SequenceNumber-st.lastSeq) > 0 || st.packets == 0 {
		st.lastSeq = p.SequenceNumber
		st.lastLayer = p.Payload[5] // in order only: a retransmission is old news
	}
	if first {
		st.lastPID = pid
	}
	if key {
		st.keyframes++
	}
	st.packets++
	st.layers[p.Payload[5]]++
	st.latency += time.Duration(now - int64(binary.BigEndian.Uint64(p.Payload[8:])))
	v.mu.Unlock()
	select {
	case v.got <- struct{}{}:
	default:
	}
}

func (v *synthViewer) stats() synthStats {
	v.mu.Lock()
	defer v.mu.Unlock()
	st := v.st
	st.layers = map[byte]int{}
	for k, n := range v.st.layers {
		st.layers[k] = n
	}
	return st
}

// waitUntil polls cond on every packet (and every 50 ms) until it holds or
// ctx ends; the deadline is only how long to look, never a claim of speed.
func (v *synthViewer) waitUntil(ctx context.Context, cond func(synthStats) bool) bool {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !cond(v.stats()) {
		select {
		case <-ctx.Done():
			return false
		case <-v.got:
		case <-t.C:
		}
	}
	return true
}

// missing counts the sequence numbers from a up to b never received, even
// as retransmissions.
func (v *synthViewer) missing(a, b uint16) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for s := a; s != b+1; s++ {
		if !v.seen[s] {
			n++
		}
	}
	return n
}

func uidN(prefix string, i int) string { return fmt.Sprintf("%s%03d", prefix, i) }
