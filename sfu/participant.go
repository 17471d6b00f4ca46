package sfu

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// PubPC names the PeerConnection that carries a participant's publication;
// subscriptions are named SubPC(publisher uid).
const PubPC = "pub"

// SubPC names the PeerConnection of the subscription to uid's stream.
func SubPC(uid string) string { return "sub:" + uid }

// announceWait bounds how long a publication waits for all the tracks its
// offer promised before it is announced with those that arrived.
const announceWait = 1500 * time.Millisecond

// gatherWait bounds ICE gathering before an offer or answer is sent. With the
// shared UDP/TCP muxes only host candidates are gathered, which is immediate,
// so the server's descriptions carry all its candidates and it never trickles:
// a client cannot get a candidate before the description it belongs to.
const gatherWait = 2 * time.Second

// Participant is one member of a room: at most one publication (PC "pub")
// and one subscription PC per remote stream it receives.
type Participant struct {
	room          *Room
	uid, tag      string
	canPublish    bool
	autoSubscribe bool
	listener      Listener

	mu     sync.Mutex
	role   string
	pub    *publication
	subs   map[string]*subscription
	closed bool
	// mute state, kept when not publishing so a later publish starts muted
	audioMuted, videoMuted bool
	// streamTypes is the simulcast layer asked for per publisher uid.
	streamTypes map[string]StreamType

	// impair drops incoming packets and pings on purpose (Impair); the
	// counters number the pings and each up track's packets for its pattern.
	impair      impairment
	impairPings atomic.Uint64

	wg sync.WaitGroup
}

type publication struct {
	pc     *webrtc.PeerConnection
	tracks []*LocalUpTrack
	// sets groups tracks by published track: one layer each, or one per
	// simulcast layer.
	sets     []*layerSet
	expected int
	info     StreamInfo
	// layers is what the publisher was last told to send ("layers").
	layers    string
	announced bool
	timer     *time.Timer
}

func newParticipant(r *Room, o JoinOptions, role string) *Participant {
	return &Participant{
		room: r, uid: o.UID, tag: o.Tag, canPublish: o.CanPublish, autoSubscribe: o.AutoSubscribe,
		listener: o.Listener, role: role, subs: map[string]*subscription{},
	}
}

// UID is the participant's user id.
func (p *Participant) UID() string { return p.uid }

// Room is the participant's room.
func (p *Participant) Room() *Room { return p.room }

// Info describes the participant as others see it.
func (p *Participant) Info() ParticipantInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	return ParticipantInfo{UID: p.uid, Role: p.role, Tag: p.tag}
}

func (p *Participant) notify(ev Event) { p.listener.Notify(ev) }

// Notify tells the participant about ev (a recording under way when it
// joins); it must not block.
func (p *Participant) Notify(ev Event) { p.notify(ev) }

func (p *Participant) streamInfo() (StreamInfo, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pub == nil || !p.pub.announced {
		return StreamInfo{}, false
	}
	return p.pub.info, true
}

// UpTracks returns the tracks of the participant's current publication, for
// consumers other than WebRTC subscribers (recorder, snapshots).
func (p *Participant) UpTracks() []UpTrack {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pub == nil {
		return nil
	}
	out := make([]UpTrack, 0, len(p.pub.sets))
	for _, s := range p.pub.sets {
		if t := s.top(); t != nil {
			out = append(out, t)
		}
	}
	return out
}

// layerSets returns the current publication's tracks that have a layer.
func (p *Participant) layerSets() []*layerSet {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pub == nil {
		return nil
	}
	out := make([]*layerSet, 0, len(p.pub.sets))
	for _, s := range p.pub.sets {
		if len(s.list()) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// Publish applies a publisher's offer and returns the answer. A second call
// renegotiates the existing publication (e.g. an ICE restart). In a live room
// publishing makes the participant a host.
func (p *Participant) Publish(offer string, audioMuted, videoMuted bool) (string, error) {
	if !p.canPublish {
		return "", fmt.Errorf("publish as %s: %w", p.uid, ErrNotAllowed)
	}
	if pub, err := p.currentPub(); err != nil || pub != nil {
		if err != nil {
			return "", err
		}
		return answerOffer(pub.pc, offer)
	}
	audio, video, err := offeredKinds(offer)
	if err != nil {
		return "", err
	}
	// The PeerConnection is made outside p.mu (nothing slow under the lock);
	// a publication or a close that came meanwhile wins.
	pc, err := p.room.sfu.newUpPC()
	if err != nil {
		return "", fmt.Errorf("new publisher connection: %w", err)
	}
	p.mu.Lock()
	if p.closed || p.pub != nil {
		pub, closed := p.pub, p.closed
		p.mu.Unlock()
		_ = pc.Close()
		if closed {
			return "", ErrClosed
		}
		return answerOffer(pub.pc, offer)
	}
	p.audioMuted, p.videoMuted = audioMuted, videoMuted
	pub := &publication{pc: pc, info: StreamInfo{UID: p.uid, Audio: audio, Video: video, AudioMuted: audioMuted, VideoMuted: videoMuted}}
	if audio {
		pub.expected++
	}
	if video {
		pub.expected++
	}
	p.pub = pub
	roleChanged := p.role != "host"
	p.role = "host"
	p.mu.Unlock()

	pc.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) { p.onUpTrack(pub, t, r) })
	pc.OnDataChannel(p.onDataChannel)
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateFailed {
			p.room.sfu.log.Warn("publisher connection failed", "room", p.room.id, "uid", p.uid)
			p.unpublish(pub)
		}
	})
	answer, err := answerOffer(pc, offer)
	if err != nil {
		p.unpublish(pub)
		return "", err
	}
	if roleChanged {
		p.room.broadcast(nil, Event{Type: EventRoleChanged, UID: p.uid, Role: "host"})
	}
	return answer, nil
}

