package sfu

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// RTPDownTrack is a webrtc.TrackLocal that forwards one published track to
// one subscriber's PeerConnection. It owns the subscriber's numbering:
// sequence numbers, timestamps and VP8 picture ids are rewritten per down
// track, so it can start from the cached keyframe, switch simulcast layers at
// a keyframe and drop padding with no gap the subscriber would see. NACKs
// are answered from the up track's shared packet cache.
type RTPDownTrack struct {
	id, streamID string
	set          *layerSet
	kind         webrtc.RTPCodecType
	mime         string
	video, vp8   bool

	bound     atomic.Pointer[binding]
	preferLow atomic.Bool
	estimate  atomic.Uint64 // the subscriber's REMB, bit/s
	target    atomic.Int32  // the layer to forward

	// mu guards the numbering below: a down track is written by one writer
	// shard per layer it is attached to (two during a layer switch) and by
	// its RTCP reader (retransmissions). It is held across pion's write,
	// which does not block (a datagram into the shared socket).
	mu       sync.Mutex
	attached map[*LocalUpTrack]bool
	cur      *LocalUpTrack
	rw       rewriter
	hdr      rtp.Header
	rtxHdr   rtp.Header
	ext      [2]rtp.Extension
	payBuf   [maxPacketSize]byte
	closed   bool
	// Layer choice by bandwidth: when the viewer last lost packets or was
	// moved down, whether a try up is under way and since when, and how
	// long to wait before the next.
	lastBad, probeAt time.Time
	probing          bool
	probeWait        time.Duration
	// sendRTCP sends the subscriber's sender reports; lastSR is when the
	// last one went (a packet's arrival time).
	sendRTCP func([]rtcp.Packet) error
	lastSR   int64

	// connecting is set while the subscriber's connection is not up yet:
	// pion drops writes until SRTP runs, so a keyframe asked for then would
	// be lost, and the next request waits out the keyframe interval.
	connecting atomic.Bool

	packets, octets, dropped, nacks, retransmits, plis, replayed, switches atomic.Uint64
	lossFraction                                                           atomic.Uint32
	// lossAt is when the subscriber last reported congestion (loss of
	// congestedLoss or more), in Unix nanoseconds.
	lossAt atomic.Int64
	// What the subscriber's receiver reports say, cumulatively (see rr.go).
	rr receiverReports
}

type binding struct {
	ssrc uint32
	pt   uint8
	w    webrtc.TrackLocalWriter
}

// NewRTPDownTrack makes a down track for up, named id within stream streamID.
func NewRTPDownTrack(id, streamID string, up *LocalUpTrack) *RTPDownTrack {
	s := newLayerSet(id)
	s.add(up)
	return newRTPDownTrack(id, streamID, s)
}

func newRTPDownTrack(id, streamID string, set *layerSet) *RTPDownTrack {
	first := set.list()[0]
	mime := first.Codec().MimeType
	d := &RTPDownTrack{
		id: id, streamID: streamID, set: set, kind: first.Kind(), mime: mime,
		video: first.Kind() == webrtc.RTPCodecTypeVideo, vp8: strings.EqualFold(mime, webrtc.MimeTypeVP8),
		attached: map[*LocalUpTrack]bool{},
	}
	d.target.Store(-1)
	return d
}

