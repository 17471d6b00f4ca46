// Package calls is the claims call center: the queue a customer's call waits
// in, the agents' presence and the ringing of their consoles, the call
// records, the client logs filed with them, and the webhooks that tell the
// insurer's systems what happened. It keeps everything in one embedded bbolt
// file (DATA_DIR/calls.db) so a restart loses neither a record nor an
// undelivered webhook.
//
// It knows calls and agents by id, not tokens or HTTP: package api says who
// a caller is and streams a Stream's events as Server-Sent Events; the rest
// of the server tells it about recordings and network quality through
// AddRecording, NoteQuality and Emit. A call's room is Room(id), its
// customer joins it as CustomerUID(id).
package callcenter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Errors the Service returns; package api maps each to a stable code.
var (
	// ErrNotFound: no call by that id.
	ErrNotFound = errors.New("call not found")
	// ErrTaken: another agent answered the call first.
	ErrTaken = errors.New("call already answered by another agent")
	// ErrState: the call is not in a state that allows the request.
	ErrState = errors.New("call is not in a state that allows this")
	// ErrEnded: the call is over and cannot be queued again.
	ErrEnded = errors.New("call has ended")
	// ErrAgentBusy: the agent is in another call.
	ErrAgentBusy = errors.New("agent is in another call")
	// ErrNotAgent: the caller is not the agent who answered the call.
	ErrNotAgent = errors.New("only the agent who answered the call may do this")
	// ErrBadInput: a field is missing, too long or malformed.
	ErrBadInput = errors.New("bad input")
	// ErrClosed: the service is shutting down.
	ErrClosed = errors.New("call center is shutting down")
)

// Defaults of Options.
const (
	DefaultRingTimeout   = 60 * time.Second
	DefaultLinkTTL       = 24 * time.Hour
	DefaultLongCall      = 30 * time.Minute
	DefaultLongCallGrace = 30 * time.Second
	DefaultRetryBase     = time.Second
	DefaultRetryMax      = 5 * time.Minute
	DefaultGiveUp        = 24 * time.Hour
)

// TimeoutMessage is what a customer whose call nobody answered is told.
const TimeoutMessage = "No agent is free right now. Please try again in a few minutes."

// Webhook is an endpoint the service POSTs its events to, signed with Secret.
type Webhook struct {
	URL    string
	Secret string
}

// Options configures a Service. A zero duration takes its default.
type Options struct {
	// RingTimeout is how long a queued call rings before the customer is told
	// nobody is free.
	RingTimeout time.Duration
	// LinkTTL is how long a call's link (and the customer's token) is valid
	// after the call is created.
	LinkTTL time.Duration
	// LongCall and LongCallGrace are the console's long-call guard: after
	// LongCall it asks the agent whether to go on, and hangs up after
	// LongCallGrace without an answer. The service only hands them out.
	LongCall      time.Duration
	LongCallGrace time.Duration
	// Webhooks receive call-queued, call-answered, call-ended and the events
	// given to Emit.
	Webhooks []Webhook
	// RetryBase is the wait before a failed delivery's first retry; it
	// doubles with each attempt up to RetryMax. GiveUp is how long an event
	// is retried before its delivery is marked failed and the endpoint's
	// queue moves on.
	RetryBase, RetryMax, GiveUp time.Duration
	// Client posts the webhooks; nil means one with a 10 s timeout that does
	// not follow redirects.
	Client *http.Client
	// Now is the clock; nil means time.Now. Tests set it.
	Now    func() time.Time
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.RingTimeout, DefaultRingTimeout)
	def(&o.LinkTTL, DefaultLinkTTL)
	def(&o.LongCall, DefaultLongCall)
	def(&o.LongCallGrace, DefaultLongCallGrace)
	def(&o.RetryBase, DefaultRetryBase)
	def(&o.RetryMax, DefaultRetryMax)
	def(&o.GiveUp, DefaultGiveUp)
	o.RetryMax = max(o.RetryMax, o.RetryBase)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return o
}

