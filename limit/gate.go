// Package limit holds the server's admission controls: a gate that bounds
// concurrent heavy jobs (face, OCR, snapshots) behind a short queue, keyed
// token buckets for request rates, and a listener that caps connections per
// client address. Each says no at once rather than letting hostile or
// bursty input take the machine's memory or file descriptors.
package limit

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrBusy is returned by Gate.Acquire when every slot is taken and the
// queue is full, or the wait in the queue ran out: the caller answers 503
// with Retry-After.
var ErrBusy = errors.New("too many jobs in progress")

// Gate lets at most Jobs heavy jobs run at once and at most Queue more wait
// for a slot; anything beyond is refused at once. Jobs hold large images and
// tensors, so the gate bounds the server's peak memory, not just its CPU.
type Gate struct {
	slots chan struct{}
	queue chan struct{}
	wait  time.Duration
	// onIdle runs (on the releasing goroutine) when the last running job ends
	// with nobody queued, e.g. to hand a burst's memory back to the OS.
	onIdle func()
}

// NewGate returns a gate of jobs slots (at least 1) and a queue of queue
// waiters (0 means none); a waiter gives up after wait (0 means only the
// request's context bounds it). onIdle may be nil.
func NewGate(jobs, queue int, wait time.Duration, onIdle func()) *Gate {
	jobs = max(jobs, 1)
	queue = max(queue, 0)
	return &Gate{slots: make(chan struct{}, jobs), queue: make(chan struct{}, queue), wait: wait, onIdle: onIdle}
}

// Acquire takes a slot, waiting in the queue if there is room in it. The
// returned release must be called exactly once when the job is done.
func (g *Gate) Acquire(ctx context.Context) (release func(), err error) {
	select {
	case g.slots <- struct{}{}:
		return g.started(), nil
	default:
	}
	select {
	case g.queue <- struct{}{}:
	default:
		return nil, ErrBusy
	}
	defer func() { <-g.queue }()
	var timeout <-chan time.Time
	if g.wait > 0 {
		t := time.NewTimer(g.wait)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case g.slots <- struct{}{}:
		return g.started(), nil
	case <-timeout:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, errors.Join(ErrBusy, ctx.Err())
	}
}

func (g *Gate) started() func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			<-g.slots
			// A job starting meanwhile at worst skips or repeats one onIdle.
			if g.onIdle != nil && len(g.slots) == 0 && len(g.queue) == 0 {
				g.onIdle()
			}
		})
	}
}

// Running reports how many jobs hold a slot now.
func (g *Gate) Running() int { return len(g.slots) }

// Waiting reports how many callers wait in the queue now.
func (g *Gate) Waiting() int { return len(g.queue) }