// Bind is called by pion when negotiation picks the codec; we choose the
// subscriber's codec that matches the publisher's.
func (d *RTPDownTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	want := d.set.list()[0].Codec()
	var best *webrtc.RTPCodecParameters
	score := -1
	codecs := ctx.CodecParameters()
	for i, c := range codecs {
		if !strings.EqualFold(c.MimeType, want.MimeType) {
			continue
		}
		s := 0
		if c.SDPFmtpLine == want.SDPFmtpLine {
			s = 2
		} else if fmtpValue(c.SDPFmtpLine, "packetization-mode") == fmtpValue(want.SDPFmtpLine, "packetization-mode") {
			s = 1
		}
		if s > score {
			score, best = s, &codecs[i]
		}
	}
	if best == nil {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	d.bound.Store(&binding{ssrc: uint32(ctx.SSRC()), pt: uint8(best.PayloadType), w: ctx.WriteStream()})
	return *best, nil
}

func fmtpValue(line, key string) string {
	for _, kv := range strings.Split(line, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if k == key {
			return v
		}
	}
	return ""
}

// Unbind stops writing.
func (d *RTPDownTrack) Unbind(webrtc.TrackLocalContext) error {
	d.bound.Store(nil)
	return nil
}

// ID is the track id the subscriber sees.
func (d *RTPDownTrack) ID() string { return d.id }

// RID is empty: the subscriber gets one stream, whatever the layers.
func (d *RTPDownTrack) RID() string { return "" }

// StreamID is the msid stream the subscriber sees (the publisher's uid).
func (d *RTPDownTrack) StreamID() string { return d.streamID }

// Kind is audio or video.
func (d *RTPDownTrack) Kind() webrtc.RTPCodecType { return d.kind }

// SetTimeMapping is not needed: the subscriber's sender reports are made
// by pion from what this track writes.
func (d *RTPDownTrack) SetTimeMapping(TimeMapping) {}

// UpTrackEnded needs nothing: the subscription closes with the publication.
func (d *RTPDownTrack) UpTrackEnded() {}

// attach starts the down track on its layer set: it registers for layer
// changes and attaches to the layer it should forward.
func (d *RTPDownTrack) attach() {
	d.set.register(d, true)
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if closed { // detach ran meanwhile (it marks closed before unregistering)
		d.set.register(d, false)
		return
	}
	d.chooseLayer()
}

// detach removes the down track from every layer it is attached to.
func (d *RTPDownTrack) detach() {
	d.mu.Lock()
	d.closed = true
	ups := make([]*LocalUpTrack, 0, len(d.attached))
	for u := range d.attached {
		ups = append(ups, u)
	}
	d.attached = map[*LocalUpTrack]bool{}
	d.mu.Unlock()
	d.set.register(d, false)
	for _, u := range ups {
		u.RemoveDownTrack(d)
	}
}

// setPreferLow asks for the lowest simulcast layer (or lets bandwidth choose).
func (d *RTPDownTrack) setPreferLow(low bool) {
	d.preferLow.Store(low)
	d.chooseLayer()
}

// chooseLayer picks the layer to forward (pickLayer: the lowest if the
// viewer asked for it, else what its bandwidth allows). A new target is
// attached at once and taken over at its next keyframe, which is asked for.
func (d *RTPDownTrack) chooseLayer() {
	layers := d.set.list()
	if len(layers) == 0 {
		return
	}
	now := time.Now()
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	in := layerInput{
		bitrates: make([]uint64, len(layers)), cur: len(layers) - 1,
		estimate: d.estimate.Load(), loss: uint8(d.lossFraction.Load()), preferLow: d.preferLow.Load(),
	}
	for i, l := range layers {
		in.bitrates[i] = l.bitrate.Load()
		if int32(l.layer) == d.target.Load() {
			in.cur = i
		}
	}
	if d.probeWait == 0 {
		d.probeWait = probeAfter
	}
	if in.loss >= congestedLoss {
		d.lastBad = now
	}
	if d.probing && now.Sub(d.probeAt) > probeAfter { // the last try up held
		d.probing, d.probeWait = false, probeAfter
	}
	in.quiet, in.probeWait = now.Sub(d.lastBad), d.probeWait
	pick, probe := pickLayer(in)
	if pick < in.cur && !in.preferLow {
		d.lastBad = now
		if d.probing { // the try up failed: wait longer before the next
			d.probing, d.probeWait = false, min(2*d.probeWait, probeMax)
		}
	}
	if probe {
		d.probing, d.probeAt = true, now
	}
	t := layers[pick]
	changed := d.target.Swap(int32(t.layer)) != int32(t.layer)
	attach := !d.attached[t]
	d.attached[t] = true
	started := d.cur != nil
	d.mu.Unlock()
	if attach {
		t.AddDownTrack(d)
	}
	if changed && started && d.video {
		t.RequestKeyframe()
	}
}

var errNotBound = errors.New("down track not bound")

// replayMaxAge bounds how old a cached keyframe may be for a new viewer to
// start from it: a second of frames replays in a blink; past that the
// viewer asks for a fresh keyframe (coalesced with everyone else's).
const replayMaxAge = time.Second

// WriteRTP forwards p to the subscriber. Video starts at a keyframe: the
// newest cached one, replayed at once, or the next one the publisher sends.
func (d *RTPDownTrack) WriteRTP(p *Packet) error {
	b := d.bound.Load()
	if b == nil {
		return errNotBound
	}
	d.mu.Lock()
	var prune bool
	err := d.write(b, p, &prune)
	var sr *rtcp.SenderReport
	if err == nil && d.cur != nil && d.rw.started {
		sr = d.senderReport(b, p)
	}
	d.mu.Unlock()
	if prune {
		d.pruneLayers()
	}
	if sr != nil {
		_ = d.sendRTCP([]rtcp.Packet{sr})
	}
	return err
}

// pruneLayers detaches the down track from every layer but the one it
// forwards (and one it is switching to), once it has started or switched.
func (d *RTPDownTrack) pruneLayers() {
	d.mu.Lock()
	var drop []*LocalUpTrack
	target := d.target.Load()
	for u := range d.attached {
		if u != d.cur && int32(u.layer) != target { // not a switch still pending
			drop = append(drop, u)
			delete(d.attached, u)
		}
	}
	d.mu.Unlock()
	for _, u := range drop {
		u.RemoveDownTrack(d)
	}
}

// write runs under d.mu; *prune says it started on or switched to a layer,
// so it should leave the others.
func (d *RTPDownTrack) write(b *binding, p *Packet, prune *bool) error {
	if d.closed {
		return nil
	}
	src := d.set.byLayer(p.Layer)
	if src == nil {
		return nil
	}
	if !d.video {
		if d.cur == nil {
			d.cur = src
			d.rw.source(src, p, false)
		}
		_, err := d.emit(b, p)
		return err
	}
	target := int8(d.target.Load())
	switch {
	case d.cur == nil:
		if p.Layer == target {
			d.start(b, src, p)
			*prune = d.cur != nil && len(d.attached) > 1
		}
		return nil
	case src == d.cur:
		if len(p.Payload) == 0 { // padding only: not forwarded, no gap
			d.rw.skip()
			return nil
		}
		_, err := d.emit(b, p)
		return err
	case p.Layer == target && !p.Keyframe:
		// A switch is pending: keep asking (coalesced at the up track) in
		// case the first request fell inside the keyframe interval.
		src.RequestKeyframe()
	case p.Layer == target && p.Keyframe:
		*prune = true
		d.cur = src
		d.rw.switchSource(src, p, d.vp8)
		d.switches.Add(1)
		_, err := d.emit(b, p)
		return err
	}
	return nil
}

// start begins forwarding video from src: from the keyframe p starts, or by
// replaying the cached GOP up to p, or (nothing usable cached) it asks the
// publisher for a keyframe. Until a write actually goes out (pion drops
// writes before SRTP is up) it tries again with the next packet.
func (d *RTPDownTrack) start(b *binding, src *LocalUpTrack, p *Packet) {
	if d.connecting.Load() {
		d.dropped.Add(1) // nothing can go out yet: no replay, no keyframe request
		return
	}
	if p.Keyframe {
		d.rw.source(src, p, d.vp8)
		if out, _ := d.emit(b, p); out {
			d.cur = src
		} else {
			d.dropped.Add(1)
		}
		return
	}
	k, ok := src.LastKeyframe()
	if !ok || p.SequenceNumber-k >= uint16(src.cache.Size()/2) {
		d.dropped.Add(1)
		src.RequestKeyframe()
		return
	}
	first := src.cached(k)
	if first != nil && p.Arrival-first.Arrival > int64(replayMaxAge) {
		// An old keyframe means a long burst of old frames, which a
		// browser's delay-based bandwidth estimate reads as congestion (and
		// relays to the publisher as a low REMB): a fresh keyframe is cheaper.
		first.Release()
		first = nil
	}
	if first == nil {
		d.dropped.Add(1)
		src.RequestKeyframe()
		return
	}
	d.rw.source(src, first, d.vp8)
	out, _ := d.emit(b, first)
	first.Release()
	if !out {
		d.dropped.Add(1)
		return
	}
	d.cur = src
	d.replayed.Add(1)
	for seq := k + 1; seq != p.SequenceNumber; seq++ {
		if q := src.cached(seq); q != nil {
			if len(q.Payload) > 0 {
				_, _ = d.emit(b, q)
				d.replayed.Add(1)
			} else {
				d.rw.skip()
			}
			q.Release()
		}
	}
	_, _ = d.emit(b, p)
}

// emit rewrites p's header into the track's own and writes it; out says
// whether it left (pion returns 0, nil before SRTP is up).
func (d *RTPDownTrack) emit(b *binding, p *Packet) (out bool, err error) {
	d.hdr = p.Header
	d.hdr.SSRC, d.hdr.PayloadType = b.ssrc, b.pt
	d.hdr.Extension, d.hdr.ExtensionProfile, d.hdr.Extensions = false, 0, d.ext[:0]
	d.hdr.Padding, d.hdr.PaddingSize = false, 0
	payload := d.rw.apply(&d.hdr, p, d.rw.cur, d.payBuf[:], d.vp8)
	n, err := b.w.WriteRTP(&d.hdr, payload)
	if n == 0 && err == nil {
		return false, nil
	}
	d.rw.sent(&d.hdr, payload, d.vp8)
	d.packets.Add(1)
	d.octets.Add(uint64(len(payload)))
	return true, err
}

// retransmit resends a cached packet the subscriber reported lost, mapped
// back through the numbering in force when it was first sent.
func (d *RTPDownTrack) retransmit(b *binding, seq uint16) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.rw.lookup(seq)
	if !ok || e.src == nil {
		return
	}
	p := e.src.cached(seq - e.n.seq)
	if p == nil {
		return
	}
	defer p.Release()
	d.rtxHdr = p.Header
	d.rtxHdr.SSRC, d.rtxHdr.PayloadType = b.ssrc, b.pt
	d.rtxHdr.Extension, d.rtxHdr.ExtensionProfile, d.rtxHdr.Extensions = false, 0, d.ext[:0]
	d.rtxHdr.Padding, d.rtxHdr.PaddingSize = false, 0
	payload := d.rw.apply(&d.rtxHdr, p, e.n, d.payBuf[:], d.vp8)
	if _, err := b.w.WriteRTP(&d.rtxHdr, payload); err == nil {
		d.retransmits.Add(1)
	}
}

