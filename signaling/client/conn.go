package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/stoa-video/stoa/signaling"
)

const (
	// writeTimeout bounds one frame write, so a stuck server cannot stall the
	// read loop (which writes answers) forever.
	writeTimeout = 10 * time.Second
	// readLimit leaves room above the server's own limit: the server's offers
	// are its business to size.
	readLimit = signaling.MaxMessageSize * 4
)

// conn is one websocket and its read loop. A Client has one at a time; Resume
// replaces it.
type conn struct {
	ws   *websocket.Conn
	wmu  sync.Mutex // gorilla allows one concurrent writer
	done chan struct{}
	err  error // why the read loop ended; read only after done is closed

	mu      sync.Mutex
	pending map[int64]chan signaling.Message // Requests waiting for a reply, by id
}

// dial opens a websocket and starts its read loop.
func (c *Client) dial(ctx context.Context) (*conn, error) {
	d := websocket.Dialer{Proxy: http.ProxyFromEnvironment, HandshakeTimeout: 10 * time.Second}
	ws, resp, err := d.DialContext(ctx, c.opts.URL, c.opts.Header)
	if err != nil {
		if resp != nil {
			// A refused upgrade may carry the API's {"code","message"} body.
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			var e struct{ Code, Message string }
			if json.Unmarshal(body, &e) == nil && e.Code != "" {
				err = &signaling.Error{Code: e.Code, Message: e.Message, Err: err}
			}
			return nil, fmt.Errorf("dial %s: HTTP %d: %w", c.opts.URL, resp.StatusCode, err)
		}
		return nil, fmt.Errorf("dial %s: %w", c.opts.URL, err)
	}
	ws.SetReadLimit(readLimit)
	cn := &conn{ws: ws, done: make(chan struct{}), pending: make(map[int64]chan signaling.Message)}
	go c.readLoop(cn)
	return cn, nil
}

// readLoop reads frames until the websocket ends. gorilla's default ping
// handler answers the server's pings from here.
func (c *Client) readLoop(cn *conn) {
	defer close(cn.done)
	defer cn.ws.Close()
	for {
		_, data, err := cn.ws.ReadMessage()
		if err != nil {
			cn.err = err
			return
		}
		var m signaling.Message
		if err := json.Unmarshal(data, &m); err != nil {
			c.log.Warn("signaling client: unreadable frame from server", "err", err)
			continue
		}
		c.dispatch(cn, m)
	}
}

// dispatch acts on one server message, then hands it to the Request waiting
// for it or to Events.
func (c *Client) dispatch(cn *conn, m signaling.Message) {
	switch m.Type {
	case signaling.TypeJoined:
		// Stored here rather than by join's caller, so offers that follow (autoSubscribe)
		// already see its ICE servers.
		c.mu.Lock()
		session := c.joined.Session
		c.joined = m
		if m.Session == "" {
			c.joined.Session = session
		}
		c.mu.Unlock()
	case signaling.TypeOffer:
		c.handleOffer(m)
	case signaling.TypeCandidate:
		c.handleCandidate(m)
	case signaling.TypeStreamRemoved, signaling.TypePeerLeave, signaling.TypeUnsubscribed:
		// The server ends its side of sub:<uid>; a later offer for that uid is a new PeerConnection.
		if m.UID != "" {
			c.dropSub(m.UID)
		}
	case signaling.TypeError:
		c.log.Debug("signaling client: error from server", "id", m.ID, "code", m.Code, "message", m.Message)
	}
	if m.ID != 0 {
		cn.mu.Lock()
		ch := cn.pending[m.ID]
		delete(cn.pending, m.ID)
		cn.mu.Unlock()
		if ch != nil {
			ch <- m // buffered 1, and each id is answered once
			return
		}
	}
	c.pushEvent(m)
}

// write sends one text frame.
func (cn *conn) write(data []byte) error {
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	if err := cn.ws.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return err
	}
	return cn.ws.WriteMessage(websocket.TextMessage, data)
}

// stop closes the websocket without a close frame and waits for the read loop.
func (cn *conn) stop() {
	cn.ws.Close()
	<-cn.done
}

// closedErr says why the read loop ended; call it after done is closed.
func (cn *conn) closedErr() error {
	if cn.err == nil {
		return ErrClosed
	}
	return fmt.Errorf("%w: %v", ErrClosed, cn.err)
}

// send writes m on the current websocket.
func (c *Client) send(m signaling.Message) error {
	cn := c.current()
	if cn == nil {
		return ErrClosed
	}
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s: %w", m.Type, err)
	}
	return cn.write(data)
}

