package limit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

func TestGateAdmitsJobsQueuesAndRefuses(t *testing.T) {
	var idle atomic.Int32
	g := NewGate(2, 1, 0, func() { idle.Add(1) })
	ctx := context.Background()
	r1, err := g.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := g.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan func(), 1)
	go func() {
		r, err := g.Acquire(ctx)
		if err != nil {
			t.Error(err)
		}
		got <- r
	}()
	waitFor(t, func() bool { return g.Waiting() == 1 })
	if _, err := g.Acquire(ctx); !errors.Is(err, ErrBusy) {
		t.Fatalf("a fourth caller with 2 slots and a queue of 1: err = %v, want ErrBusy", err)
	}
	r1()
	r1() // a second release is a no-op
	r3 := <-got
	if g.Running() != 2 {
		t.Fatalf("running = %d, want 2", g.Running())
	}
	r2()
	if idle.Load() != 0 {
		t.Fatal("onIdle ran while a job still held a slot")
	}
	r3()
	if idle.Load() != 1 || g.Running() != 0 {
		t.Fatalf("after the last release: idle calls = %d, running = %d; want 1, 0", idle.Load(), g.Running())
	}
}

func TestGateQueueGivesUp(t *testing.T) {
	tests := []struct {
		name string
		wait time.Duration
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"queue wait runs out", 10 * time.Millisecond, func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}},
		{"request ends", 0, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 10*time.Millisecond)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := NewGate(1, 4, tc.wait, nil)
			release, err := g.Acquire(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			ctx, cancel := tc.ctx()
			defer cancel()
			if _, err := g.Acquire(ctx); !errors.Is(err, ErrBusy) {
				t.Fatalf("err = %v, want ErrBusy", err)
			}
			if g.Waiting() != 0 {
				t.Fatalf("a caller that gave up still counts as waiting: %d", g.Waiting())
			}
		})
	}
}

func TestRateBucketsPerKey(t *testing.T) {
	now := time.Unix(1000, 0)
	r := NewRate(2, 3)
	r.SetClock(func() time.Time { return now })
	for i := range 3 {
		if ok, _ := r.Allow("a"); !ok {
			t.Fatalf("call %d within the burst was refused", i)
		}
	}
	ok, retry := r.Allow("a")
	if ok || retry <= 0 || retry > time.Second {
		t.Fatalf("past the burst: ok=%v retry=%v, want refused with 0 < retry ≤ 1s", ok, retry)
	}
	if ok, _ := r.Allow("b"); !ok {
		t.Fatal("another key was refused: buckets are not per key")
	}
	if ok, _ := r.Check("a"); ok {
		t.Fatal("Check said yes for an empty bucket")
	}
	now = now.Add(500 * time.Millisecond) // refills one token at 2/s
	if ok, _ := r.Check("a"); !ok {
		t.Fatal("Check said no after a refill")
	}
	if ok, _ := r.Allow("a"); !ok {
		t.Fatal("refilled token refused")
	}
	if ok, _ := r.Allow("a"); ok {
		t.Fatal("only one token refilled, two were taken")
	}
	var off *Rate
	if ok, _ := off.Allow("x"); !ok {
		t.Fatal("a nil Rate must allow everything")
	}
	if ok, _ := NewRate(0, 1).Allow("x"); !ok {
		t.Fatal("a zero Rate must allow everything")
	}
}

func TestRateKeysAreBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	r := NewRate(1, 1)
	r.SetClock(func() time.Time { return now })
	for i := range maxKeys {
		r.Allow(fmt.Sprint(i))
	}
	if ok, _ := r.Allow("newcomer"); ok {
		t.Fatal("a newcomer was let in while every bucket is in use")
	}
	if r.Keys() != maxKeys {
		t.Fatalf("keys = %d, want %d", r.Keys(), maxKeys)
	}
	now = now.Add(2 * time.Second) // every bucket refills: idle keys are swept
	if ok, _ := r.Allow("newcomer"); !ok {
		t.Fatal("newcomer refused after the idle buckets refilled")
	}
	if r.Keys() != 1 {
		t.Fatalf("keys after the sweep = %d, want 1", r.Keys())
	}
}

func TestListenerCapsConnectionsPerIP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var refusedIPs atomic.Int32
	l := NewListener(ln, 2, func(string) { refusedIPs.Add(1) })
	defer l.Close()
	accepted := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	dial()
	dial()
	s1, s2 := <-accepted, <-accepted
	third := dial()
	// The server closes the third at once: a read sees EOF.
	third.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := third.Read(make([]byte, 1)); err == nil {
		t.Fatal("the third connection from one IP was served")
	}
	if l.Refused() != 1 || refusedIPs.Load() != 1 {
		t.Fatalf("refused = %d (callback %d), want 1", l.Refused(), refusedIPs.Load())
	}
	if l.Open("127.0.0.1") != 2 {
		t.Fatalf("open = %d, want 2", l.Open("127.0.0.1"))
	}
	s1.Close()
	s1.Close() // closing twice releases once
	if l.Open("127.0.0.1") != 1 {
		t.Fatalf("after one close: open = %d, want 1", l.Open("127.0.0.1"))
	}
	dial()
	s3 := <-accepted
	if l.Open("127.0.0.1") != 2 {
		t.Fatalf("a freed slot was not reused: open = %d", l.Open("127.0.0.1"))
	}
	s2.Close()
	s3.Close()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 30s")
		}
		time.Sleep(time.Millisecond)
	}
}
