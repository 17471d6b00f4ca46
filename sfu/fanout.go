package sfu

import (
	"math"
	"sync"
	"sync/atomic"
)

// Writer shards: an up track's down tracks are spread over about √N writer
// goroutines (as Galène does), each with a bounded queue. The reader
// goroutine only parses, caches and enqueues, so it keeps reading while
// subscribers are written (pion's receive buffers never fill with seconds of
// video), the last of N viewers waits for its shard (√N writes), not for all
// N, and a shard that falls behind loses packets (which its subscribers
// recover by NACK from the cache) instead of delaying everyone else.
const (
	// shardQueue bounds a shard's backlog: a keyframe burst of a 1080p
	// stream fits; a shard stuck for longer drops.
	shardQueue = 512
	// maxShards caps the writer goroutines per up track: past a few per
	// core more goroutines add wake-ups, not parallelism.
	maxShards = 24
)

type shard struct {
	q     chan *Packet
	downs atomic.Pointer[[]DownTrack]
	n     int // len(*downs), under fanout.mu
	// dropped counts packets this shard's subscribers lost to a full queue.
	dropped atomic.Uint64
}

// fanout owns an up track's writer shards and their goroutines.
type fanout struct {
	mu     sync.Mutex
	shards atomic.Pointer[[]*shard]
	where  map[DownTrack]*shard
	total  int
	closed bool
	// stop ends the writers; the queues are never closed, so a late send
	// or flush cannot panic.
	stop chan struct{}
	wg   sync.WaitGroup
}

func newFanout() *fanout {
	f := &fanout{where: map[DownTrack]*shard{}, stop: make(chan struct{})}
	f.shards.Store(&[]*shard{})
	return f
}

// add puts d on the least loaded shard, starting a new one while there are
// fewer than ⌈√N⌉. It reports false once the fanout is closed.
func (f *fanout) add(d DownTrack) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	if _, ok := f.where[d]; ok {
		return true
	}
	shards := *f.shards.Load()
	f.total++
	want := int(math.Ceil(math.Sqrt(float64(f.total))))
	var sh *shard
	if len(shards) < want && len(shards) < maxShards {
		sh = &shard{q: make(chan *Packet, shardQueue)}
		sh.downs.Store(&[]DownTrack{})
		next := append(append(make([]*shard, 0, len(shards)+1), shards...), sh)
		f.shards.Store(&next)
		f.wg.Add(1)
		go f.run(sh)
	} else {
		for _, s := range shards {
			if sh == nil || s.n < sh.n {
				sh = s
			}
		}
	}
	old := *sh.downs.Load()
	next := append(append(make([]DownTrack, 0, len(old)+1), old...), d)
	sh.downs.Store(&next)
	sh.n++
	f.where[d] = sh
	return true
}

// remove takes d off its shard; it reports whether d was there.
func (f *fanout) remove(d DownTrack) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	sh := f.where[d]
	if sh == nil {
		return false
	}
	delete(f.where, d)
	f.total--
	old := *sh.downs.Load()
	next := make([]DownTrack, 0, len(old))
	for _, x := range old {
		if x != d {
			next = append(next, x)
		}
	}
	sh.downs.Store(&next)
	sh.n--
	return true
}

// all returns every down track (for control messages, not per packet).
func (f *fanout) all() []DownTrack {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]DownTrack, 0, len(f.where))
	for d := range f.where {
		out = append(out, d)
	}
	return out
}

func (f *fanout) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.total
}

// send enqueues p on every shard that has down tracks, without blocking.
func (f *fanout) send(p *Packet) {
	for _, sh := range *f.shards.Load() {
		if len(*sh.downs.Load()) == 0 {
			continue
		}
		p.Retain()
		select {
		case sh.q <- p:
		default:
			p.Release()
			sh.dropped.Add(1)
		}
	}
}

// flush waits until every packet enqueued before it has been written (or
// the fanout is closed).
func (f *fanout) flush() {
	for _, sh := range *f.shards.Load() {
		b := newPacket()
		b.barrier = make(chan struct{})
		done := b.barrier
		select {
		case sh.q <- b:
		case <-f.stop:
			b.Release()
			return
		}
		select {
		case <-done:
		case <-f.stop:
			return
		}
	}
}

// close stops the writer goroutines once they have written what is queued.
func (f *fanout) close() {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.closed = true
	f.mu.Unlock()
	close(f.stop)
	f.wg.Wait()
}

func (f *fanout) run(sh *shard) {
	defer f.wg.Done()
	for {
		select {
		case p := <-sh.q:
			f.write(sh, p)
		case <-f.stop:
			for { // write what is queued, then end
				select {
				case p := <-sh.q:
					f.write(sh, p)
				default:
					return
				}
			}
		}
	}
}

// write hands one queued packet (or flush marker) to the shard's down tracks.
func (f *fanout) write(sh *shard, p *Packet) {
	if p.barrier != nil {
		close(p.barrier)
		p.Release()
		return
	}
	for _, d := range *sh.downs.Load() {
		_ = d.WriteRTP(p)
	}
	p.Release()
}

// dropped sums the packets lost to full shard queues.
func (f *fanout) dropped() uint64 {
	var n uint64
	for _, sh := range *f.shards.Load() {
		n += sh.dropped.Load()
	}
	return n
}