// HandleRTCP acts on the subscriber's feedback: NACK → retransmit from the
// cache, PLI/FIR → keyframe request to the publisher (coalesced there), REMB
// → layer choice (and, without simulcast, the publisher's bitrate), receiver
// report → loss statistics.
func (d *RTPDownTrack) HandleRTCP(pkts []rtcp.Packet) {
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.TransportLayerNack:
			b := d.bound.Load()
			if b == nil {
				continue
			}
			for _, pair := range p.Nacks {
				d.nacks.Add(1)
				d.retransmit(b, pair.PacketID)
				for i := uint16(0); i < 16; i++ {
					if pair.LostPackets&(1<<i) != 0 {
						d.retransmit(b, pair.PacketID+i+1)
					}
				}
			}
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			d.plis.Add(1)
			d.mu.Lock()
			cur := d.cur
			d.mu.Unlock()
			if cur == nil {
				cur = d.set.top()
			}
			if cur != nil {
				cur.RequestKeyframe()
			}
		case *rtcp.ReceiverEstimatedMaximumBitrate:
			d.estimate.Store(uint64(p.Bitrate))
			if len(d.set.list()) > 1 {
				d.chooseLayer()
			} else if u := d.set.top(); u != nil {
				congested := time.Since(time.Unix(0, d.lossAt.Load())) < congestionHold
				u.ReceiverEstimate(d, uint64(p.Bitrate), congested)
			}
		case *rtcp.ReceiverReport:
			for _, r := range p.Reports {
				d.lossFraction.Store(uint32(r.FractionLost))
				if r.FractionLost >= congestedLoss {
					d.lossAt.Store(time.Now().UnixNano())
				}
				d.rr.take(r, d.clockRate(), time.Now())
			}
			if len(p.Reports) > 0 && len(d.set.list()) > 1 {
				d.chooseLayer()
			}
		}
	}
}

