package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"
)

// galeneDriver plays publishers and subscribers over Galène's websocket
// protocol (galene-protocol.md in Galène's tree, version "2"), so the same
// clip, peers and counters measure Galène as they measure Stoa. It speaks
// only what a run needs: handshake, join, request, offer, answer, ice,
// close, ping.
type galeneDriver struct {
	cfg  *Config
	apis *apis
	log  *slog.Logger
}

// galeneMsg is one frame of Galène's protocol, with the fields this client uses.
type galeneMsg struct {
	Type      string                   `json:"type"`
	Kind      string                   `json:"kind,omitempty"`
	Version   []string                 `json:"version,omitempty"`
	ID        string                   `json:"id,omitempty"`
	Source    string                   `json:"source,omitempty"`
	Username  *string                  `json:"username,omitempty"`
	Password  string                   `json:"password,omitempty"`
	Group     string                   `json:"group,omitempty"`
	Label     string                   `json:"label,omitempty"`
	SDP       string                   `json:"sdp,omitempty"`
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	Request   map[string][]string      `json:"request,omitempty"`
	Error     string                   `json:"error,omitempty"`
	Value     any                      `json:"value,omitempty"`
}

// galeneConn is one Galène client: a websocket, its read loop and the
// PeerConnections it negotiates, by stream id.
type galeneConn struct {
	ws   *websocket.Conn
	wmu  sync.Mutex
	done chan struct{} // closed when the read loop ends
	api  *webrtc.API
	log  *slog.Logger

	joined  chan galeneMsg                                                      // the first joined of kind join, fail or redirect
	onTrack func(pub string, tr *webrtc.TrackRemote, pc *webrtc.PeerConnection) // nil for a publisher

	mu    sync.Mutex
	pcs   map[string]*galenePC
	early map[string][]webrtc.ICECandidateInit // candidates for a stream whose offer has not come yet
}

// galenePC is one stream's PeerConnection and the remote candidates that
// wait for its remote description.
type galenePC struct {
	pc       *webrtc.PeerConnection
	answered chan error // publisher: told once the answer is applied or the stream aborted

	mu        sync.Mutex
	remoteSet bool
	pending   []webrtc.ICECandidateInit
}

// dial opens the websocket, handshakes and joins the group as username.
func (d *galeneDriver) dial(ctx context.Context, username string, api *webrtc.API,
	onTrack func(string, *webrtc.TrackRemote, *webrtc.PeerConnection)) (*galeneConn, error) {
	dialer := websocket.Dialer{Proxy: http.ProxyFromEnvironment, HandshakeTimeout: 10 * time.Second}
	ws, _, err := dialer.DialContext(ctx, d.cfg.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", d.cfg.URL, err)
	}
	c := &galeneConn{ws: ws, done: make(chan struct{}), api: api, log: d.log, joined: make(chan galeneMsg, 1),
		onTrack: onTrack, pcs: map[string]*galenePC{}, early: map[string][]webrtc.ICECandidateInit{}}
	go c.readLoop()
	user := username
	err = errors.Join(
		c.write(galeneMsg{Type: "handshake", Version: []string{"2"}, ID: randomID()}),
		c.write(galeneMsg{Type: "join", Kind: "join", Group: d.cfg.Room, Username: &user, Password: d.cfg.Password}))
	if err != nil {
		c.close()
		return nil, fmt.Errorf("join group %s as %s: %w", d.cfg.Room, username, err)
	}
	select {
	case m := <-c.joined:
		if m.Kind != "join" {
			c.close()
			return nil, fmt.Errorf("join group %s as %s: %s %v %s", d.cfg.Room, username, m.Kind, m.Value, m.Error)
		}
	case <-c.done:
		c.close()
		return nil, fmt.Errorf("join group %s as %s: websocket closed", d.cfg.Room, username)
	case <-ctx.Done():
		c.close()
		return nil, fmt.Errorf("join group %s as %s: %w", d.cfg.Room, username, ctx.Err())
	}
	return c, nil
}

func (d *galeneDriver) publish(ctx context.Context, p *publisher) (*publication, error) {
	c, err := d.dial(ctx, p.uid, d.apis.pub, nil)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*publication, error) {
		c.close()
		return nil, fmt.Errorf("publish %s: %w", p.uid, err)
	}
	pc, err := c.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return fail(err)
	}
	id := randomID()
	g := &galenePC{pc: pc, answered: make(chan error, 1)}
	c.mu.Lock()
	c.pcs[id] = g
	c.mu.Unlock()
	var senders []*webrtc.RTPSender
	for _, t := range p.tracks() {
		tr, err := pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return fail(err)
		}
		senders = append(senders, tr.Sender())
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return fail(err)
	}
	if err := setLocal(ctx, pc, offer); err != nil {
		return fail(err)
	}
	if err := c.write(galeneMsg{Type: "offer", ID: id, Label: "camera", SDP: pc.LocalDescription().SDP}); err != nil {
		return fail(err)
	}
	select {
	case err := <-g.answered:
		if err != nil {
			return fail(err)
		}
	case <-c.done:
		return fail(errors.New("websocket closed before the answer"))
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	return &publication{pc: pc, senders: senders, close: c.close}, nil
}

// subscribe joins as s and asks for every stream's audio and video; Galène
// then offers one PeerConnection per publisher.
func (d *galeneDriver) subscribe(ctx context.Context, s *subscriber) (func() error, error) {
	s.joinStart.Store(max(s.now(), 1))
	c, err := d.dial(ctx, s.uid, d.apis.sub, s.receive)
	if err != nil {
		return nil, err
	}
	for _, sub := range s.subs {
		sub.subscribeAt.Store(max(s.now(), 1))
	}
	if err := c.write(galeneMsg{Type: "request", Request: map[string][]string{"": {"audio", "video"}}}); err != nil {
		c.close()
		return nil, fmt.Errorf("%s: request streams: %w", s.uid, err)
	}
	return c.close, nil
}

