// Package loadtest measures an SFU from the outside: N publishers play a
// real clip (VP8 or H264, and Opus) in real time and M subscribers count
// what reaches them (packets, loss from sequence gaps, bitrate, join → first
// frame, keyframe wait), over Stoa's protocol or, for comparison, Galène's.
// With the server's pid it also reads the server's CPU time and memory from
// /proc, giving µs of server CPU per forwarded packet and MB per subscriber.
// `stoa loadtest` is its command line; docs/benchmarks.md its results.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// Config says what to run against which server.
type Config struct {
	URL      string // the websocket: ws://host:port/ws (Stoa and Galène alike)
	Galene   bool   // speak Galène's protocol instead of Stoa's
	Room     string // Stoa room, or Galène group
	Password string // Galène: the group's password (any for a wildcard user)

	Publishers, Subscribers int
	Video, Audio            *Track // the clip; Audio may be nil

	Duration    time.Duration // the measurement window
	Settle      time.Duration // wait between the last subscriber receiving and the window, for the joins' signaling to die down
	JoinRate    float64       // subscribers started per second; 0 starts them all at once
	JoinTimeout time.Duration // how long after the last join starts the window waits for stragglers

	Secret []byte // Stoa: sign tokens with the server's token secret; nil asks POST /api/token
	APIKey string // Stoa: operator key for POST /api/token (none needed in dev mode)

	ICEIPs    []string // local addresses for ICE candidates
	ServerPID int      // 0: no server CPU and memory figures

	Progress    time.Duration // interval of progress lines; 0 = none
	ProgressOut io.Writer     // where progress lines go; nil = nowhere
	Logger      *slog.Logger  // nil discards
}

func (c *Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

func (c *Config) check() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("no server URL"))
	}
	if c.Room == "" {
		errs = append(errs, errors.New("no room"))
	}
	if c.Publishers < 1 || c.Subscribers < 1 {
		errs = append(errs, fmt.Errorf("need at least 1 publisher and 1 subscriber, got %d and %d", c.Publishers, c.Subscribers))
	}
	if c.Video == nil || len(c.Video.Frames) == 0 {
		errs = append(errs, errors.New("no video clip"))
	}
	if c.Duration <= 0 {
		errs = append(errs, fmt.Errorf("duration %v is not positive", c.Duration))
	}
	if c.Settle < 0 {
		errs = append(errs, fmt.Errorf("settle %v is negative", c.Settle))
	}
	if c.JoinRate < 0 {
		errs = append(errs, fmt.Errorf("join rate %v is negative", c.JoinRate))
	}
	if c.JoinTimeout <= 0 {
		c.JoinTimeout = time.Minute
	}
	return errors.Join(errs...)
}

// driver is one signaling protocol: how a publisher publishes and how a
// subscriber joins and subscribes to every publisher.
type driver interface {
	publish(ctx context.Context, p *publisher) (*publication, error)
	// subscribe returns once s asked for its streams; the tracks then come to
	// s.receive. The function returned leaves and closes.
	subscribe(ctx context.Context, s *subscriber) (func() error, error)
}

// Subscriber states, in subscriber.state.
const (
	joining int32 = iota
	joined
	failed
)

// subscriber is one receiving participant and its subscriptions, one per publisher.
type subscriber struct {
	uid       string
	now       func() int64
	subs      map[string]*subscription // by publisher uid; fixed before joining
	joinStart atomic.Int64             // ns since the run began, when the websocket dial started

	state atomic.Int32 // joining, joined, failed; err and leave are set before it changes
	err   error
	leave func() error
}

// subscription is what one subscriber receives from one publisher.
type subscription struct {
	pub          string
	subscribeAt  atomic.Int64 // ns since the run began, when the subscribe request went out
	audio, video atomic.Pointer[trackStats]
}

// receive counts a remote track of publisher pub, carried by pc, until it ends.
func (s *subscriber) receive(pub string, tr *webrtc.TrackRemote, pc *webrtc.PeerConnection) {
	sub := s.subs[pub]
	if sub == nil || pc == nil {
		return // another subscriber's or a foreign stream: not measured
	}
	st := newTrackStats(tr.Kind(), tr.Codec().MimeType)
	if st.video {
		ssrc := uint32(tr.SSRC())
		st.requestKeyframe = func() {
			_ = pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
		}
		sub.video.Store(st)
	} else {
		sub.audio.Store(st)
	}
	readTrack(tr, st, s.now)
}

