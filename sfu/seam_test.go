package sfu

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// blockingConsumer is a down track whose WriteRTP never returns until
// released: a recorder on a dead disk, a relay to a vanished node.
type blockingConsumer struct {
	release chan struct{}
	mu      sync.Mutex
	seqs    []uint16
	keys    []bool
	ended   atomic.Bool
	mapped  atomic.Pointer[TimeMapping]
}

func (c *blockingConsumer) WriteRTP(p *Packet) error {
	<-c.release
	c.mu.Lock()
	c.keys = append(c.keys, p.Keyframe)
	c.seqs = append(c.seqs, p.SequenceNumber)
	c.mu.Unlock()
	return nil
}
func (c *blockingConsumer) SetTimeMapping(m TimeMapping) { c.mapped.Store(&m) }
func (c *blockingConsumer) UpTrackEnded()                { c.ended.Store(true) }

// A consumer that blocks forever, behind Buffered, does not stall the
// fanout: the subscriber beside it gets every packet, and what the blocked
// consumer missed is counted. When it recovers, it resumes at a keyframe.
func TestBlockingConsumerDoesNotStallFanout(t *testing.T) {
	up := NewUpTrack("video", webrtc.RTPCodecTypeVideo, vp8Codec(), 1, nil)
	defer up.End()
	w := &recordingWriter{keep: true}
	boundDownTrack(up, w, 9, 96)
	c := &blockingConsumer{release: make(chan struct{})}
	b := NewBuffered(c, 16)
	up.AddDownTrack(b)
	const n = 2000
	for i := 1; i <= n; i++ {
		payload := []byte{0x10, 0x01, byte(i)} // delta frames...
		if i%100 == 1 {
			payload[1] = 0x00 // ...and a keyframe every 100 packets
		}
		up.Forward(marshal(t, uint16(i), payload))
		if i%64 == 0 {
			up.Flush() // a publisher's pace, not a tight loop the shard queue cannot hold
		}
	}
	up.Flush()
	if len(w.packets) != n {
		t.Fatalf("the subscriber beside a blocked consumer got %d of %d packets", len(w.packets), n)
	}
	if d := b.Dropped(); d < n-17 {
		t.Errorf("the blocked consumer's drops: %d, want at least %d counted", d, n-17)
	}
	if st := up.Stats(); st.Dropped != 0 {
		t.Errorf("the fanout itself dropped %d packets", st.Dropped)
	}
	close(c.release) // the consumer recovers: let it drain what was queued before more comes
	for deadline := time.Now().Add(30 * time.Second); b.Queued() > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	for i := n + 1; i <= n+150; i++ {
		payload := []byte{0x10, 0x01, byte(i)}
		if i%100 == 1 {
			payload[1] = 0x00
		}
		up.Forward(marshal(t, uint16(i), payload))
	}
	up.Flush()
	up.RemoveDownTrack(b)
	b.Finish() // the consumer takes what is queued (Close would drop it)
	c.mu.Lock()
	defer c.mu.Unlock()
	// What it got: the packet it blocked on and the 16 queued behind it;
	// then, after the gap, nothing until a keyframe.
	gaps := 0
	for i := 1; i < len(c.seqs); i++ {
		if c.seqs[i] != c.seqs[i-1]+1 {
			gaps++
			if !c.keys[i] {
				t.Errorf("after the drops the consumer resumed on a delta frame (seq %d)", c.seqs[i])
			}
		}
	}
	if gaps == 0 {
		t.Error("the consumer saw no gap although it missed packets")
	}
	if len(c.keys) <= 16 {
		t.Errorf("the recovered consumer got only %d packets", len(c.keys))
	}
}

// Down tracks are told the publisher's sender-report time mapping and when
// their up track ends.
func TestSeamTellsTimeMappingAndEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), lookFor)
	defer cancel()
	s := newTestSFU(t, Config{})
	pubPeer := join(t, s, "seam", "pub", false, peerOptions{}, nil)
	sp := publish(t, pubPeer, 1)
	ups := waitPublished(ctx, t, pubPeer)
	c := &blockingConsumer{release: make(chan struct{})}
	close(c.release)
	b := NewBuffered(c, 64)
	defer b.Close()
	ups[0].AddDownTrack(b)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for c.mapped.Load() == nil { // pion's sender reports come about once a second
		select {
		case <-ctx.Done():
			t.Fatal("no sender-report time mapping reached the consumer")
		case <-tick.C:
		}
	}
	m := *c.mapped.Load()
	if at := m.Time(m.RTP + 90000); at.Sub(m.Time(m.RTP)) != time.Second {
		t.Errorf("90,000 ticks of a 90 kHz clock map to %v", at.Sub(m.Time(m.RTP)))
	}
	if off := time.Since(m.Time(m.RTP)); off < -time.Hour || off > time.Hour {
		t.Errorf("the mapping puts the report %v away from now: NTP misread", off)
	}
	sp.close()
	pubPeer.part.Unpublish()
	for !c.ended.Load() {
		select {
		case <-ctx.Done():
			t.Fatal("the consumer was not told its up track ended")
		case <-tick.C:
		}
	}
}