// setLocal applies desc and waits until every local candidate is gathered,
// so the SDP sent carries them (host candidates only: no round trip).
func setLocal(ctx context.Context, pc *webrtc.PeerConnection, desc webrtc.SessionDescription) error {
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(desc); err != nil {
		return fmt.Errorf("set local %s: %w", desc.Type, err)
	}
	select {
	case <-gathered:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("gather candidates: %w", ctx.Err())
	}
}

func (c *galeneConn) write(m galeneMsg) error {
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s: %w", m.Type, err)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := c.ws.WriteMessage(websocket.TextMessage, data); err != nil {
		return fmt.Errorf("send %s: %w", m.Type, err)
	}
	return nil
}

func (c *galeneConn) readLoop() {
	defer close(c.done)
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		var m galeneMsg
		if err := json.Unmarshal(data, &m); err != nil {
			c.log.Debug("galene: unreadable frame", "err", err)
			continue
		}
		switch m.Type {
		case "ping":
			_ = c.write(galeneMsg{Type: "pong"})
		case "joined":
			if m.Kind == "join" || m.Kind == "fail" || m.Kind == "redirect" {
				select {
				case c.joined <- m:
				default:
				}
			}
		case "answer":
			c.gotAnswer(m)
		case "offer":
			c.gotOffer(m)
		case "ice":
			c.gotICE(m)
		case "abort":
			if g := c.pc(m.ID); g != nil && g.answered != nil {
				select {
				case g.answered <- errors.New("the server aborted the stream"):
				default:
				}
			}
		case "close":
			c.mu.Lock()
			g := c.pcs[m.ID]
			delete(c.pcs, m.ID)
			c.mu.Unlock()
			if g != nil {
				_ = g.pc.Close()
			}
		case "usermessage":
			if m.Kind == "error" || m.Kind == "warning" {
				c.log.Warn("galene: message from the server", "kind", m.Kind, "value", m.Value)
			}
		}
	}
}

func (c *galeneConn) pc(id string) *galenePC {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pcs[id]
}

func (c *galeneConn) gotAnswer(m galeneMsg) {
	g := c.pc(m.ID)
	if g == nil || g.answered == nil {
		return
	}
	err := g.setRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP})
	select {
	case g.answered <- err:
	default:
	}
}

// gotOffer answers a stream Galène pushes to a subscriber, creating its
// PeerConnection or renegotiating it. It runs on the read loop, so the
// stream's candidates that follow find the remote description applied.
func (c *galeneConn) gotOffer(m galeneMsg) {
	if c.onTrack == nil {
		_ = c.write(galeneMsg{Type: "abort", ID: m.ID})
		return
	}
	g := c.pc(m.ID)
	if g == nil {
		pc, err := c.api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			c.log.Warn("galene: cannot create a PeerConnection", "err", err)
			_ = c.write(galeneMsg{Type: "abort", ID: m.ID})
			return
		}
		pub := m.Source
		if m.Username != nil {
			pub = *m.Username
		}
		pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { c.onTrack(pub, tr, pc) })
		g = &galenePC{pc: pc}
		c.mu.Lock()
		c.pcs[m.ID] = g
		g.pending = c.early[m.ID]
		delete(c.early, m.ID)
		c.mu.Unlock()
	}
	err := g.setRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP})
	var answer webrtc.SessionDescription
	if err == nil {
		answer, err = g.pc.CreateAnswer(nil)
	}
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = setLocal(ctx, g.pc, answer)
		cancel()
	}
	if err == nil {
		err = c.write(galeneMsg{Type: "answer", ID: m.ID, SDP: g.pc.LocalDescription().SDP})
	}
	if err != nil {
		c.log.Warn("galene: cannot answer a stream", "id", m.ID, "err", err)
		_ = c.write(galeneMsg{Type: "abort", ID: m.ID})
	}
}

func (c *galeneConn) gotICE(m galeneMsg) {
	if m.Candidate == nil || m.Candidate.Candidate == "" {
		return
	}
	c.mu.Lock()
	g := c.pcs[m.ID]
	if g == nil {
		if len(c.early[m.ID]) < 64 {
			c.early[m.ID] = append(c.early[m.ID], *m.Candidate)
		}
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	g.addRemote(*m.Candidate)
}

func (g *galenePC) setRemote(desc webrtc.SessionDescription) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.pc.SetRemoteDescription(desc); err != nil {
		return fmt.Errorf("set remote %s: %w", desc.Type, err)
	}
	g.remoteSet = true
	for _, cand := range g.pending {
		_ = g.pc.AddICECandidate(cand)
	}
	g.pending = nil
	return nil
}

func (g *galenePC) addRemote(cand webrtc.ICECandidateInit) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.remoteSet {
		g.pending = append(g.pending, cand)
		return
	}
	_ = g.pc.AddICECandidate(cand)
}

// close ends the websocket (Galène then drops the client and its streams),
// waits for the read loop and closes every PeerConnection. Idempotent.
func (c *galeneConn) close() error {
	c.wmu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
		time.Now().Add(time.Second))
	c.wmu.Unlock()
	_ = c.ws.Close()
	<-c.done
	c.mu.Lock()
	pcs := c.pcs
	c.pcs = map[string]*galenePC{}
	c.mu.Unlock()
	var errs []error
	for _, g := range pcs {
		errs = append(errs, g.pc.Close())
	}
	return errors.Join(errs...)
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
