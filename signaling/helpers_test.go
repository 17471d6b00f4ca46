package signaling_test

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/stoa-video/stoa/sfu"
	"github.com/stoa-video/stoa/signaling"
	"github.com/stoa-video/stoa/signaling/client"
)

// testServer is a whole Stoa server on loopback: SFU, signaling, httptest.
type testServer struct {
	t      testing.TB
	sfu    *sfu.SFU
	sig    *signaling.Server
	tokens *signaling.TokenIssuer
	url    string
}

type serverOption func(*signaling.Options)

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newTestServer(t testing.TB, opts ...serverOption) *testServer {
	t.Helper()
	return newTestServerWith(t, sfu.Config{UDPPort: 0, TCPPort: -1, ICEIPs: []string{"127.0.0.1"}}, opts...)
}

func newTestServerWith(t testing.TB, cfg sfu.Config, opts ...serverOption) *testServer {
	t.Helper()
	media, err := sfu.New(cfg, quietLogger())
	if err != nil {
		t.Fatalf("sfu: %v", err)
	}
	tokens := signaling.NewTokenIssuer([]byte("test-secret-0123456789"))
	o := signaling.Options{SFU: media, Tokens: tokens, Grace: 2 * time.Second, Logger: quietLogger()}
	for _, f := range opts {
		f(&o)
	}
	sig := signaling.NewServer(o)
	hs := httptest.NewServer(sig.Handler())
	ts := &testServer{t: t, sfu: media, sig: sig, tokens: tokens, url: "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"}
	t.Cleanup(func() {
		sig.Close()
		hs.Close()
		_ = media.Close()
	})
	return ts
}

func (ts *testServer) token(room, uid string, role signaling.Role, can ...signaling.Grant) string {
	tok, _, err := ts.tokens.Issue(room, uid, role, "", time.Hour, can...)
	if err != nil {
		ts.t.Fatalf("issue token: %v", err)
	}
	return tok
}

// loopbackAPI is a pion API for test peers: default codecs and interceptors,
// host candidates on 127.0.0.1 only, plus any extra interceptors (which run
// closest to the network).
func loopbackAPI(t testing.TB, extra ...interceptor.Factory) *webrtc.API {
	t.Helper()
	return loopbackAPIWith(t, func(*webrtc.SettingEngine) {}, extra...)
}

// loopbackAPIWith is loopbackAPI with extra settings.
func loopbackAPIWith(t testing.TB, set func(*webrtc.SettingEngine), extra ...interceptor.Factory) *webrtc.API {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	reg := &interceptor.Registry{}
	for _, f := range extra {
		reg.Add(f)
	}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		t.Fatal(err)
	}
	s := webrtc.SettingEngine{}
	s.SetIncludeLoopbackCandidate(true)
	s.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	set(&s)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(s))
}

func (ts *testServer) dial(ctx context.Context, room, uid string, role signaling.Role, mut ...func(*client.Options)) *client.Client {
	ts.t.Helper()
	o := client.Options{URL: ts.url, Token: ts.token(room, uid, role), AutoSubscribe: true, API: loopbackAPI(ts.t), Logger: quietLogger()}
	for _, f := range mut {
		f(&o)
	}
	c, err := client.Dial(ctx, o)
	if err != nil {
		ts.t.Fatalf("dial %s/%s: %v", room, uid, err)
	}
	ts.t.Cleanup(func() { _ = c.Close() })
	return c
}

// Synthetic media. Every payload carries its own sequence number and a CRC of
// its body, so a receiver can tell intact, forwarded packets from corrupt ones.
const (
	payloadBody   = 600
	vp8Descriptor = 0x10 // S=1, PID=0: start of partition 0
)

// fillPayload writes the payload of packet seq into buf: for video a VP8
// descriptor and the frame header's key-frame bit, then seq, CRC and body.
func fillPayload(buf []byte, video, keyframe, start bool, seq uint16, marker byte) []byte {
	p := buf[:0]
	if video {
		d := byte(0)
		if start {
			d = vp8Descriptor
		}
		fh := byte(0x01) // inter frame
		if keyframe {
			fh = 0x00
		}
		p = append(p, d, fh)
	}
	p = append(p, marker)
	p = binary.BigEndian.AppendUint16(p, seq)
	bodyStart := len(p) + 4
	p = append(p, 0, 0, 0, 0)
	r := rand.New(rand.NewPCG(uint64(seq), uint64(marker)))
	for i := 0; i < payloadBody; i++ {
		p = append(p, byte(r.Uint32()))
	}
	binary.BigEndian.PutUint32(p[bodyStart-4:], crc32.ChecksumIEEE(p[bodyStart:]))
	return p
}

// checkPayload verifies a payload made by fillPayload: the marker names the
// publisher, and seq and CRC must match.
func checkPayload(p []byte, video bool, seq uint16) (marker byte, keyframeStart, ok bool) {
	off := 0
	if video {
		if len(p) < 2 {
			return 0, false, false
		}
		keyframeStart = sfu.IsKeyframeStart(webrtc.MimeTypeVP8, p)
		off = 2
	}
	if len(p) < off+7 {
		return 0, false, false
	}
	marker = p[off]
	if binary.BigEndian.Uint16(p[off+1:]) != seq {
		return marker, keyframeStart, false
	}
	body := p[off+7:]
	return marker, keyframeStart, binary.BigEndian.Uint32(p[off+3:]) == crc32.ChecksumIEEE(body)
}

