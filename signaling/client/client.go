// Package client is a Go client of Stoa's signaling protocol (docs/signaling.md):
// one websocket, a publication PeerConnection ("pub") and one PeerConnection per
// subscription ("sub:<uid>"). Tests and the load generator use it to play a
// participant in a few lines.
package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/stoa-video/stoa/sfu"
	"github.com/stoa-video/stoa/signaling"
)

// eventBuffer is how many unread events a Client keeps before it drops the oldest.
const eventBuffer = 256

// ErrClosed is returned (wrapped) when the websocket ended before an answer came,
// or the Client was closed.
var ErrClosed = errors.New("signaling client: websocket closed")

// Options says where and as whom a Client joins.
type Options struct {
	URL           string // ws://host:port/ws
	Token         string
	Role          string // "" = the server's default for the mode
	Mode          string // "" = rtc
	AutoSubscribe bool   // sent as autoSubscribe, always explicitly (so the zero value means false)

	// API builds the PeerConnections; nil = webrtc.NewAPI() with pion's default
	// codecs and interceptors. Tests pass a loopback-only API or one with extra
	// interceptors (loss injection).
	API                *webrtc.API
	ICETransportPolicy webrtc.ICETransportPolicy // e.g. webrtc.ICETransportPolicyRelay for the TURN test
	Header             http.Header               // extra websocket handshake headers
	Logger             *slog.Logger              // nil = slog.Default()
	// Ping opens the stoa-ping data channel with the publication and pings
	// once a second, as the browser SDK does.
	Ping bool
}

// Client is one participant: a websocket to the server and the PeerConnections
// it negotiates. Its methods are safe for concurrent use.
type Client struct {
	opts Options
	api  *webrtc.API
	log  *slog.Logger

	nextID  atomic.Int64
	events  chan signaling.Message
	dropped atomic.Uint64

	closing   chan struct{} // closed when Close starts
	closeOnce sync.Once
	closeErr  error
	bg        sync.WaitGroup // PeerConnections being closed in the background

	mu         sync.Mutex
	closed     bool
	cn         *conn // the current websocket
	token      string
	joined     signaling.Message
	pub        *peer
	pubSenders []*webrtc.RTPSender
	pinger     *pinger                              // the publication's pings, with Options.Ping
	subs       map[string]*peer                     // by publisher uid
	early      map[string][]webrtc.ICECandidateInit // candidates for a sub:<uid> not created yet
	waiters    map[string][]chan error              // by pc name: told when the server's next offer is answered
	onTrack    func(uid string, track *webrtc.TrackRemote, recv *webrtc.RTPReceiver)
	tracks     []pendingTrack // arrived before onTrack was set
}

type pendingTrack struct {
	uid   string
	track *webrtc.TrackRemote
	recv  *webrtc.RTPReceiver
}

