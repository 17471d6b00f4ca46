package signaling

import (
	"log/slog"
	"os"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/stoa-video/stoa/sfu"
)

// nopListener drops a participant's events.
type nopListener struct{}

func (nopListener) Notify(sfu.Event) {}

// testConn is a websocket stand-in whose frames nobody reads: send queues
// until the queue is full, then the session kills it, as for a stuck client.
func testConn() *wsConn {
	return &wsConn{out: make(chan outFrame, outQueue), stop: make(chan struct{})}
}

// The sfu calls OnJoined under its room lock, and OnJoined sends through a
// session's lock; a resume must therefore never hold the session's lock while
// it takes the room's (issue 15's review: Server.resume took the room snapshot
// under ss.mu, the ABBA order). Here a session is resumed over and over while
// other participants join the same room with an OnJoined that sends to that
// session: with the locks taken in opposite orders the two loops deadlock
// within a few hundred rounds. The 60 s bound is one only a deadlock trips.
func TestResumeDoesNotHoldSessionLockAcrossRoomLock(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	media, err := sfu.New(sfu.Config{UDPPort: 0, TCPPort: -1, ICEIPs: []string{"127.0.0.1"}}, log)
	if err != nil {
		t.Fatal(err)
	}
	tokens := NewTokenIssuer([]byte("secret-0123456789abcdef"))
	s := NewServer(Options{SFU: media, Tokens: tokens, Logger: log})
	tok, _, err := tokens.Issue("r", "u", RoleHost, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := s.join(testConn(), Message{Type: TypeJoin, ID: 1, Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	claims := ss.currentClaims()

	const rounds = 2000
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range rounds {
			if _, err := s.resume(testConn(), claims, Message{Type: TypeJoin, ID: int64(i), Session: ss.id}); err != nil {
				t.Errorf("resume %d: %v", i, err)
				return
			}
		}
	})
	wg.Go(func() {
		for i := range rounds {
			p, err := media.Join("r", sfu.JoinOptions{UID: "other", CanPublish: true, Listener: nopListener{},
				OnJoined: func(sfu.JoinSnapshot) { ss.send(Message{Type: TypePong}) }})
			if err != nil {
				t.Errorf("join %d: %v", i, err)
				return
			}
			p.Close("quit")
		}
	})
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		// Leave the deadlocked goroutines (and the server they hold) behind:
		// closing the server would wait on the same locks.
		_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
		t.Fatal("resume and join deadlocked: the session's and the room's locks are taken in opposite orders")
	}
	s.Close()
	if err := media.Close(); err != nil {
		t.Error(err)
	}
}