// offeredKinds reads which media kinds an offer sends.
func offeredKinds(offer string) (audio, video bool, err error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(offer); err != nil {
		return false, false, fmt.Errorf("%w: %v", ErrInvalidSDP, err)
	}
	for _, m := range d.MediaDescriptions {
		dir := "sendrecv"
		for _, a := range m.Attributes {
			switch a.Key {
			case "sendrecv", "sendonly", "recvonly", "inactive":
				dir = a.Key
			}
		}
		if (dir != "sendrecv" && dir != "sendonly") || m.MediaName.Port.Value == 0 {
			continue
		}
		switch m.MediaName.Media {
		case "audio":
			audio = true
		case "video":
			video = true
		}
	}
	if !audio && !video {
		return false, false, fmt.Errorf("%w: the offer sends no audio or video", ErrInvalidSDP)
	}
	return audio, video, nil
}

func answerOffer(pc *webrtc.PeerConnection, offer string) (string, error) {
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("%w: apply offer: %v", ErrInvalidSDP, err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: create answer: %v", ErrInvalidSDP, err)
	}
	return setLocalAndGather(pc, answer)
}

func setLocalAndGather(pc *webrtc.PeerConnection, d webrtc.SessionDescription) (string, error) {
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(d); err != nil {
		return "", fmt.Errorf("set local description: %w", err)
	}
	select {
	case <-done:
	case <-time.After(gatherWait):
	}
	return pc.LocalDescription().SDP, nil
}

// currentPub returns the publication under way, nil if none, or ErrClosed.
func (p *Participant) currentPub() (*publication, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	return p.pub, nil
}

func (p *Participant) onUpTrack(pub *publication, t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	up := NewUpTrack(t.Kind().String(), t.Kind(), t.Codec(), uint32(t.SSRC()), pub.pc.WriteRTCP)
	up.rid = t.RID()
	up.keyframeEvery = p.room.sfu.keyframeEvery
	up.impair = &p.impair
	if up.rid != "" {
		up.onWatched = func() { p.pauseUnwatched(pub) }
	}
	p.mu.Lock()
	if p.pub != pub || p.closed {
		p.mu.Unlock()
		return
	}
	var set *layerSet
	for _, s := range pub.sets {
		if s.id == up.id {
			set = s
		}
	}
	if set == nil {
		set = newLayerSet(up.id)
		pub.sets = append(pub.sets, set)
	}
	up.layer = ridLayer(up.rid, len(set.list()))
	pub.tracks = append(pub.tracks, up)
	if t.Kind() == webrtc.RTPCodecTypeVideo {
		pub.info.Codec = strings.ToLower(strings.TrimPrefix(t.Codec().MimeType, "video/"))
	}
	ready := len(pub.sets) >= pub.expected
	if !ready && pub.timer == nil {
		pub.timer = time.AfterFunc(announceWait, func() { p.announce(pub) })
	}
	p.wg.Add(2)
	p.mu.Unlock()
	set.add(up)
	if up.rid != "" {
		p.pauseUnwatched(pub)
	}
	go func() {
		defer p.wg.Done()
		up.Run(trackReader{t})
	}()
	go func() {
		defer p.wg.Done()
		for {
			var pkts []rtcp.Packet
			var err error
			if up.rid != "" {
				pkts, _, err = r.ReadSimulcastRTCP(up.rid)
			} else {
				pkts, _, err = r.ReadRTCP()
			}
			if err != nil {
				return
			}
			up.HandleRTCP(pkts)
		}
	}()
	if ready {
		p.announce(pub)
	}
}

