package sfu

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// subscription is one participant receiving one publisher's stream on a
// PeerConnection of its own, named SubPC(publisher): the server offers, the
// client answers, so subscribing never renegotiates anything else.
type subscription struct {
	publisher string
	pc        *webrtc.PeerConnection
	sets      []*layerSet
	downs     []*RTPDownTrack
	remoteSet bool
	pending   []webrtc.ICECandidateInit
	notified  bool
}

// Subscribe starts receiving publisher uid's stream on a new PeerConnection;
// the offer for it reaches the Listener. Subscribing again to the same
// publication changes nothing and returns ErrAlreadySubscribed.
func (p *Participant) Subscribe(uid string) error {
	sub, sets, pc, err := p.newSub(uid)
	if err != nil {
		return err
	}
	bound, err := p.bindSub(sub, pc, sets, func(d *RTPDownTrack) (*webrtc.RTPSender, error) {
		tr, err := pc.AddTransceiverFromTrack(d, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return nil, err
		}
		return tr.Sender(), nil
	})
	if err != nil || !bound {
		return err
	}
	return p.sendOffer(sub, false)
}

// SubscribeOffer starts receiving publisher uid's stream on a new
// PeerConnection that the viewer offers (WHEP: its offer has receive-only
// audio and video), and returns the answer, with the server's candidates.
func (p *Participant) SubscribeOffer(uid, offer string) (string, error) {
	sub, sets, pc, err := p.newSub(uid)
	if err != nil {
		return "", err
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		p.removeSub(sub)
		_ = pc.Close()
		return "", fmt.Errorf("%w: subscribe %s to %s: %v", ErrInvalidSDP, p.uid, uid, err)
	}
	bound, err := p.bindSub(sub, pc, sets, func(d *RTPDownTrack) (*webrtc.RTPSender, error) { return pc.AddTrack(d) })
	if err != nil {
		return "", err
	}
	if !bound {
		return "", fmt.Errorf("subscribe %s to %s: %w", p.uid, uid, ErrClosed)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		p.dropSubscription(uid)
		return "", fmt.Errorf("%w: answer %s for %s: %v", ErrInvalidSDP, p.uid, uid, err)
	}
	sdp, err := setLocalAndGather(pc, answer)
	if err != nil {
		p.dropSubscription(uid)
		return "", fmt.Errorf("answer %s for %s: %w", p.uid, uid, err)
	}
	p.mu.Lock()
	sub.remoteSet = true
	p.mu.Unlock()
	return sdp, nil
}

// newSub registers a subscription of p to uid's current publication and
// returns it with the publication's layer sets and a new connection for it.
func (p *Participant) newSub(uid string) (*subscription, []*layerSet, *webrtc.PeerConnection, error) {
	pubr := p.room.Participant(uid)
	if pubr == nil || pubr == p {
		return nil, nil, nil, fmt.Errorf("subscribe %s to %q: %w", p.uid, uid, ErrStreamNotFound)
	}
	sets := pubr.layerSets()
	if _, ok := pubr.streamInfo(); !ok || len(sets) == 0 {
		return nil, nil, nil, fmt.Errorf("subscribe %s to %q: %w", p.uid, uid, ErrStreamNotFound)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, nil, nil, ErrClosed
	}
	var stale *subscription
	if old, ok := p.subs[uid]; ok {
		if len(old.sets) > 0 && old.sets[0] == sets[0] {
			p.mu.Unlock()
			return nil, nil, nil, ErrAlreadySubscribed
		}
		stale = old // a subscription to an earlier publication of the same uid
	}
	sub := &subscription{publisher: uid}
	p.subs[uid] = sub
	p.mu.Unlock()
	if stale != nil {
		closeSub(stale, &p.room.sfu.retired)
	}
	pc, err := p.room.sfu.newDownPC()
	if err != nil {
		p.removeSub(sub)
		return nil, nil, nil, fmt.Errorf("subscribe %s to %s: %w", p.uid, uid, err)
	}
	return sub, sets, pc, nil
}

