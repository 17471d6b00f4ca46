package signaling_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/webrtc/v4"

	"github.com/stoa-video/stoa/signaling"
	"github.com/stoa-video/stoa/signaling/client"
)

func TestCallOneToOne(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ts := newTestServer(t)
	agent := ts.dial(ctx, "claim-1", "agent", signaling.RoleHost)
	customer := ts.dial(ctx, "claim-1", "customer", signaling.RoleHost)
	ra, rc := newReceiver(agent), newReceiver(customer)
	newPublisher(t, 'A').start(ctx, t, agent)
	newPublisher(t, 'C').start(ctx, t, customer)

	if !ra.receivesFrom(ctx, "customer", 50) {
		t.Fatalf("agent did not receive the customer's audio and video: audio %+v video %+v", ra.stats("customer", "audio"), ra.stats("customer", "video"))
	}
	if !rc.receivesFrom(ctx, "agent", 50) {
		t.Fatalf("customer did not receive the agent's audio and video: audio %+v video %+v", rc.stats("agent", "audio"), rc.stats("agent", "video"))
	}
	for _, c := range []struct {
		r      *receiver
		from   string
		marker byte
	}{{ra, "customer", 'C'}, {rc, "agent", 'A'}} {
		for _, kind := range []string{"audio", "video"} {
			st := c.r.stats(c.from, kind)
			if st.corrupt != 0 {
				t.Errorf("%s from %s: %d of %d packets corrupt", kind, c.from, st.corrupt, st.packets)
			}
			if st.markers[c.marker] != st.packets {
				t.Errorf("%s from %s: packets from other sources: %v", kind, c.from, st.markers)
			}
		}
		if v := c.r.stats(c.from, "video"); !v.firstPacketKeyframe {
			t.Errorf("video from %s did not start with a keyframe", c.from)
		}
	}
}

func TestFiveParticipants(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ts := newTestServer(t)
	const n = 5
	var clients []*client.Client
	var recvs []*receiver
	for i := 0; i < n; i++ {
		c := ts.dial(ctx, "conference", fmt.Sprint("u", i), signaling.RoleHost)
		clients = append(clients, c)
		recvs = append(recvs, newReceiver(c))
	}
	for i, c := range clients {
		newPublisher(t, byte('0'+i)).start(ctx, t, c)
	}
	for i, r := range recvs {
		for j := 0; j < n; j++ {
			if i == j {
				continue
			}
			from := fmt.Sprint("u", j)
			if !r.receivesFrom(ctx, from, 30) {
				t.Fatalf("u%d did not receive %s: audio %+v video %+v", i, from, r.stats(from, "audio"), r.stats(from, "video"))
			}
			for _, kind := range []string{"audio", "video"} {
				if st := r.stats(from, kind); st.corrupt != 0 || st.markers[byte('0'+j)] != st.packets {
					t.Errorf("u%d from %s %s: corrupt %d, markers %v", i, from, kind, st.corrupt, st.markers)
				}
			}
		}
	}
}

// TestLateJoinerStartsFromTheCachedKeyframe: a subscriber who joins after
// the publisher's keyframe starts at once at a keyframe: the cached one (GOP
// replay, while it is under a second old) or the publisher's next one,
// without asking the publisher for a new one.
//
// The test publisher sends a keyframe every 400 ms, so the cached one is
// always fresh enough; a late joiner that starts at a keyframe without a new
// PLI was served from the cache or the live stream, not by a request. The
// wait below is only how long to look before calling it a failure, not a
// latency claim; the measured join → keyframe time is logged.
func TestLateJoinerStartsFromTheCachedKeyframe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ts := newTestServer(t)
	host := ts.dial(ctx, "late", "host", signaling.RoleHost)
	pub := newPublisher(t, 'H')
	pub.keyframeEvery = 400 * time.Millisecond // a short GOP: the cached keyframe is fresh enough to start from (sfu's replayMaxAge)
	pub.start(ctx, t, host)
	early := ts.dial(ctx, "late", "early", signaling.RoleHost)
	re := newReceiver(early)
	if !re.receivesFrom(ctx, "host", 20) {
		t.Fatal("early subscriber got no media")
	}
	// Let the early subscriber's keyframe requests (PLIs, which the SFU
	// throttles to one per 300 ms) settle before counting them. Nothing fails
	// if this sleep is too short on a slow machine: the early subscriber has
	// already started at a keyframe and asks for no more, and the late
	// joiner's down track asks again at every packet until it gets one, so a
	// throttled request is retried.
	time.Sleep(500 * time.Millisecond)
	plisBefore := pub.plis.Load()

	joinedAt := time.Now()
	late := ts.dial(ctx, "late", "late", signaling.RoleHost)
	rl := newReceiver(late)
	const keyframeWait = 30 * time.Second // a bound only a missing keyframe request trips; see above
	wait, cancelWait := context.WithTimeout(ctx, keyframeWait)
	defer cancelWait()
	got := rl.waitFor(wait, func() bool { return rl.stats("host", "video").keyframes > 0 })
	st := rl.stats("host", "video")
	if !got {
		t.Fatalf("late joiner got no keyframe within %v of joining, and the publisher sends none unless asked: %+v (PLIs at publisher: %d, before the join: %d)",
			keyframeWait, st, pub.plis.Load(), plisBefore)
	}
	if !st.firstPacketKeyframe {
		t.Error("late joiner's first video packet was not a keyframe start: it would decode garbage")
	}
	if pub.plis.Load() != plisBefore {
		t.Errorf("the publisher was asked for a keyframe (%d PLIs, %d before the join) although one was cached", pub.plis.Load(), plisBefore)
	}
	t.Logf("late joiner: join → first keyframe %v (PLIs at publisher: %d before the join, %d after)",
		st.firstKeyframe.Sub(joinedAt), plisBefore, pub.plis.Load())
}

