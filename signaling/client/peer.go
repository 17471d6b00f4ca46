package client

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/pion/webrtc/v4"

	"github.com/stoa-video/stoa/signaling"
)

const (
	pubPC     = "pub"
	subPrefix = "sub:"
	// maxQueued bounds the remote candidates kept for a PeerConnection that cannot take them yet.
	maxQueued = 64
)

// peer is one PeerConnection and its trickle-ICE bookkeeping in both directions.
type peer struct {
	name string // "pub" or "sub:<uid>"
	pc   *webrtc.PeerConnection

	// Remote candidates wait until the remote description they belong to is applied.
	rmu       sync.Mutex
	remoteSet bool
	remote    []webrtc.ICECandidateInit

	// Local candidates wait until the SDP they belong to has been sent, so the
	// server never sees a candidate for a pc or an ICE generation it does not know yet.
	lmu       sync.Mutex
	announced bool
	local     []webrtc.ICECandidateInit
}

// newPeer creates a PeerConnection named name whose local candidates go to the server.
func (c *Client) newPeer(name string) (*peer, error) {
	joined := c.Joined()
	cfg := webrtc.Configuration{ICETransportPolicy: c.opts.ICETransportPolicy}
	for _, s := range joined.ICEServers {
		is := webrtc.ICEServer{URLs: s.URLs, Username: s.Username}
		if s.Credential != "" {
			is.Credential = s.Credential
		}
		cfg.ICEServers = append(cfg.ICEServers, is)
	}
	pc, err := c.api.NewPeerConnection(cfg)
	if err != nil {
		return nil, fmt.Errorf("create PeerConnection %s: %w", name, err)
	}
	p := &peer{name: name, pc: pc}
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			return // end of gathering: nothing to say in this protocol
		}
		p.lmu.Lock()
		defer p.lmu.Unlock()
		if !p.announced {
			p.local = append(p.local, cand.ToJSON())
			return
		}
		c.sendCandidate(p.name, cand.ToJSON())
	})
	return p, nil
}

func (c *Client) sendCandidate(pc string, cand webrtc.ICECandidateInit) {
	if err := c.send(signaling.Message{Type: signaling.TypeCandidate, PC: pc, Candidate: &cand}); err != nil {
		c.log.Debug("signaling client: candidate not sent", "pc", pc, "err", err)
	}
}

// hold keeps local candidates back until announce, for a new local description.
func (p *peer) hold() {
	p.lmu.Lock()
	p.announced = false
	p.lmu.Unlock()
}

// announce sends the held local candidates and lets later ones through.
func (p *peer) announce(c *Client) {
	p.lmu.Lock()
	defer p.lmu.Unlock()
	p.announced = true
	for _, cand := range p.local {
		c.sendCandidate(p.name, cand)
	}
	p.local = nil
}

// setRemote applies desc, then the remote candidates that waited for it.
func (p *peer) setRemote(c *Client, desc webrtc.SessionDescription) error {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	if err := p.pc.SetRemoteDescription(desc); err != nil {
		return fmt.Errorf("set remote %s of %s: %w", desc.Type, p.name, err)
	}
	p.remoteSet = true
	for _, cand := range p.remote {
		if err := p.pc.AddICECandidate(cand); err != nil {
			c.log.Warn("signaling client: remote candidate rejected", "pc", p.name, "err", err)
		}
	}
	p.remote = nil
	return nil
}

// addRemote applies cand, or queues it until the remote description is set.
func (p *peer) addRemote(c *Client, cand webrtc.ICECandidateInit) {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	if !p.remoteSet {
		if len(p.remote) < maxQueued {
			p.remote = append(p.remote, cand)
		}
		return
	}
	if err := p.pc.AddICECandidate(cand); err != nil {
		c.log.Warn("signaling client: remote candidate rejected", "pc", p.name, "err", err)
	}
}

func (p *peer) close() error {
	if err := p.pc.GracefulClose(); err != nil {
		return fmt.Errorf("close PeerConnection %s: %w", p.name, err)
	}
	return nil
}