func (p *Participant) announce(pub *publication) {
	p.mu.Lock()
	if p.pub != pub || pub.announced || p.closed {
		p.mu.Unlock()
		return
	}
	pub.announced = true
	if pub.timer != nil {
		pub.timer.Stop()
	}
	info := pub.info
	p.mu.Unlock()
	p.room.sfu.log.Info("stream published", "room", p.room.id, "uid", p.uid, "audio", info.Audio, "video", info.Video, "codec", info.Codec)
	p.room.streamAdded(p, info)
}

// Unpublish ends the participant's publication; subscribers get stream-removed.
func (p *Participant) Unpublish() {
	p.mu.Lock()
	pub := p.pub
	p.mu.Unlock()
	if pub != nil {
		p.unpublish(pub)
	}
}

func (p *Participant) unpublish(pub *publication) {
	p.mu.Lock()
	if p.pub != pub {
		p.mu.Unlock()
		return
	}
	p.pub = nil
	if pub.timer != nil {
		pub.timer.Stop()
	}
	announced := pub.announced
	roleChanged := p.room.mode == ModeLive && p.role == "host" && !p.closed
	if roleChanged {
		p.role = "audience"
	}
	p.mu.Unlock()
	if announced {
		p.room.streamRemoved(p)
	}
	if roleChanged {
		p.room.broadcast(nil, Event{Type: EventRoleChanged, UID: p.uid, Role: "audience"})
	}
	_ = pub.pc.Close()
	p.room.sfu.retired.upTracks(pub.tracks)
}

// Mute records that the publisher muted or unmuted audio or video and tells the others.
func (p *Participant) Mute(kind string, muted bool) {
	p.mu.Lock()
	switch kind {
	case "audio":
		p.audioMuted = muted
	case "video":
		p.videoMuted = muted
	}
	var info *StreamInfo
	if p.pub != nil {
		p.pub.info.AudioMuted, p.pub.info.VideoMuted = p.audioMuted, p.videoMuted
		if p.pub.announced {
			i := p.pub.info
			info = &i
		}
	}
	p.mu.Unlock()
	if info != nil {
		p.room.broadcast(p, Event{Type: EventStreamUpdated, UID: p.uid, Stream: info})
	}
}

// Renegotiate applies a new offer for the publication (ICE restart).
func (p *Participant) Renegotiate(pcName, offer string) (string, error) {
	p.mu.Lock()
	pub := p.pub
	p.mu.Unlock()
	if pcName != PubPC || pub == nil {
		return "", fmt.Errorf("%s has no connection %q: %w", p.uid, pcName, ErrPCNotFound)
	}
	return answerOffer(pub.pc, offer)
}

// AddCandidate adds a trickled remote ICE candidate.
func (p *Participant) AddCandidate(pcName string, c webrtc.ICECandidateInit) error {
	if pcName == PubPC {
		p.mu.Lock()
		pub := p.pub
		p.mu.Unlock()
		if pub == nil {
			return fmt.Errorf("%s has no connection %q: %w", p.uid, pcName, ErrPCNotFound)
		}
		return pub.pc.AddICECandidate(c)
	}
	sub, err := p.findSub(pcName)
	if err != nil {
		return err
	}
	p.mu.Lock()
	if !sub.remoteSet {
		sub.pending = append(sub.pending, c)
		p.mu.Unlock()
		return nil
	}
	p.mu.Unlock()
	return sub.pc.AddICECandidate(c)
}

// Close removes the participant from its room, ends its publication and
// subscriptions, and waits for its goroutines. reason ("quit", "timeout",
// "kicked") is what the others are told. Close is idempotent.
func (p *Participant) Close(reason string) {
	if !p.shutdown() {
		return
	}
	p.room.leave(p, reason)
	p.wg.Wait()
}

// closeReplaced ends a participant whose uid joined again: the others see the
// new one only, so no peer-leave is sent.
func (p *Participant) closeReplaced() {
	p.notify(Event{Type: EventPeerLeave, UID: p.uid, Reason: "kicked"})
	if !p.shutdown() {
		return
	}
	p.room.leave(p, "")
	p.wg.Wait()
}

// Closed reports whether the participant has left, or is leaving, its
// room: an Observer told of an unpublish tells a leave from a republish by
// it (a recording waits for the second, not the first).
func (p *Participant) Closed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

func (p *Participant) shutdown() bool {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return false
	}
	p.closed = true
	pub := p.pub
	p.pub = nil
	subs := p.subs
	p.subs = map[string]*subscription{}
	p.mu.Unlock()
	if pub != nil {
		if pub.timer != nil {
			pub.timer.Stop()
		}
		if pub.announced {
			p.room.streamRemoved(p)
		}
		_ = pub.pc.Close()
		p.room.sfu.retired.upTracks(pub.tracks)
	}
	for _, sub := range subs {
		closeSub(sub, &p.room.sfu.retired)
	}
	return true
}

// Wait blocks until the participant's goroutines have ended or ctx is done.
func (p *Participant) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