// lossyReader drops a share of incoming RTP packets before the NACK
// generator sees them, like a lossy last mile.
type lossyReader struct {
	interceptor.NoOp
	rate    float64
	dropped atomic.Int64
}

func (l *lossyReader) BindRemoteStream(_ *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			n, attr, err := r.Read(b, a)
			if err != nil || rand.Float64() >= l.rate {
				return n, attr, err
			}
			l.dropped.Add(1)
		}
	})
}

type lossyFactory struct{ l *lossyReader }

func (f lossyFactory) NewInterceptor(string) (interceptor.Interceptor, error) { return f.l, nil }

func TestForwardingSurvivesLossWithNACK(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	ts := newTestServer(t)
	host := ts.dial(ctx, "lossy", "host", signaling.RoleHost)
	lossy := &lossyReader{rate: 0.05}
	gen, err := nack.NewGeneratorInterceptor(nack.GeneratorInterval(20 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	viewer := ts.dial(ctx, "lossy", "viewer", signaling.RoleHost, func(o *client.Options) {
		// Loss is injected above SRTP, which has seen the dropped packet's
		// sequence number; real loss never reaches SRTP, so let the
		// retransmission through its replay check.
		o.API = loopbackAPIWith(t, func(s *webrtc.SettingEngine) { s.DisableSRTPReplayProtection(true) }, lossyFactory{lossy}, gen)
	})
	rv := newReceiver(viewer)
	pub := newPublisher(t, 'L')
	pub.start(ctx, t, host)
	if !rv.receivesFrom(ctx, "host", 300) {
		t.Fatalf("viewer stopped receiving under 5%% loss: video %+v", rv.stats("host", "video"))
	}
	// Every dropped packet that came back is a retransmission from the SFU's cache.
	recovered := rv.waitFor(ctx, func() bool { return lossRecoveredShare(rv) >= 0.99 })
	st := rv.stats("host", "video")
	dropped := lossy.dropped.Load()
	var retransmits uint64
	for _, d := range ts.sfu.Room("lossy").Participant("viewer").DownTrackStats() {
		retransmits += d.Retransmits
	}
	t.Logf("dropped %d packets on the way in; SFU retransmitted %d; %.3f of the video sequence range received", dropped, retransmits, lossRecoveredShare(rv))
	if dropped == 0 {
		t.Fatal("loss injection dropped nothing")
	}
	if st.corrupt != 0 {
		t.Errorf("%d corrupt packets", st.corrupt)
	}
	if retransmits == 0 {
		t.Error("the SFU retransmitted nothing")
	}
	if !recovered {
		t.Errorf("NACK did not recover the losses: %.3f of the sequence range received", lossRecoveredShare(rv))
	}
}

// lossRecoveredShare is the share of the video sequence range seen so far
// that arrived (originally or retransmitted).
func lossRecoveredShare(r *receiver) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.tracks["host/video"]
	if st == nil || len(st.seqs) == 0 {
		return 0
	}
	var lo, hi uint16
	first := true
	for s := range st.seqs {
		if first || int16(s-lo) < 0 {
			lo = s
		}
		if first || int16(s-hi) > 0 {
			hi = s
		}
		first = false
	}
	// ignore the newest 20 packets: their NACK round trip may still be under way
	span := int(hi-lo) + 1 - 20
	if span <= 0 {
		return 0
	}
	got := 0
	for s := range st.seqs {
		if int(s-lo) < span {
			got++
		}
	}
	return float64(got) / float64(span)
}

func TestLiveAudienceCannotPublish(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ts := newTestServer(t)
	live := func(o *client.Options) { o.Mode = "live" }
	host := ts.dial(ctx, "show", "host", signaling.RoleHost, live)
	if role := host.Joined().Role; role != "audience" {
		t.Errorf("in live mode a host token should join as audience until it publishes, got %q", role)
	}
	viewer := ts.dial(ctx, "show", "viewer", signaling.RoleAudience, live)
	rv := newReceiver(viewer)
	newPublisher(t, 'S').start(ctx, t, host)
	if _, err := host.WaitEvent(ctx, signaling.TypeRoleChanged, func(m signaling.Message) bool { return m.UID == "host" && m.Role == "host" }); err != nil {
		t.Errorf("no role-changed to host after publishing: %v", err)
	}
	if !rv.receivesFrom(ctx, "host", 20) {
		t.Fatal("audience did not receive the host")
	}
	err := viewer.Publish(ctx, newPublisher(t, 'X').video)
	var pe *signaling.Error
	if !errors.As(err, &pe) || pe.Code != signaling.CodeRoleNotAllowed {
		t.Fatalf("audience publish: got %v, want %s", err, signaling.CodeRoleNotAllowed)
	}
	if _, err := client.Dial(ctx, client.Options{URL: ts.url, Token: ts.token("show", "v2", signaling.RoleAudience), Role: "host", Mode: "live", API: loopbackAPI(t), Logger: quietLogger()}); !errors.As(err, &pe) || pe.Code != signaling.CodeRoleNotAllowed {
		t.Fatalf("audience token joining as host: got %v, want %s", err, signaling.CodeRoleNotAllowed)
	}
}

func TestRoomsAreIsolated(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ts := newTestServer(t)
	a1 := ts.dial(ctx, "room-a", "a1", signaling.RoleHost)
	b1 := ts.dial(ctx, "room-b", "b1", signaling.RoleHost)
	a2 := ts.dial(ctx, "room-a", "a2", signaling.RoleHost)
	b2 := ts.dial(ctx, "room-b", "same-uid", signaling.RoleHost)
	ra, rb := newReceiver(a2), newReceiver(b2)
	newPublisher(t, 'a').start(ctx, t, a1)
	newPublisher(t, 'b').start(ctx, t, b1)
	if !ra.receivesFrom(ctx, "a1", 50) || !rb.receivesFrom(ctx, "b1", 50) {
		t.Fatal("no media within rooms")
	}
	// Subscribing again must not hang on a negotiation that never comes; 20 s
	// is a bound only a hang trips, even on a slow, busy machine.
	quick, cancelQuick := context.WithTimeout(ctx, 20*time.Second)
	defer cancelQuick()
	if err := a2.Subscribe(quick, "a1"); err != nil {
		t.Errorf("subscribing again to a stream already received: %v", err)
	}
	if err := a2.Subscribe(ctx, "b1"); err == nil {
		t.Fatal("a participant of room-a subscribed to room-b's stream")
	}
	time.Sleep(300 * time.Millisecond)
	ra.mu.Lock()
	for key, st := range ra.tracks {
		if key != "a1/audio" && key != "a1/video" || st.markers['b'] != 0 {
			t.Errorf("room-a participant received %s with markers %v", key, st.markers)
		}
	}
	ra.mu.Unlock()
	for _, m := range a2.Joined().Participants {
		if m.UID == "b1" || m.UID == "same-uid" {
			t.Errorf("room-a's joined lists %s of room-b", m.UID)
		}
	}
}

func TestJoinLeaveLeavesNoGoroutines(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ts := newTestServer(t)
	host := ts.dial(ctx, "churn", "host", signaling.RoleHost)
	pub := newPublisher(t, 'P')
	pub.start(ctx, t, host)
	warm := ts.dial(ctx, "churn", "warm", signaling.RoleHost)
	rw := newReceiver(warm)
	if !rw.receivesFrom(ctx, "host", 10) {
		t.Fatal("no media")
	}
	if err := warm.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	_ = warm.Close()
	before := settledGoroutines(0)
	for i := 0; i < 200; i++ {
		c, err := client.Dial(ctx, client.Options{URL: ts.url, Token: ts.token("churn", fmt.Sprint("g", i), signaling.RoleHost),
			AutoSubscribe: i%4 == 0, API: loopbackAPI(t), Logger: quietLogger()})
		if err != nil {
			t.Fatalf("join %d: %v", i, err)
		}
		if i%4 == 0 { // a quarter of them negotiate a subscription before leaving
			if _, err := c.WaitEvent(ctx, signaling.TypeOffer, nil); err != nil {
				t.Fatalf("join %d: no offer: %v", i, err)
			}
		}
		if err := c.Leave(ctx); err != nil {
			t.Fatalf("leave %d: %v", i, err)
		}
		_ = c.Close()
	}
	after := settledGoroutines(before)
	if after > before+5 {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Fatalf("goroutines: %d before 200 join/leave cycles, %d after\n%s", before, after, buf[:n])
	}
	if got := ts.sig.Sessions(); got != 1 {
		t.Errorf("%d sessions left, want 1 (the host)", got)
	}
	t.Logf("goroutines before %d, after %d", before, after)
}

// settledGoroutines waits (up to 30 s: a bound only a leak reaches, even on
// a slow, busy machine) for the goroutine count to drop to target or stop
// changing, and returns it.
func settledGoroutines(target int) int {
	last := runtime.NumGoroutine()
	for i := 0; i < 300; i++ {
		time.Sleep(100 * time.Millisecond)
		n := runtime.NumGoroutine()
		if target > 0 && n <= target {
			return n
		}
		if target == 0 && n == last && i > 5 {
			return n
		}
		last = n
	}
	return last
}