// bindSub gives sub its connection pc and a down track per layer set, each
// added to pc by addTrack, and starts their RTCP readers. When the
// subscription was dropped (or p closed) meanwhile it closes pc and
// reports bound false.
func (p *Participant) bindSub(sub *subscription, pc *webrtc.PeerConnection, sets []*layerSet,
	addTrack func(*RTPDownTrack) (*webrtc.RTPSender, error)) (bound bool, err error) {
	uid := sub.publisher
	downs := make([]*RTPDownTrack, 0, len(sets))
	senders := make([]*webrtc.RTPSender, 0, len(sets))
	for _, set := range sets {
		d := newRTPDownTrack(set.id, uid, set)
		d.sendRTCP = pc.WriteRTCP
		d.connecting.Store(true) // until the connection is up (below)
		sender, aerr := addTrack(d)
		if aerr != nil {
			p.removeSub(sub)
			_ = pc.Close()
			return false, fmt.Errorf("subscribe %s to %s: add %s: %w", p.uid, uid, set.id, aerr)
		}
		downs = append(downs, d)
		senders = append(senders, sender)
	}
	p.mu.Lock()
	if p.subs[uid] != sub {
		p.mu.Unlock()
		_ = pc.Close()
		return false, nil // dropped (or the participant closed) while being set up
	}
	sub.pc, sub.sets, sub.downs = pc, sets, downs
	low := p.streamTypes[uid] == StreamLow
	// Counted under p.mu while the subscription is current, hence before any
	// shutdown: Close's wg.Wait never races this Add.
	p.wg.Add(len(senders))
	p.mu.Unlock()
	for _, d := range downs {
		d.preferLow.Store(low)
		d.attach() // a closeSub meanwhile has marked d closed: attach does nothing
	}
	for i, sender := range senders {
		go p.readSubscriberRTCP(sender, downs[i])
	}
	name := SubPC(uid)
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s != webrtc.PeerConnectionStateConnected {
			return
		}
		// The viewer can receive: the next packet starts each down track
		// (a replay from the cache, or a keyframe request that is not lost).
		for _, d := range downs {
			d.connecting.Store(false)
		}
		p.mu.Lock()
		first := !sub.notified && p.subs[uid] == sub
		sub.notified = true
		p.mu.Unlock()
		if first {
			p.notify(Event{Type: EventSubscribed, UID: uid, PC: name})
		}
	})
	return true, nil
}

func (p *Participant) sendOffer(sub *subscription, restart bool) error {
	offer, err := sub.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: restart})
	if err != nil {
		return fmt.Errorf("offer to %s for %s: %w", p.uid, sub.publisher, err)
	}
	p.mu.Lock()
	sub.remoteSet = false
	p.mu.Unlock()
	sdpText, err := setLocalAndGather(sub.pc, offer)
	if err != nil {
		return fmt.Errorf("offer to %s for %s: %w", p.uid, sub.publisher, err)
	}
	p.notify(Event{Type: EventOffer, PC: SubPC(sub.publisher), UID: sub.publisher, SDP: sdpText})
	return nil
}

// autoSubscribeTo subscribes p to uid's new stream on a goroutine of p's
// own: a publisher's viewers are set up side by side, not one after another
// on the publisher's goroutine (where the thousandth viewer would wait for
// 999 offers). Counted under p.mu before any shutdown, like Subscribe's.
func (p *Participant) autoSubscribeTo(uid string) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		err := p.Subscribe(uid)
		switch {
		case err == nil, errors.Is(err, ErrAlreadySubscribed), errors.Is(err, ErrClosed):
		case errors.Is(err, ErrStreamNotFound): // unpublished meanwhile
			p.room.sfu.log.Debug("auto-subscribe: the stream is gone", "room", p.room.id, "uid", p.uid, "publisher", uid)
		default:
			p.room.sfu.log.Warn("auto-subscribe failed", "room", p.room.id, "uid", p.uid, "publisher", uid, "err", err)
		}
	}()
}

// readSubscriberRTCP hands a subscriber's RTCP (PLI, NACK, REMB) for one
// down track to it until the sender closes with its PeerConnection.
func (p *Participant) readSubscriberRTCP(sender *webrtc.RTPSender, d *RTPDownTrack) {
	defer p.wg.Done()
	buf := make([]byte, maxPacketSize)
	for {
		n, _, err := sender.Read(buf)
		if err != nil {
			return
		}
		if pkts, err := rtcp.Unmarshal(buf[:n]); err == nil {
			d.HandleRTCP(pkts)
		}
	}
}

func (p *Participant) removeSub(sub *subscription) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.subs[sub.publisher] == sub {
		delete(p.subs, sub.publisher)
		return true
	}
	return false
}