// publisher sends synthetic audio (50 packets/s) and video (25 frames/s, two
// packets each) until stopped. Video keyframes go out at start, every
// keyframeEvery (0: never again) and whenever a PLI arrives.
type publisher struct {
	audio, video  *webrtc.TrackLocalStaticRTP
	marker        byte
	keyframeEvery time.Duration
	forceKey      atomic.Bool
	plis          atomic.Int64
	nacks         atomic.Int64
	sent          atomic.Int64
	stop          context.CancelFunc
	wg            sync.WaitGroup
}

func newPublisher(t testing.TB, marker byte) *publisher {
	a, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "stream")
	if err != nil {
		t.Fatal(err)
	}
	v, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "stream")
	if err != nil {
		t.Fatal(err)
	}
	return &publisher{audio: a, video: v, marker: marker, keyframeEvery: 2 * time.Second}
}

// start publishes through c and sends media until the test ends.
func (p *publisher) start(ctx context.Context, t testing.TB, c *client.Client) {
	t.Helper()
	if err := c.Publish(ctx, p.audio, p.video); err != nil {
		t.Fatalf("publish: %v", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	p.stop = cancel
	t.Cleanup(p.close)
	for _, s := range c.PublishSenders() {
		go func() { // ends when the client's PeerConnection closes
			for {
				pkts, _, err := s.ReadRTCP()
				if err != nil {
					return
				}
				for _, pk := range pkts {
					switch pk.(type) {
					case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
						p.plis.Add(1)
						p.forceKey.Store(true)
					case *rtcp.TransportLayerNack:
						p.nacks.Add(1)
					}
				}
			}
		}()
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.run(runCtx)
	}()
}

func (p *publisher) close() {
	if p.stop != nil {
		p.stop()
	}
	p.wg.Wait()
}

func (p *publisher) run(ctx context.Context) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var aseq, vseq uint16
	var ats, vts uint32
	buf := make([]byte, 1200)
	lastKey := time.Time{}
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		aseq++
		ats += 960
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: aseq, Timestamp: ats, Marker: true},
			Payload: fillPayload(buf, false, false, false, aseq, p.marker)}
		if p.audio.WriteRTP(pkt) == nil {
			p.sent.Add(1)
		}
		if n%2 == 1 {
			continue
		}
		key := p.forceKey.Swap(false) || lastKey.IsZero() || (p.keyframeEvery > 0 && time.Since(lastKey) >= p.keyframeEvery)
		if key {
			lastKey = time.Now()
		}
		vts += 3600
		for i := 0; i < 2; i++ {
			vseq++
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: vseq, Timestamp: vts, Marker: i == 1},
				Payload: fillPayload(buf, true, key && i == 0, i == 0, vseq, p.marker)}
			if p.video.WriteRTP(pkt) == nil {
				p.sent.Add(1)
			}
		}
	}
}

// receiver counts what a client receives, per publisher uid and kind.
type receiver struct {
	mu      sync.Mutex
	tracks  map[string]*trackStats // "uid/kind"
	changed chan struct{}
}

type trackStats struct {
	packets, corrupt, keyframes int
	markers                     map[byte]int
	seqs                        map[uint16]bool
	// firstSeq is the earliest sequence number received so far (in sequence
	// order, not arrival order: under load the first packet of a keyframe
	// may be lost and arrive later as a retransmission), and
	// firstPacketKeyframe whether that packet starts a keyframe.
	firstSeq            uint16
	firstPacketKeyframe bool
	firstKeyframe       time.Time
	started             time.Time
}

func newReceiver(c *client.Client) *receiver {
	r := &receiver{tracks: map[string]*trackStats{}, changed: make(chan struct{}, 1)}
	c.OnTrack(func(uid string, tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		video := tr.Kind() == webrtc.RTPCodecTypeVideo
		key := uid + "/" + tr.Kind().String()
		st := &trackStats{markers: map[byte]int{}, seqs: map[uint16]bool{}, started: time.Now()}
		r.mu.Lock()
		r.tracks[key] = st
		r.mu.Unlock()
		go func() {
			for {
				pkt, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				marker, keyStart, ok := checkPayload(pkt.Payload, video, pkt.SequenceNumber)
				r.mu.Lock()
				if st.packets == 0 || int16(pkt.SequenceNumber-st.firstSeq) < 0 {
					st.firstSeq, st.firstPacketKeyframe = pkt.SequenceNumber, keyStart
				}
				st.packets++
				st.seqs[pkt.SequenceNumber] = true
				if !ok {
					st.corrupt++
				}
				st.markers[marker]++
				if keyStart {
					if st.keyframes == 0 {
						st.firstKeyframe = time.Now()
					}
					st.keyframes++
				}
				r.mu.Unlock()
				select {
				case r.changed <- struct{}{}:
				default:
				}
			}
		}()
	})
	return r
}

// stats returns a copy of one track's counters (zero if absent).
func (r *receiver) stats(uid, kind string) trackStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.tracks[uid+"/"+kind]
	if st == nil {
		return trackStats{}
	}
	cp := *st
	cp.markers = map[byte]int{}
	for k, v := range st.markers {
		cp.markers[k] = v
	}
	cp.seqs = nil
	return cp
}

// waitFor polls cond whenever a packet arrives (and every 50 ms) until it
// holds or ctx ends.
func (r *receiver) waitFor(ctx context.Context, cond func() bool) bool {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return false
		case <-r.changed:
		case <-t.C:
		}
	}
	return true
}

// receivesFrom waits until r has at least n intact packets of both kinds from uid.
func (r *receiver) receivesFrom(ctx context.Context, uid string, n int) bool {
	return r.waitFor(ctx, func() bool {
		a, v := r.stats(uid, "audio"), r.stats(uid, "video")
		return a.packets-a.corrupt >= n && v.packets-v.corrupt >= n
	})
}