// call is a request written with an id and waiting for its reply.
type call struct {
	cn    *conn
	id    int64
	typ   string
	reply chan signaling.Message
}

// startCall gives m a fresh id, registers for its reply and writes it. The
// caller must call end.
func (c *Client) startCall(m signaling.Message) (*call, error) {
	cn := c.current()
	if cn == nil {
		return nil, fmt.Errorf("%s: %w", m.Type, ErrClosed)
	}
	select {
	case <-cn.done:
		return nil, fmt.Errorf("%s: %w", m.Type, cn.closedErr())
	default:
	}
	m.ID = c.nextID.Add(1)
	cl := &call{cn: cn, id: m.ID, typ: m.Type, reply: make(chan signaling.Message, 1)}
	cn.mu.Lock()
	cn.pending[m.ID] = cl.reply
	cn.mu.Unlock()
	data, err := json.Marshal(m)
	if err == nil {
		err = cn.write(data)
	}
	if err != nil {
		cl.end()
		return nil, fmt.Errorf("send %s: %w", m.Type, err)
	}
	return cl, nil
}

// wait returns the reply, converting an error frame into its *signaling.Error.
func (cl *call) wait(ctx context.Context) (signaling.Message, error) {
	select {
	case r := <-cl.reply:
		return r, replyErr(r)
	case <-ctx.Done():
		return signaling.Message{}, fmt.Errorf("%s: waiting for the reply: %w", cl.typ, ctx.Err())
	case <-cl.cn.done:
		select {
		case r := <-cl.reply: // delivered just before the socket ended
			return r, replyErr(r)
		default:
			return signaling.Message{}, fmt.Errorf("%s: %w", cl.typ, cl.cn.closedErr())
		}
	}
}

// end forgets the call, so a late reply goes to Events.
func (cl *call) end() {
	cl.cn.mu.Lock()
	delete(cl.cn.pending, cl.id)
	cl.cn.mu.Unlock()
}

// replyErr returns the *signaling.Error an error frame carries, or nil.
func replyErr(m signaling.Message) error {
	if m.Type != signaling.TypeError {
		return nil
	}
	return &signaling.Error{Code: m.Code, Message: m.Message}
}

// awaitOffer sends m (subscribe or restart) and waits until the server's
// resulting offer for pc has been answered, or m is refused. It does not rely on
// the offer echoing m's id: the protocol sends it as a message of its own.
func (c *Client) awaitOffer(ctx context.Context, m signaling.Message, pc string) error {
	answered := make(chan error, 1)
	c.mu.Lock()
	c.waiters[pc] = append(c.waiters[pc], answered)
	c.mu.Unlock()
	defer c.forgetWaiter(pc, answered)

	cl, err := c.startCall(m)
	if err != nil {
		return err
	}
	defer cl.end()
	reply := cl.reply
	for {
		select {
		case err := <-answered:
			return err
		case r := <-reply:
			if err := replyErr(r); err != nil {
				return err
			}
			if r.Type == signaling.TypeSubscribed {
				return nil // subscribed already: there is no new offer to answer
			}
			reply = nil // an acknowledgement (or the offer itself): the answer is what we wait for
		case <-ctx.Done():
			return fmt.Errorf("%s: waiting for the offer: %w", m.Type, ctx.Err())
		case <-cl.cn.done:
			select {
			case err := <-answered:
				return err
			case r := <-reply:
				if err := replyErr(r); err != nil {
					return err
				}
			default:
			}
			return fmt.Errorf("%s: %w", m.Type, cl.cn.closedErr())
		}
	}
}

// notifyAnswered tells the awaitOffer calls for pc how answering its offer went.
func (c *Client) notifyAnswered(pc string, err error) {
	c.mu.Lock()
	ws := c.waiters[pc]
	delete(c.waiters, pc)
	c.mu.Unlock()
	for _, ch := range ws {
		ch <- err // buffered 1, and removed from the map before sending
	}
}

func (c *Client) forgetWaiter(pc string, ch chan error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ws := c.waiters[pc]
	for i, w := range ws {
		if w == ch {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(c.waiters, pc)
	} else {
		c.waiters[pc] = ws
	}
}

// subUID returns the publisher uid of a "sub:<uid>" pc name.
func subUID(pc string) (string, bool) {
	uid, ok := strings.CutPrefix(pc, subPrefix)
	return uid, ok && uid != ""
}
