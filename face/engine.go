package face

import (
	"runtime"
	"sync"
)

// engine is the scratch state of one forward pass: buffers, the arguments of the layer being
// split across cores, and the workers to split it on. Engines are pooled per net, so a pass
// in steady state allocates nothing.
type engine struct {
	arena
	pool *workerPool
	gc   gemmCall
	dw   dwCall
	wg   sync.WaitGroup
}

func (e *engine) workers() int {
	if e.pool == nil {
		return 1
	}
	return e.pool.n + 1
}

// parter is a piece of work over units [0, n) that can be done in disjoint ranges at once.
type parter interface {
	part(lo, hi int)
}

// minParallelWork is the multiply-adds below which a layer runs on the calling goroutine only:
// handing work to another core costs a few microseconds.
const minParallelWork = 1 << 18

// parallel runs p over [0, units), split across the workers and the calling goroutine.
func (e *engine) parallel(p parter, units, work int) {
	parts := min(e.workers(), units)
	if parts <= 1 || work < minParallelWork {
		p.part(0, units)
		return
	}
	for i := 1; i < parts; i++ {
		e.wg.Add(1)
		j := job{p: p, lo: units * i / parts, hi: units * (i + 1) / parts, wg: &e.wg}
		if !e.pool.submit(j) {
			j.run()
		}
	}
	p.part(0, units/parts)
	e.wg.Wait()
}

type job struct {
	p      parter
	lo, hi int
	wg     *sync.WaitGroup
}

func (j job) run() {
	j.p.part(j.lo, j.hi)
	j.wg.Done()
}

// workerPool is a fixed set of goroutines that take layer parts from any forward pass of the
// Models that owns it. They stop when the Models is closed or garbage collected.
type workerPool struct {
	n    int
	jobs chan job
	done chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

func newWorkerPool() *workerPool {
	p := &workerPool{n: runtime.GOMAXPROCS(0) - 1, jobs: make(chan job), done: make(chan struct{})}
	for i := 0; i < p.n; i++ {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for {
				select {
				case j := <-p.jobs:
					j.run()
				case <-p.done:
					return
				}
			}
		}()
	}
	return p
}

// submit hands j to a worker, or reports false when the pool is closed.
func (p *workerPool) submit(j job) bool {
	select {
	case p.jobs <- j:
		return true
	case <-p.done:
		return false
	}
}

func (p *workerPool) close() {
	p.once.Do(func() { close(p.done) })
	p.wg.Wait()
}

// enginePool hands out engines for one net.
type enginePool struct {
	pool sync.Pool
}

func (ep *enginePool) get(wp *workerPool) *engine {
	e, _ := ep.pool.Get().(*engine)
	if e == nil {
		e = &engine{}
	}
	e.pool = wp
	return e
}

func (ep *enginePool) put(e *engine) {
	e.gc, e.dw = gemmCall{}, dwCall{}
	ep.pool.Put(e)
}
