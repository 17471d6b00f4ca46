package limit

import (
	"math"
	"sync"
	"time"
)

// maxKeys bounds the buckets a Rate keeps: past it, full (idle) buckets are
// swept, and if every bucket is in use the newcomer is refused, so a flood of
// distinct keys costs bounded memory.
const maxKeys = 65536

// Rate is a set of token buckets, one per key (a token's subject, a client
// IP): each key may do Burst things at once and PerSecond on average.
type Rate struct {
	perSecond float64
	burst     float64
	now       func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewRate returns a Rate allowing perSecond on average and burst at once per
// key. A perSecond ≤ 0 disables it: every call is allowed.
func NewRate(perSecond float64, burst int) *Rate {
	return &Rate{perSecond: perSecond, burst: float64(max(burst, 1)), now: time.Now, buckets: map[string]*bucket{}}
}

// SetClock replaces the clock (tests use a fake one).
func (r *Rate) SetClock(now func() time.Time) { r.now = now }

// Allow takes one token from key's bucket. When there is none it answers
// false and how long until one is back.
func (r *Rate) Allow(key string) (ok bool, retryAfter time.Duration) {
	return r.take(key, true)
}

// Check is Allow without taking a token: it tells whether key could act now.
func (r *Rate) Check(key string) (ok bool, retryAfter time.Duration) {
	return r.take(key, false)
}

func (r *Rate) take(key string, consume bool) (bool, time.Duration) {
	if r == nil || r.perSecond <= 0 {
		return true, 0
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.buckets[key]
	if b == nil {
		if !consume {
			return true, 0
		}
		if len(r.buckets) >= maxKeys && !r.sweep(now) {
			return false, time.Duration(float64(time.Second) / r.perSecond)
		}
		b = &bucket{tokens: r.burst, at: now}
		r.buckets[key] = b
	}
	b.tokens = math.Min(r.burst, b.tokens+now.Sub(b.at).Seconds()*r.perSecond)
	b.at = now
	if b.tokens < 1 {
		wait := time.Duration((1 - b.tokens) / r.perSecond * float64(time.Second))
		return false, max(wait, time.Millisecond)
	}
	if consume {
		b.tokens--
	}
	return true, 0
}

// sweep drops the buckets that have refilled (their keys are idle) and says
// whether that made room. Called with r.mu held.
func (r *Rate) sweep(now time.Time) bool {
	for k, b := range r.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*r.perSecond >= r.burst {
			delete(r.buckets, k)
		}
	}
	return len(r.buckets) < maxKeys
}

// Keys reports how many keys the Rate tracks (for tests and metrics).
func (r *Rate) Keys() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.buckets)
}