// Dial opens the websocket, sends join and waits for joined. If the server
// answers with an error frame, the error returned is that *signaling.Error itself.
func Dial(ctx context.Context, opts Options) (*Client, error) {
	if opts.URL == "" {
		return nil, errors.New("dial: Options.URL is empty")
	}
	c := &Client{
		opts:    opts,
		api:     opts.API,
		log:     opts.Logger,
		events:  make(chan signaling.Message, eventBuffer),
		closing: make(chan struct{}),
		token:   opts.Token,
		subs:    make(map[string]*peer),
		early:   make(map[string][]webrtc.ICECandidateInit),
		waiters: make(map[string][]chan error),
	}
	if c.api == nil {
		c.api = webrtc.NewAPI()
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if _, err := c.join(ctx, ""); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// join opens a new websocket, makes it the current one and joins on it
// (resuming session if it is not empty).
func (c *Client) join(ctx context.Context, session string) (signaling.Message, error) {
	cn, err := c.dial(ctx)
	if err != nil {
		return signaling.Message{}, err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		cn.stop()
		return signaling.Message{}, fmt.Errorf("join: %w", ErrClosed)
	}
	c.cn = cn
	token := c.token
	c.mu.Unlock()

	auto := c.opts.AutoSubscribe
	reply, err := c.Request(ctx, signaling.Message{
		Type:          signaling.TypeJoin,
		Token:         token,
		Role:          c.opts.Role,
		Mode:          c.opts.Mode,
		AutoSubscribe: &auto,
		Session:       session,
	})
	var perr *signaling.Error
	if errors.As(err, &perr) {
		return reply, perr
	}
	if err != nil {
		return reply, fmt.Errorf("join: %w", err)
	}
	if reply.Type != signaling.TypeJoined {
		return reply, fmt.Errorf("join: got %s instead of joined", reply)
	}
	return reply, nil
}

// Joined returns the server's joined reply (the latest one after Resume).
func (c *Client) Joined() signaling.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.joined
}

// UID returns this participant's uid, from joined.
func (c *Client) UID() string { return c.Joined().UID }

// Request sends m with a fresh id and waits for the reply with the same id. An
// error reply is returned as the *signaling.Error itself (Code, Message), along
// with the error frame.
func (c *Client) Request(ctx context.Context, m signaling.Message) (signaling.Message, error) {
	cl, err := c.startCall(m)
	if err != nil {
		return signaling.Message{}, err
	}
	defer cl.end()
	return cl.wait(ctx)
}

// Send sends m as is (no id assigned, no wait), for tests that send raw frames.
func (c *Client) Send(m signaling.Message) error {
	if err := c.send(m); err != nil {
		return fmt.Errorf("send %s: %w", m.Type, err)
	}
	return nil
}

// SendRaw sends data as one websocket text frame, for bad-input tests.
func (c *Client) SendRaw(data []byte) error {
	cn := c.current()
	if cn == nil {
		return fmt.Errorf("send raw frame: %w", ErrClosed)
	}
	if err := cn.write(data); err != nil {
		return fmt.Errorf("send raw frame: %w", err)
	}
	return nil
}

// Events returns every server message that is not a reply to a Request
// (stream-added, peer-leave, offer, candidate, error frames without id, …).
// It holds 256 messages; when the reader is slower, the oldest is dropped
// (see DroppedEvents) so the websocket is never stalled. The channel is never
// closed: watch Done.
func (c *Client) Events() <-chan signaling.Message { return c.events }

// DroppedEvents counts the events dropped because Events was full.
func (c *Client) DroppedEvents() uint64 { return c.dropped.Load() }

// pushEvent queues m for Events, dropping the oldest event if the buffer is full.
func (c *Client) pushEvent(m signaling.Message) {
	for {
		select {
		case c.events <- m:
			return
		default:
		}
		select {
		case <-c.events:
			c.dropped.Add(1)
		default:
		}
	}
}

// WaitEvent returns the next event whose Type is typ and for which match (may
// be nil) is true, consuming and skipping the others. It fails with ctx's error,
// or with ErrClosed once the current websocket has ended and the events it
// delivered are used up.
func (c *Client) WaitEvent(ctx context.Context, typ string, match func(signaling.Message) bool) (signaling.Message, error) {
	ok := func(m signaling.Message) bool { return m.Type == typ && (match == nil || match(m)) }
	cn := c.current()
	var done <-chan struct{}
	if cn != nil {
		done = cn.done
	}
	for {
		select {
		case m := <-c.events:
			if ok(m) {
				return m, nil
			}
		case <-ctx.Done():
			return signaling.Message{}, fmt.Errorf("wait for %s: %w", typ, ctx.Err())
		case <-c.closing:
			return signaling.Message{}, fmt.Errorf("wait for %s: %w", typ, ErrClosed)
		case <-done:
			// The read loop queued everything it read before ending.
			for {
				select {
				case m := <-c.events:
					if ok(m) {
						return m, nil
					}
				default:
					return signaling.Message{}, fmt.Errorf("wait for %s: %w", typ, cn.closedErr())
				}
			}
		}
	}
}

// Mute tells the others that this participant's audio or video (kind) is muted
// or not, and waits for the server's muted.
func (c *Client) Mute(ctx context.Context, kind string, muted bool) error {
	if _, err := c.Request(ctx, signaling.Message{Type: signaling.TypeMute, Kind: kind, Muted: &muted}); err != nil {
		return fmt.Errorf("mute %s=%v: %w", kind, muted, err)
	}
	return nil
}

// SetRemoteStreamType chooses which layer of uid's simulcast video this
// participant receives, sfu.StreamHigh or sfu.StreamLow (Agora's
// setRemoteVideoStreamType 0 and 1), and waits for the server's
// stream-type-set. It may be called before subscribing to uid.
func (c *Client) SetRemoteStreamType(ctx context.Context, uid string, t sfu.StreamType) error {
	st := int(t)
	if _, err := c.Request(ctx, signaling.Message{Type: signaling.TypeSetStreamType, UID: uid, StreamType: &st}); err != nil {
		return fmt.Errorf("set the stream type of %s to %d: %w", uid, t, err)
	}
	return nil
}

// Renew hands the server a fresh token and returns the new expiry. Resume then
// uses the new token.
func (c *Client) Renew(ctx context.Context, token string) (expiresAt time.Time, err error) {
	reply, err := c.Request(ctx, signaling.Message{Type: signaling.TypeRenew, Token: token})
	if err != nil {
		return time.Time{}, fmt.Errorf("renew token: %w", err)
	}
	c.mu.Lock()
	c.token = token
	c.mu.Unlock()
	return time.UnixMilli(reply.ExpiresAt), nil
}

// Leave sends leave, waits for left (or the socket closing), then closes the
// websocket and all PeerConnections, like Close.
func (c *Client) Leave(ctx context.Context) error {
	_, err := c.Request(ctx, signaling.Message{Type: signaling.TypeLeave})
	if errors.Is(err, ErrClosed) {
		err = nil // the server closed the socket first: that is leaving too
	}
	if err != nil {
		err = fmt.Errorf("leave: %w", err)
	}
	return errors.Join(err, c.Close())
}

// Drop closes the websocket abruptly (no leave, no close frame) and keeps the
// PeerConnections, to test the resume grace window. It returns when the read
// loop has ended.
func (c *Client) Drop() {
	if cn := c.current(); cn != nil {
		cn.stop()
	}
}

// Resume opens a new websocket and joins with the previous session id
// (joined.session), then restarts ICE: an offer{pc:"pub"} made with ICERestart
// (whose answer it applies), and restart{pc} for each subscription (whose new
// offers are answered automatically; Resume waits for those answers). If the
// current websocket is still open, it is dropped first. A join refused by the
// server returns the *signaling.Error itself, as Dial does.
func (c *Client) Resume(ctx context.Context) error {
	session := c.Joined().Session
	if session == "" {
		return errors.New("resume: no session id from joined")
	}
	c.Drop()
	if _, err := c.join(ctx, session); err != nil {
		c.Drop()
		var perr *signaling.Error
		if errors.As(err, &perr) {
			return perr
		}
		return fmt.Errorf("resume: %w", err)
	}

	c.mu.Lock()
	pub := c.pub
	uids := make([]string, 0, len(c.subs))
	for uid := range c.subs {
		uids = append(uids, uid)
	}
	c.mu.Unlock()

	if pub != nil {
		if err := c.negotiatePub(ctx, pub, signaling.TypeOffer, &webrtc.OfferOptions{ICERestart: true}); err != nil {
			return fmt.Errorf("resume: ICE restart of pub: %w", err)
		}
	}
	for _, uid := range uids {
		name := subPrefix + uid
		if err := c.awaitOffer(ctx, signaling.Message{Type: signaling.TypeRestart, PC: name}, name); err != nil {
			return fmt.Errorf("resume: ICE restart of %s: %w", name, err)
		}
	}
	return nil
}

// Close closes the websocket and every PeerConnection without sending leave,
// and waits for the goroutines it owns. It is idempotent.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		cn := c.cn
		c.mu.Unlock()
		close(c.closing)

		// Stop the read loop first, so it creates no PeerConnection after the sweep below.
		if cn != nil {
			cn.stop()
		}

		c.mu.Lock()
		peers := make([]*peer, 0, len(c.subs)+1)
		if c.pub != nil {
			peers = append(peers, c.pub)
		}
		for _, p := range c.subs {
			peers = append(peers, p)
		}
		c.pub, c.pubSenders, c.pinger = nil, nil, nil
		clear(c.subs)
		clear(c.early)
		c.tracks = nil
		c.mu.Unlock()

		errs := make([]error, len(peers))
		var wg sync.WaitGroup
		for i, p := range peers {
			wg.Go(func() { errs[i] = p.close() })
		}
		wg.Wait()
		c.bg.Wait()
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}

// Done is closed when the current websocket's read loop ends (after Resume, the
// new websocket's).
func (c *Client) Done() <-chan struct{} {
	if cn := c.current(); cn != nil {
		return cn.done
	}
	done := make(chan struct{})
	close(done)
	return done
}

// current returns the current websocket, nil before the first dial.
func (c *Client) current() *conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cn
}
