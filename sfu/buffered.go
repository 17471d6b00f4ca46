package sfu

import (
	"sync"
	"sync/atomic"
)

// Buffered gives a consumer that can be slow (a recorder, an HLS muxer, a
// relay) a goroutine of its own behind a bounded queue, so nothing it does
// can stall the fanout. When the queue is full the packet is dropped and
// counted, and after that the consumer is fed nothing until the next packet a
// decoder can start at (a keyframe for video): it sees a clean gap, never a
// frame with holes. Attach a Buffered to one up track.
type Buffered struct {
	inner DownTrack
	q     chan *Packet
	// dropping is owned by the writer calling WriteRTP.
	dropping bool
	dropped  atomic.Uint64
	passed   atomic.Uint64

	mu      sync.Mutex
	mapping *TimeMapping
	ended   bool
	closed  bool
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

// NewBuffered wraps inner with a queue of size packets and starts its
// goroutine; Close stops it.
func NewBuffered(inner DownTrack, size int) *Buffered {
	if size < 1 {
		size = 1
	}
	b := &Buffered{
		inner: inner, q: make(chan *Packet, size),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go b.run()
	return b
}

// WriteRTP queues p for the consumer without blocking.
func (b *Buffered) WriteRTP(p *Packet) error {
	if b.dropping && !p.Keyframe {
		b.dropped.Add(1)
		return nil
	}
	p.Retain()
	select {
	case b.q <- p:
		b.dropping = false
	default:
		p.Release()
		b.dropped.Add(1)
		b.dropping = true
	}
	return nil
}

// SetTimeMapping passes the mapping to the consumer on its goroutine.
func (b *Buffered) SetTimeMapping(m TimeMapping) {
	b.mu.Lock()
	b.mapping = &m
	b.mu.Unlock()
	b.poke()
}

// UpTrackEnded tells the consumer, after the packets already queued.
func (b *Buffered) UpTrackEnded() {
	b.mu.Lock()
	b.ended = true
	b.mu.Unlock()
	b.poke()
}

func (b *Buffered) poke() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// Dropped is how many packets the consumer lost to a full queue (or to
// waiting for the keyframe after one).
func (b *Buffered) Dropped() uint64 { return b.dropped.Load() }

// Queued is how many packets wait for the consumer.
func (b *Buffered) Queued() int { return len(b.q) }

// Passed is how many packets reached the consumer.
func (b *Buffered) Passed() uint64 { return b.passed.Load() }

// Finish lets the consumer take what is queued, tells it the track ended,
// and waits for its goroutine to end. Detach the Buffered from its up track
// first.
func (b *Buffered) Finish() {
	b.UpTrackEnded()
	<-b.done
}

// Close stops the goroutine, dropping what is queued, and waits for it
// (that is, for the consumer's WriteRTP under way to return). Detach the
// Buffered from its up track first.
func (b *Buffered) Close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.stop)
	}
	b.mu.Unlock()
	<-b.done
}

func (b *Buffered) run() {
	defer close(b.done)
	defer b.drain()
	for {
		b.control(false)
		select {
		case <-b.stop:
			return
		case p := <-b.q:
			b.deliver(p)
		case <-b.kick:
			if b.control(len(b.q) == 0) {
				return
			}
		}
	}
}

// control delivers a pending time mapping, and the end of the track once
// the queue is empty; it reports whether the track ended.
func (b *Buffered) control(empty bool) bool {
	b.mu.Lock()
	m, ended := b.mapping, b.ended
	b.mapping = nil
	b.mu.Unlock()
	if m != nil {
		b.inner.SetTimeMapping(*m)
	}
	if ended && empty {
		b.inner.UpTrackEnded()
		return true
	}
	if ended {
		b.poke() // look again once the queue is drained
	}
	return false
}

func (b *Buffered) deliver(p *Packet) {
	_ = b.inner.WriteRTP(p)
	b.passed.Add(1)
	p.Release()
}

func (b *Buffered) drain() {
	for {
		select {
		case p := <-b.q:
			p.Release()
		default:
			return
		}
	}
}