// Unsubscribe stops receiving uid's stream.
func (p *Participant) Unsubscribe(uid string) error {
	if !p.dropSubscription(uid) {
		return fmt.Errorf("unsubscribe %s from %q: %w", p.uid, uid, ErrStreamNotFound)
	}
	return nil
}

// dropSubscription closes the subscription to uid if there is one.
func (p *Participant) dropSubscription(uid string) bool {
	gone := p.room.Participant(uid) == nil // asked before p.mu: the room lock is taken first, never inside p.mu
	p.mu.Lock()
	sub := p.subs[uid]
	delete(p.subs, uid)
	if gone { // uid left: its stream type goes too, so the map stays bounded by the room
		delete(p.streamTypes, uid)
	}
	p.mu.Unlock()
	if sub == nil {
		return false
	}
	closeSub(sub, &p.room.sfu.retired)
	return true
}

// closeSub ends a subscription and keeps its down tracks' counters in r.
func closeSub(sub *subscription, r *retired) {
	for _, d := range sub.downs {
		d.detach()
	}
	if sub.pc != nil {
		_ = sub.pc.Close()
	}
	r.downTracks(sub.downs)
}

func (p *Participant) findSub(pcName string) (*subscription, error) {
	uid, ok := strings.CutPrefix(pcName, "sub:")
	p.mu.Lock()
	defer p.mu.Unlock()
	if sub := p.subs[uid]; ok && sub != nil && sub.pc != nil {
		return sub, nil
	}
	return nil, fmt.Errorf("%s has no connection %q: %w", p.uid, pcName, ErrPCNotFound)
}

// SetAnswer applies the participant's answer to a subscription offer.
func (p *Participant) SetAnswer(pcName, answer string) error {
	sub, err := p.findSub(pcName)
	if err != nil {
		return err
	}
	if err := sub.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return fmt.Errorf("%w: apply answer for %s: %v", ErrInvalidSDP, pcName, err)
	}
	p.mu.Lock()
	sub.remoteSet = true
	pending := sub.pending
	sub.pending = nil
	p.mu.Unlock()
	for _, c := range pending {
		_ = sub.pc.AddICECandidate(c)
	}
	return nil
}

// RestartICE sends a new offer with fresh ICE credentials for a subscription.
func (p *Participant) RestartICE(pcName string) error {
	sub, err := p.findSub(pcName)
	if err != nil {
		return err
	}
	return p.sendOffer(sub, true)
}

// Subscribed reports whether p receives uid's stream (a subscription with
// its connection made), for the viewer counts of a live room's status.
func (p *Participant) Subscribed(uid string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	sub := p.subs[uid]
	return sub != nil && sub.pc != nil
}

// DownTrackStats returns the counters of every down track of the
// participant's subscriptions.
func (p *Participant) DownTrackStats() []DownStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []DownStats
	for _, s := range p.subs {
		for _, d := range s.downs {
			out = append(out, d.Stats())
		}
	}
	return out
}

// StreamType is which of a simulcast publisher's layers a viewer receives,
// numbered as Agora's setRemoteVideoStreamType numbers them.
type StreamType int

// The stream types a viewer can ask for.
const (
	StreamHigh StreamType = 0
	StreamLow  StreamType = 1
)

// SetRemoteStreamType chooses the layer p receives of uid's simulcast video:
// the highest layer its bandwidth allows (StreamHigh) or the lowest
// (StreamLow). uid must be in the room; it may not publish yet, and the
// choice holds across its republishing until it leaves.
func (p *Participant) SetRemoteStreamType(uid string, t StreamType) error {
	if t != StreamHigh && t != StreamLow {
		return fmt.Errorf("stream type %d: %w", t, ErrBadStreamType)
	}
	if q := p.room.Participant(uid); q == nil || q == p {
		return fmt.Errorf("stream type for %q: %w", uid, ErrStreamNotFound)
	}
	p.mu.Lock()
	if p.streamTypes == nil {
		p.streamTypes = map[string]StreamType{}
	}
	p.streamTypes[uid] = t
	sub := p.subs[uid]
	p.mu.Unlock()
	if sub != nil {
		for _, d := range sub.downs {
			d.setPreferLow(t == StreamLow)
		}
	}
	return nil
}