// Subscribe racing Close: the subscription's goroutines are counted under
// the lock that Close takes, so Close's Wait never runs concurrently with
// an Add (the race detector and WaitGroup's own check catch it otherwise).
func TestSubscribeRacingClose(t *testing.T) {
	s := newTestSFU(t, Config{})
	pubPeer := join(t, s, "race", "pub", false, peerOptions{}, nil)
	publish(t, pubPeer, 1)
	ctx, cancel := context.WithTimeout(context.Background(), lookFor)
	defer cancel()
	waitPublished(ctx, t, pubPeer)
	subscribed := 0
	for i := 0; i < 20; i++ {
		tp := &testPeer{t: t, api: peerAPI(t, peerOptions{}), ready: make(chan struct{})}
		p, err := s.Join("race", JoinOptions{UID: uidN("v", i), Role: "host", CanPublish: true, Listener: tp})
		if err != nil {
			t.Fatal(err)
		}
		tp.part = p
		close(tp.ready)
		var wg sync.WaitGroup
		wg.Add(2)
		var err1 error
		go func() { defer wg.Done(); err1 = p.Subscribe("pub") }()
		go func() { defer wg.Done(); p.Close("quit") }()
		wg.Wait()
		if err1 == nil {
			subscribed++
		}
		if err := p.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		tp.mu.Lock()
		for _, pc := range tp.pcs {
			_ = pc.Close()
		}
		tp.mu.Unlock()
	}
	t.Logf("%d of 20 subscriptions were made before Close won", subscribed)
}

// waitPublished waits until tp's stream is announced and returns its tracks.
func waitPublished(ctx context.Context, t *testing.T, tp *testPeer) []UpTrack {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, ok := tp.part.streamInfo(); ok {
			return tp.part.UpTracks()
		}
		select {
		case <-ctx.Done():
			t.Fatal("the stream was never announced")
		case <-tick.C:
		}
	}
}

// gatedPeer is a Listener whose subscription offers wait at a gate: it
// shows how many subscriptions are being set up at the same time.
type gatedPeer struct {
	gate    chan struct{}
	pending chan struct{}
}

func (g *gatedPeer) Notify(ev Event) {
	if ev.Type == EventOffer {
		g.pending <- struct{}{}
		<-g.gate
	}
}

// A new stream's viewers are subscribed side by side, each on a goroutine
// of its own, not one after another on the publisher's goroutine (where the
// last of N viewers waits for N-1 offers, and one stuck viewer holds up
// all). With every viewer's offer held at a gate, all of them must still be
// under way at once.
func TestNewStreamSubscribesViewersSideBySide(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), lookFor)
	defer cancel()
	s := newTestSFU(t, Config{})
	const n = 8
	g := &gatedPeer{gate: make(chan struct{}), pending: make(chan struct{}, n)}
	defer close(g.gate)
	for i := 0; i < n; i++ {
		p, err := s.Join("side", JoinOptions{UID: uidN("v", i), Role: "host", CanPublish: true, AutoSubscribe: true, Listener: g})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { go p.Close("quit") }()
	}
	pubPeer := join(t, s, "side", "pub", false, peerOptions{}, nil)
	publish(t, pubPeer, 1)
	for i := 0; i < n; i++ {
		select {
		case <-g.pending:
		case <-ctx.Done():
			t.Fatalf("only %d of %d viewers' subscriptions got under way while the first was held", i, n)
		}
	}
}

