package signaling

import (
	"encoding/binary"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Websocket timing: the server pings every pingInterval and drops a socket
// silent for readTimeout (three missed pings), so a vanished phone is noticed
// within half a minute while a slow network is not cut off.
const (
	pingInterval = 10 * time.Second
	readTimeout  = 30 * time.Second
	writeTimeout = 10 * time.Second
	joinTimeout  = 10 * time.Second
	outQueue     = 256
	// drainLimit bounds what is read and dropped of an oversized frame.
	drainLimit = 8 << 20
)

var errTooLarge = errors.New("message too large")

// wsConn is one websocket: the handler goroutine reads, one writer goroutine
// owns all writes (gorilla allows one writer), fed by a bounded queue so no
// caller ever blocks on a slow client.
type wsConn struct {
	ws   *websocket.Conn
	out  chan outFrame
	stop chan struct{}
	once sync.Once
	rtt  atomic.Int64 // last websocket ping RTT, microseconds
}

type outFrame struct {
	data      []byte
	closeCode int // when set, write a close frame with this code and end
	closeText string
}

func newWSConn(ws *websocket.Conn) *wsConn {
	c := &wsConn{ws: ws, out: make(chan outFrame, outQueue), stop: make(chan struct{})}
	ws.SetPongHandler(func(data string) error {
		if len(data) == 8 {
			sent := int64(binary.BigEndian.Uint64([]byte(data)))
			c.rtt.Store((time.Now().UnixNano() - sent) / 1000)
		}
		return ws.SetReadDeadline(time.Now().Add(readTimeout))
	})
	return c
}

// send queues a frame; false means the queue is full (a stuck client).
func (c *wsConn) send(data []byte) bool {
	select {
	case c.out <- outFrame{data: data}:
		return true
	default:
		return false
	}
}

// closeWith queues a close frame after everything already queued.
func (c *wsConn) closeWith(code int, text string) {
	select {
	case c.out <- outFrame{closeCode: code, closeText: text}:
	default:
		c.kill()
	}
}

// kill closes the socket at once.
func (c *wsConn) kill() {
	c.once.Do(func() { close(c.stop) })
}

// RTT is the last measured websocket round-trip time in milliseconds.
func (c *wsConn) RTT() float64 { return float64(c.rtt.Load()) / 1000 }

func (c *wsConn) writeLoop() {
	t := time.NewTicker(pingInterval)
	defer t.Stop()
	defer c.ws.Close()
	// write sends one queued frame; false means the socket is done.
	write := func(f outFrame) bool {
		_ = c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
		if f.closeCode != 0 {
			_ = c.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(f.closeCode, f.closeText))
			c.kill()
			return false
		}
		if err := c.ws.WriteMessage(websocket.TextMessage, f.data); err != nil {
			c.kill()
			return false
		}
		return true
	}
	for {
		select {
		case f := <-c.out:
			if !write(f) {
				return
			}
		case <-t.C:
			var b [8]byte
			binary.BigEndian.PutUint64(b[:], uint64(time.Now().UnixNano()))
			if err := c.ws.WriteControl(websocket.PingMessage, b[:], time.Now().Add(writeTimeout)); err != nil {
				c.kill()
				return
			}
		case <-c.stop:
			// Flush what was queued before the stop (an error and its close
			// frame, say), then say goodbye if nobody closed yet.
			for {
				select {
				case f := <-c.out:
					if !write(f) {
						return
					}
					continue
				default:
				}
				break
			}
			_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""), time.Now().Add(time.Second))
			return
		}
	}
}

// read returns the next frame, at most MaxMessageSize bytes (errTooLarge
// beyond, without reading the rest into memory).
func (c *wsConn) read(timeout time.Duration) ([]byte, error) {
	_ = c.ws.SetReadDeadline(time.Now().Add(timeout))
	_, r, err := c.ws.NextReader()
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxMessageSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxMessageSize {
		// Read (and drop) the rest of the frame, up to a bound, so the client
		// finishes sending and then reads our error instead of a reset.
		_, _ = io.CopyN(io.Discard, r, drainLimit)
		return nil, errTooLarge
	}
	return data, nil
}