// Service is the call center. It is safe for concurrent use; Close stops it.
type Service struct {
	opts Options
	log  *slog.Logger
	db   *bolt.DB
	now  func() time.Time

	mu       sync.Mutex
	live     map[string]*call // queued and answered calls
	agents   map[string]*agent
	watchers map[string]map[*Stream]struct{} // call id → the customer's streams
	closed   bool

	hooks *outbox
	wake  chan struct{} // the ring-timeout loop re-reads the queue
	ctx   context.Context
	stop  context.CancelFunc
	wg    sync.WaitGroup
}

// Open opens (creating if needed) the call center's store at path and starts
// the ring timeouts and the webhook deliveries.
func Open(path string, o Options) (*Service, error) {
	o = o.withDefaults()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open call center store %s: %w", path, err)
	}
	if err := db.Update(createBuckets); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("init call center store %s: %w", path, err)
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Service{opts: o, log: o.Logger, db: db, now: o.Now,
		live: map[string]*call{}, agents: map[string]*agent{}, watchers: map[string]map[*Stream]struct{}{},
		wake: make(chan struct{}, 1), ctx: ctx, stop: stop}
	if err := s.loadLive(); err != nil {
		stop()
		_ = db.Close()
		return nil, fmt.Errorf("load live calls from %s: %w", path, err)
	}
	s.hooks = newOutbox(s, o)
	if err := s.hooks.forgetUnconfigured(); err != nil {
		stop()
		_ = db.Close()
		return nil, fmt.Errorf("webhook outbox in %s: %w", path, err)
	}
	s.wg.Add(1)
	go s.timeoutLoop()
	s.hooks.start()
	return s, nil
}

// Close ends every event stream, stops the timeouts and the deliveries (an
// undelivered event stays in the outbox for the next start) and closes the
// store. It is idempotent.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for _, a := range s.agents {
		for st := range a.streams {
			st.end()
		}
	}
	for _, ws := range s.watchers {
		for st := range ws {
			st.end()
		}
	}
	s.mu.Unlock()
	s.stop()
	s.wg.Wait()
	return s.db.Close()
}

// view and update run fn in a read or a write transaction; once the store
// is closed they return ErrClosed.
func (s *Service) view(fn func(*bolt.Tx) error) error   { return storeErr(s.db.View(fn)) }
func (s *Service) update(fn func(*bolt.Tx) error) error { return storeErr(s.db.Update(fn)) }

func storeErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// LongCall returns the console's long-call guard: after limit, ask the agent;
// after grace without an answer, hang up.
func (s *Service) LongCall() (limit, grace time.Duration) {
	return s.opts.LongCall, s.opts.LongCallGrace
}

// RingTimeout is how long a queued call rings before it times out.
func (s *Service) RingTimeout() time.Duration { return s.opts.RingTimeout }

// roomPrefix and customerPrefix name a call's room and its customer's uid.
const (
	roomPrefix     = "call-"
	customerPrefix = "customer-"
)

// Room is the name of call id's room.
func Room(id string) string { return roomPrefix + id }

// CustomerUID is the uid the customer of call id joins its room with.
func CustomerUID(id string) string { return customerPrefix + id }

// CallOf returns the call id whose room is room, if room is a call's.
func CallOf(room string) (id string, ok bool) {
	id, ok = strings.CutPrefix(room, roomPrefix)
	return id, ok && validID(id)
}

// newID makes a call id: the creation time in milliseconds (12 hex digits,
// so ids sort by creation, which the record list relies on) and 40 random
// bits, 22 characters a token's room and uid accept.
func newID(now time.Time) string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%012x%s", now.UnixMilli(), hex.EncodeToString(b[:]))
}

// validID reports whether id looks like one newID made.
func validID(id string) bool {
	if len(id) != 22 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// ms is t in Unix milliseconds, 0 for the zero time.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