// run is one load test under way.
type run struct {
	cfg  Config
	now  func() int64
	pubs []*publisher
	subs []*subscriber

	pubConns   []*publication
	lastJoinAt atomic.Int64 // ns since the run began when the last subscriber started joining; 0 = not yet
	windowAt   atomic.Int64 // ns since the run began when the window opened; 0 = not yet
	rssBefore  int64        // server RSS before any subscriber joined, bytes; -1 unknown
}

// Run runs the load test and returns its figures. Progress lines go to
// cfg.ProgressOut while it runs. Cancelling ctx during the window ends the
// window early and still reports it; before that it aborts the run.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	a, err := newAPIs(cfg.ICEIPs, cfg.Video, cfg.Audio)
	if err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	var d driver = newStoaDriver(&cfg, a)
	if cfg.Galene {
		d = &galeneDriver{cfg: &cfg, apis: a, log: cfg.logger()}
	}
	r := &run{cfg: cfg, now: since(time.Now()), rssBefore: -1}

	if cfg.ServerPID > 0 {
		s, err := sampleProc(cfg.ServerPID)
		if err != nil {
			return nil, fmt.Errorf("loadtest: --server-pid: %w", err)
		}
		r.rssBefore = s.RSS
	}

	runCtx, cancel := context.WithCancel(ctx)
	// joins holds the joining goroutines: they end soon after runCtx, and
	// must have ended before closeAll, so none leaves a client behind it.
	// wg holds every other goroutine the run starts.
	var joins, wg sync.WaitGroup
	defer func() {
		cancel()
		joins.Wait()
		r.closeAll()
		wg.Wait()
	}()

	if err := r.startPublishers(runCtx, d, &wg); err != nil {
		return nil, err
	}
	if err := r.waitPublishers(runCtx); err != nil {
		return nil, err
	}
	if cfg.ServerPID > 0 {
		if s, err := sampleProc(cfg.ServerPID); err == nil {
			r.rssBefore = s.RSS // the publishers' share is not the subscribers'
		}
	}
	r.makeSubscribers()
	joins.Go(func() { r.join(runCtx, d, &joins) })
	if cfg.Progress > 0 && cfg.ProgressOut != nil {
		wg.Go(func() { r.progress(runCtx) })
	}
	if err := r.waitReceiving(runCtx); err != nil {
		return nil, err
	}
	if err := sleep(runCtx, cfg.Settle); err != nil {
		return nil, fmt.Errorf("loadtest: settling before the window: %w", err)
	}
	return r.measure(ctx)
}

func (r *run) startPublishers(ctx context.Context, d driver, wg *sync.WaitGroup) error {
	for i := range r.cfg.Publishers {
		p, err := newPublisher(fmt.Sprintf("pub-%d", i), r.cfg.Video, r.cfg.Audio)
		if err != nil {
			return err
		}
		pc, err := d.publish(ctx, p)
		if err != nil {
			return fmt.Errorf("publisher %d: %w", i, err)
		}
		r.pubs = append(r.pubs, p)
		r.pubConns = append(r.pubConns, pc)
		for _, s := range pc.senders {
			wg.Go(func() { p.readRTCP(s) }) // ends when closeAll closes the PeerConnection
		}
		if p.video != nil {
			wg.Go(func() { p.play(ctx, p.video, p.clipV) })
		}
		if p.audio != nil {
			wg.Go(func() { p.play(ctx, p.audio, p.clipA) })
		}
	}
	return nil
}

// publisherSettle is how long subscribers wait after every publisher is
// connected. Galène 1.1 pushes a new stream 200 ms after its offer to the
// clients present at the offer, and skips one that joins in between (its
// request comes before the tracks exist); real clients rarely hit this, a
// load test always would.
const publisherSettle = time.Second