// Publish creates the "pub" PeerConnection (ICE servers from joined,
// ICETransportPolicy from Options), adds each track on a sendonly transceiver,
// sends publish{sdp: offer}, trickles candidates with pc "pub" and applies the
// answer. It returns when the answer is applied. Nothing reads the senders'
// RTCP: the caller may (see PublishSenders), and pion's NACK responder only
// runs while someone does.
func (c *Client) Publish(ctx context.Context, tracks ...webrtc.TrackLocal) error {
	if len(tracks) == 0 {
		return errors.New("publish: no tracks")
	}
	p, err := c.newPeer(pubPC)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	senders := make([]*webrtc.RTPSender, 0, len(tracks))
	for _, t := range tracks {
		tr, err := p.pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			p.close()
			return fmt.Errorf("publish: add %s track %q: %w", t.Kind(), t.ID(), err)
		}
		senders = append(senders, tr.Sender())
	}
	var pg *pinger
	if c.opts.Ping {
		if pg, err = openPinger(p.pc, c.closing); err != nil {
			p.close()
			return fmt.Errorf("publish: %w", err)
		}
	}

	c.mu.Lock()
	switch {
	case c.closed:
		err = ErrClosed
	case c.pub != nil:
		err = errors.New("already publishing")
	default:
		c.pub, c.pubSenders, c.pinger = p, senders, pg
	}
	c.mu.Unlock()
	if err != nil {
		p.close()
		return fmt.Errorf("publish: %w", err)
	}

	if err := c.negotiatePub(ctx, p, signaling.TypePublish, nil); err != nil {
		c.mu.Lock()
		if c.pub == p {
			c.pub, c.pubSenders, c.pinger = nil, nil, nil
		}
		c.mu.Unlock()
		return errors.Join(fmt.Errorf("publish: %w", err), p.close())
	}
	return nil
}

// negotiatePub sends a new offer of the pub PeerConnection as typ (publish, or
// offer for a renegotiation) and applies the answer.
func (c *Client) negotiatePub(ctx context.Context, p *peer, typ string, opts *webrtc.OfferOptions) error {
	p.hold()
	offer, err := p.pc.CreateOffer(opts)
	if err != nil {
		return fmt.Errorf("create offer: %w", err)
	}
	if err := p.pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("set local offer: %w", err)
	}
	// Candidates for the new ICE generation wait for the answer that matches it.
	p.rmu.Lock()
	p.remoteSet = false
	p.rmu.Unlock()

	m := signaling.Message{Type: typ, SDP: offer.SDP}
	if typ == signaling.TypeOffer {
		m.PC = pubPC
	}
	cl, err := c.startCall(m)
	if err != nil {
		return err
	}
	defer cl.end()
	p.announce(c)
	reply, err := cl.wait(ctx)
	if err != nil {
		return err
	}
	if reply.Type != signaling.TypeAnswer || reply.SDP == "" {
		return fmt.Errorf("got %s instead of an answer", reply)
	}
	return p.setRemote(c, webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: reply.SDP})
}

// PublishPC returns the "pub" PeerConnection, nil before Publish.
func (c *Client) PublishPC() *webrtc.PeerConnection {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pub == nil {
		return nil
	}
	return c.pub.pc
}

// PublishSenders returns the senders of the published tracks in the order they
// were given to Publish, so tests can read RTCP (PLI, NACK) from them.
func (c *Client) PublishSenders() []*webrtc.RTPSender {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*webrtc.RTPSender(nil), c.pubSenders...)
}

// Unpublish sends unpublish, waits for unpublished and closes the "pub" PeerConnection.
func (c *Client) Unpublish(ctx context.Context) error {
	if _, err := c.Request(ctx, signaling.Message{Type: signaling.TypeUnpublish}); err != nil {
		return fmt.Errorf("unpublish: %w", err)
	}
	c.mu.Lock()
	p := c.pub
	c.pub, c.pubSenders, c.pinger = nil, nil, nil
	c.mu.Unlock()
	if p != nil {
		if err := p.close(); err != nil {
			return fmt.Errorf("unpublish: %w", err)
		}
	}
	return nil
}

// Subscribe sends subscribe{uid} and returns once the server's offer for
// "sub:<uid>" has been answered (media may not flow yet: the server sends
// subscribed for that).
func (c *Client) Subscribe(ctx context.Context, uid string) error {
	if err := c.awaitOffer(ctx, signaling.Message{Type: signaling.TypeSubscribe, UID: uid}, subPrefix+uid); err != nil {
		return fmt.Errorf("subscribe to %s: %w", uid, err)
	}
	return nil
}

// Unsubscribe sends unsubscribe{uid}, waits for unsubscribed and closes the
// "sub:<uid>" PeerConnection.
func (c *Client) Unsubscribe(ctx context.Context, uid string) error {
	if _, err := c.Request(ctx, signaling.Message{Type: signaling.TypeUnsubscribe, UID: uid}); err != nil {
		return fmt.Errorf("unsubscribe from %s: %w", uid, err)
	}
	c.dropSub(uid) // already done by the read loop on unsubscribed; harmless twice
	return nil
}

// SubscribePC returns the "sub:<uid>" PeerConnection, nil if there is none.
func (c *Client) SubscribePC(uid string) *webrtc.PeerConnection {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.subs[uid]; p != nil {
		return p.pc
	}
	return nil
}