// DownStats is a snapshot of a down track's counters.
type DownStats struct {
	Packets     uint64 `json:"packets"`
	Dropped     uint64 `json:"dropped"`
	NACKs       uint64 `json:"nacks"`
	Retransmits uint64 `json:"retransmits"`
	PLIs        uint64 `json:"plis"`
	// Replayed counts packets sent from the cache when the track started.
	Replayed uint64 `json:"replayed"`
	// Switches counts simulcast layer changes; Layer is the current one.
	Switches uint64 `json:"switches"`
	Layer    int    `json:"layer"`
	// FractionLost is the subscriber's last reported loss, 0..255 as in RTCP.
	FractionLost uint8 `json:"fractionLost"`
	// Bytes counts the payload bytes sent.
	Bytes uint64 `json:"bytes"`
	// Report is what the subscriber's receiver reports say.
	Report ReportStats `json:"report"`
	// Estimate is the subscriber's last bandwidth estimate (REMB), bit/s.
	Estimate uint64 `json:"estimate"`
}

// Stats returns the down track's counters.
func (d *RTPDownTrack) Stats() DownStats {
	d.mu.Lock()
	layer := -1
	if d.cur != nil {
		layer = int(d.cur.layer)
	}
	d.mu.Unlock()
	return DownStats{
		Packets: d.packets.Load(), Dropped: d.dropped.Load(), NACKs: d.nacks.Load(),
		Retransmits: d.retransmits.Load(), PLIs: d.plis.Load(), Replayed: d.replayed.Load(),
		Switches: d.switches.Load(), Layer: layer, FractionLost: uint8(d.lossFraction.Load()),
		Bytes: d.octets.Load(), Report: d.rr.stats(), Estimate: d.estimate.Load(),
	}
}