// waitPublishers waits until every publisher's PeerConnection is connected,
// then publisherSettle.
func (r *run) waitPublishers(ctx context.Context) error {
	deadline := time.Now().Add(r.cfg.JoinTimeout)
	for _, p := range r.pubConns {
		for p.pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
			if time.Now().After(deadline) {
				return fmt.Errorf("loadtest: a publisher is still %s after %v", p.pc.ConnectionState(), r.cfg.JoinTimeout)
			}
			if err := sleep(ctx, 20*time.Millisecond); err != nil {
				return fmt.Errorf("loadtest: waiting for the publishers: %w", err)
			}
		}
	}
	if err := sleep(ctx, publisherSettle); err != nil {
		return fmt.Errorf("loadtest: waiting for the publishers: %w", err)
	}
	return nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *run) makeSubscribers() {
	for j := range r.cfg.Subscribers {
		s := &subscriber{uid: fmt.Sprintf("sub-%d", j), now: r.now, subs: map[string]*subscription{}}
		for _, p := range r.pubs {
			s.subs[p.uid] = &subscription{pub: p.uid}
		}
		r.subs = append(r.subs, s)
	}
}

// join starts the subscribers at JoinRate, each joining on a goroutine of
// its own that ends once it has subscribed (pion's goroutines then carry it).
func (r *run) join(ctx context.Context, d driver, wg *sync.WaitGroup) {
	var tick *time.Ticker
	if r.cfg.JoinRate > 0 {
		tick = time.NewTicker(time.Duration(float64(time.Second) / r.cfg.JoinRate))
		defer tick.Stop()
	}
	for i, s := range r.subs {
		if i > 0 && tick != nil {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
		if ctx.Err() != nil {
			return
		}
		r.lastJoinAt.Store(max(r.now(), 1))
		wg.Go(func() {
			jctx, cancel := context.WithTimeout(ctx, r.cfg.JoinTimeout)
			defer cancel()
			leave, err := d.subscribe(jctx, s)
			s.err, s.leave = err, leave
			if err != nil {
				s.state.Store(failed)
				return
			}
			s.state.Store(joined)
		})
	}
}

// waitReceiving returns once every subscription has received a whole
// keyframe (or its subscriber failed), or JoinTimeout after the last join
// started: the window measures a steady state, not the joins.
func (r *run) waitReceiving(ctx context.Context) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("loadtest: waiting for the subscribers: %w", ctx.Err())
		case <-tick.C:
		}
		last := r.lastJoinAt.Load()
		if last == 0 || len(r.subs) == 0 {
			continue
		}
		c := r.count()
		if c.started < len(r.subs) {
			continue
		}
		if c.failed == len(r.subs) {
			return fmt.Errorf("loadtest: every subscriber failed to join; the first: %w", r.firstError())
		}
		if c.settled == len(r.subs) || time.Duration(r.now()-last) > r.cfg.JoinTimeout {
			return nil
		}
	}
}

// tally counts subscribers and subscriptions by how far they got.
type tally struct {
	started, joined, failed, settled    int // settled: failed, or a keyframe on every subscription
	subscriptions, receiving, keyframes int
	packets                             uint64
}

func (r *run) count() tally {
	var t tally
	t.started = len(r.subs)
	if r.lastJoinAt.Load() == 0 {
		t.started = 0
	}
	for _, s := range r.subs {
		switch s.state.Load() {
		case failed:
			t.failed++
			t.settled++
			continue
		case joined:
			t.joined++
		}
		all := true
		for _, sub := range s.subs {
			t.subscriptions++
			v := sub.video.Load()
			if v != nil && v.packets.Load() > 0 {
				t.receiving++
			}
			if v != nil && v.firstKeyAt.Load() > 0 {
				t.keyframes++
			} else {
				all = false
			}
			t.packets += v.snapshot().packets + sub.audio.Load().snapshot().packets
		}
		if all && s.state.Load() == joined {
			t.settled++
		}
	}
	return t
}

func (r *run) firstError() error {
	for _, s := range r.subs {
		if s.state.Load() == failed {
			return s.err
		}
	}
	return nil
}

// closeAll leaves and closes every subscriber (32 at a time: a few hundred
// DTLS close alerts at once would only queue) and then the publishers.
func (r *run) closeAll() {
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for _, s := range r.subs {
		if s.state.Load() != joined || s.leave == nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := s.leave(); err != nil {
				r.cfg.logger().Debug("loadtest: closing a subscriber", "uid", s.uid, "err", err)
			}
		})
	}
	wg.Wait()
	for _, p := range r.pubConns {
		if err := p.close(); err != nil {
			r.cfg.logger().Debug("loadtest: closing a publisher", "err", err)
		}
	}
}