// OnTrack sets the callback for remote tracks of every subscription; uid is the
// publisher's. It may be set at any time: tracks that arrived before are
// delivered (each on its own goroutine) when it is set. Like pion's OnTrack, the
// callback runs on a goroutine of its own and may read the track.
func (c *Client) OnTrack(f func(uid string, track *webrtc.TrackRemote, recv *webrtc.RTPReceiver)) {
	c.mu.Lock()
	c.onTrack = f
	var queued []pendingTrack
	if f != nil {
		queued, c.tracks = c.tracks, nil
	}
	c.mu.Unlock()
	for _, t := range queued {
		go f(t.uid, t.track, t.recv)
	}
}

// deliverTrack runs on pion's OnTrack goroutine.
func (c *Client) deliverTrack(uid string, track *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	c.mu.Lock()
	f := c.onTrack
	if f == nil && !c.closed {
		c.tracks = append(c.tracks, pendingTrack{uid, track, recv})
	}
	c.mu.Unlock()
	if f != nil {
		f(uid, track, recv)
	}
}

// handleOffer answers the server's offer for "sub:<uid>", creating that
// PeerConnection or reusing it (renegotiation, ICE restart). pion creates the
// recvonly transceivers the offer asks for.
func (c *Client) handleOffer(m signaling.Message) {
	uid, ok := subUID(m.PC)
	if !ok || m.SDP == "" {
		c.log.Warn("signaling client: ignoring offer", "pc", m.PC)
		return
	}
	p, err := c.subPeer(uid)
	if err == nil {
		err = c.answer(p, m.SDP)
	}
	if err != nil {
		c.log.Warn("signaling client: cannot answer offer", "pc", m.PC, "err", err)
	}
	c.notifyAnswered(m.PC, err)
}

func (c *Client) answer(p *peer, sdp string) error {
	p.hold()
	if err := p.setRemote(c, webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return err
	}
	ans, err := p.pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("create answer for %s: %w", p.name, err)
	}
	if err := p.pc.SetLocalDescription(ans); err != nil {
		return fmt.Errorf("set local answer of %s: %w", p.name, err)
	}
	if err := c.send(signaling.Message{Type: signaling.TypeAnswer, PC: p.name, SDP: ans.SDP}); err != nil {
		return fmt.Errorf("send answer for %s: %w", p.name, err)
	}
	p.announce(c)
	return nil
}

// subPeer returns the PeerConnection subscribed to uid, creating it if needed.
func (c *Client) subPeer(uid string) (*peer, error) {
	c.mu.Lock()
	p := c.subs[uid]
	c.mu.Unlock()
	if p != nil {
		return p, nil
	}
	p, err := c.newPeer(subPrefix + uid)
	if err != nil {
		return nil, err
	}
	p.pc.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) { c.deliverTrack(uid, t, r) })

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errors.Join(fmt.Errorf("create %s: %w", p.name, ErrClosed), p.close())
	}
	// Only the read loop creates sub peers, so no other one appeared meanwhile.
	c.subs[uid] = p
	p.remote = c.early[p.name]
	delete(c.early, p.name)
	c.mu.Unlock()
	return p, nil
}

// handleCandidate hands a server candidate to its PeerConnection.
func (c *Client) handleCandidate(m signaling.Message) {
	if m.Candidate == nil || m.Candidate.Candidate == "" {
		return // end of candidates
	}
	c.mu.Lock()
	var p *peer
	if m.PC == pubPC {
		p = c.pub
	} else if uid, ok := subUID(m.PC); ok {
		p = c.subs[uid]
		if p == nil && !c.closed && len(c.early[m.PC]) < maxQueued {
			// Before its offer: keep it for the PeerConnection the offer will create.
			c.early[m.PC] = append(c.early[m.PC], *m.Candidate)
			c.mu.Unlock()
			return
		}
	}
	c.mu.Unlock()
	if p == nil {
		c.log.Debug("signaling client: candidate for no PeerConnection", "pc", m.PC)
		return
	}
	p.addRemote(c, *m.Candidate)
}

// dropSub forgets the subscription to uid and closes its PeerConnection in the
// background (Close waits for it).
func (c *Client) dropSub(uid string) {
	c.mu.Lock()
	p := c.subs[uid]
	delete(c.subs, uid)
	delete(c.early, subPrefix+uid)
	closed := c.closed
	if p != nil && !closed {
		c.bg.Add(1)
	}
	c.mu.Unlock()
	switch {
	case p == nil:
	case closed:
		p.close()
	default:
		go func() {
			defer c.bg.Done()
			if err := p.close(); err != nil {
				c.log.Debug("signaling client: closing subscription", "err", err)
			}
		}()
	}
}