// A viewer gets sender reports that carry the publisher's clock: the NTP
// time of each report is the publisher's wall-clock time of the RTP
// timestamp it names, per the publisher's own latest report.
func TestViewersGetThePublishersClock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), lookFor)
	defer cancel()
	s := newTestSFU(t, Config{})
	pubPeer := join(t, s, "clock", "pub", false, peerOptions{}, nil)
	publish(t, pubPeer, 1)
	up := waitPublished(ctx, t, pubPeer)[0].(*LocalUpTrack)
	srs := make(chan *rtcp.SenderReport, 16)
	join(t, s, "clock", "viewer", true, peerOptions{}, func(_ string, tr *webrtc.TrackRemote, pc *webrtc.PeerConnection) {
		for _, r := range pc.GetReceivers() {
			if r.Track() != tr {
				continue
			}
			go func() {
				for {
					pkts, _, err := r.ReadRTCP()
					if err != nil {
						return
					}
					for _, p := range pkts {
						if sr, ok := p.(*rtcp.SenderReport); ok && sr.SSRC == uint32(tr.SSRC()) {
							select {
							case srs <- sr:
							default:
							}
						}
					}
				}
			}()
		}
	})
	var sr *rtcp.SenderReport
	for sr == nil {
		select {
		case got := <-srs:
			if _, ok := up.TimeMapping(); ok { // a report made after the publisher's own
				sr = got
			}
		case <-ctx.Done():
			t.Fatal("the viewer got no sender report carrying the publisher's clock")
		}
	}
	m, _ := up.TimeMapping()
	want := m.Time(sr.RTPTime) // the first source keeps the publisher's timestamps
	secs := int64(sr.NTPTime>>32) - ntpUnixOffset
	got := time.Unix(secs, int64((sr.NTPTime&0xffffffff)*uint64(time.Second)>>32))
	// Two readings of the publisher's clock (the mapping the report was made
	// with and the publisher's latest), not a duration measured: they differ
	// by how far the test publisher's ticker fell behind between its reports
	// on a busy machine; a wrong clock or offset is off by seconds.
	if skew := got.Sub(want); skew < -250*time.Millisecond || skew > 250*time.Millisecond {
		t.Errorf("the viewer's report puts RTP %d at %v; the publisher's clock says %v (%v apart)", sr.RTPTime, got, want, skew)
	}
	if sr.PacketCount == 0 || sr.OctetCount == 0 {
		t.Errorf("sender report counts %d packets, %d octets", sr.PacketCount, sr.OctetCount)
	}
}

// An up track that ended takes late packets and flushes without panicking
// or hanging, and a down track added after the end is told so at once.
func TestUpTrackAfterEnd(t *testing.T) {
	up := NewUpTrack("video", webrtc.RTPCodecTypeVideo, vp8Codec(), 1, nil)
	w := &recordingWriter{keep: true}
	boundDownTrack(up, w, 9, 96)
	up.Forward(marshal(t, 1, []byte{0x10, 0x00, 0xaa}))
	up.End()
	if len(w.packets) != 1 {
		t.Errorf("End wrote %d queued packets, want 1", len(w.packets))
	}
	up.Forward(marshal(t, 2, []byte{0x10, 0x01, 0xbb})) // a producer's late packet
	up.Flush()
	up.End()
	c := &blockingConsumer{release: make(chan struct{})}
	up.AddDownTrack(c)
	if !c.ended.Load() {
		t.Error("a down track added after the end was not told the track ended")
	}
}

// Publish makes its PeerConnection (DTLS certificate, ICE agent: slow under
// load) without holding the participant's lock: with the making held at a
// gate, the participant still answers what takes its lock, and a Close
// that comes meanwhile wins over the publication.
func TestPublishMakesItsConnectionOutsideTheLock(t *testing.T) {
	s := newTestSFU(t, Config{})
	entered, gate := make(chan struct{}), make(chan struct{})
	var once sync.Once
	s.beforeUpPC = func() {
		once.Do(func() { close(entered); <-gate })
	}
	tp := join(t, s, "lock", "pub", false, peerOptions{}, nil)
	pc, err := tp.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	offerSDP := gatheredOffer(t, pc)
	published := make(chan error, 1)
	go func() {
		_, err := tp.part.Publish(offerSDP, false, false)
		published <- err
	}()
	select {
	case <-entered:
	case <-time.After(lookFor):
		close(gate)
		t.Fatal("Publish never came to make its connection")
	}
	locked := make(chan struct{})
	go func() {
		_ = tp.part.UpTracks()
		tp.part.Close("quit")
		close(locked)
	}()
	select {
	case <-locked:
	case <-time.After(lookFor):
		close(gate)
		t.Fatal("the participant's lock was held while its publisher connection was being made")
	}
	close(gate)
	select {
	case err := <-published:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Publish after a Close that came while its connection was made: %v, want ErrClosed", err)
		}
	case <-time.After(lookFor):
		t.Fatal("Publish did not return after the gate opened")
	}
}
