package sfu

import (
	"errors"
	"strings"
	"sync/atomic"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// RTPDownTrack is a webrtc.TrackLocal that forwards one up track to one
// subscriber's PeerConnection. It rewrites SSRC and payload type in a header
// it owns, so forwarding allocates nothing, and answers the subscriber's NACKs
// from the up track's shared packet cache.
type RTPDownTrack struct {
	id, streamID string
	up           UpTrack
	mime         string
	video        bool

	bound atomic.Pointer[binding]

	// Owned by the up track's reader goroutine (WriteRTP).
	hdr     rtp.Header
	ext     [2]rtp.Extension
	started bool

	// Owned by the RTCP reader goroutine (retransmissions).
	rtxHdr rtp.Header
	rtxExt [2]rtp.Extension
	rtxBuf [maxPacketSize]byte
	rtxPkt rtp.Packet

	packets, dropped, nacks, retransmits, plis atomic.Uint64
	lossFraction                               atomic.Uint32
	preferLow                                  atomic.Bool
}

type binding struct {
	ssrc uint32
	pt   uint8
	w    webrtc.TrackLocalWriter
}

// NewRTPDownTrack makes a down track for up, named id within stream streamID.
func NewRTPDownTrack(id, streamID string, up UpTrack) *RTPDownTrack {
	return &RTPDownTrack{
		id: id, streamID: streamID, up: up,
		mime:  up.Codec().MimeType,
		video: up.Kind() == webrtc.RTPCodecTypeVideo,
	}
}

// Bind is called by pion when negotiation picks the codec; we choose the
// subscriber's codec that matches the publisher's.
func (d *RTPDownTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	want := d.up.Codec()
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

// RID is empty: no simulcast.
func (d *RTPDownTrack) RID() string { return "" }

// StreamID is the msid stream the subscriber sees (the publisher's uid).
func (d *RTPDownTrack) StreamID() string { return d.streamID }

// Kind is audio or video.
func (d *RTPDownTrack) Kind() webrtc.RTPCodecType { return d.up.Kind() }

var errNotBound = errors.New("down track not bound")

// WriteRTP forwards p to the subscriber. Video starts at a keyframe.
func (d *RTPDownTrack) WriteRTP(p *rtp.Packet) error {
	b := d.bound.Load()
	if b == nil {
		return errNotBound
	}
	starting := d.video && !d.started
	if starting && !IsKeyframeStart(d.mime, p.Payload) {
		d.dropped.Add(1)
		d.up.RequestKeyframe()
		return nil
	}
	d.hdr = p.Header
	d.hdr.SSRC, d.hdr.PayloadType = b.ssrc, b.pt
	d.hdr.Extension, d.hdr.ExtensionProfile, d.hdr.Extensions = false, 0, d.ext[:0]
	n, err := b.w.WriteRTP(&d.hdr, p.Payload)
	if n == 0 && err == nil {
		// Bound but SRTP not up yet: pion drops the packet and says nothing.
		// Video starts at the first keyframe that actually goes out, or the
		// subscriber's stream would begin mid-frame.
		d.dropped.Add(1)
		return nil
	}
	d.started = d.started || starting
	d.packets.Add(1)
	return err
}

// retransmit resends a cached packet the subscriber reported lost.
func (d *RTPDownTrack) retransmit(seq uint16) {
	b := d.bound.Load()
	if b == nil {
		return
	}
	n := d.up.CopyPacket(seq, d.rtxBuf[:])
	if n == 0 || d.rtxPkt.Unmarshal(d.rtxBuf[:n]) != nil {
		return
	}
	d.rtxHdr = d.rtxPkt.Header
	d.rtxHdr.SSRC, d.rtxHdr.PayloadType = b.ssrc, b.pt
	d.rtxHdr.Extension, d.rtxHdr.ExtensionProfile, d.rtxHdr.Extensions = false, 0, d.rtxExt[:0]
	if _, err := b.w.WriteRTP(&d.rtxHdr, d.rtxPkt.Payload); err == nil {
		d.retransmits.Add(1)
	}
}

// HandleRTCP acts on the subscriber's feedback: NACK → retransmit from the
// cache, PLI/FIR → keyframe request to the publisher (throttled there), REMB →
// the publisher's bitrate cap, receiver report → loss statistics.
func (d *RTPDownTrack) HandleRTCP(pkts []rtcp.Packet) {
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.TransportLayerNack:
			for _, pair := range p.Nacks {
				d.nacks.Add(1)
				d.retransmit(pair.PacketID)
				for i := uint16(0); i < 16; i++ {
					if pair.LostPackets&(1<<i) != 0 {
						d.retransmit(pair.PacketID + i + 1)
					}
				}
			}
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			d.plis.Add(1)
			d.up.RequestKeyframe()
		case *rtcp.ReceiverEstimatedMaximumBitrate:
			if r, ok := d.up.(estimateReceiver); ok {
				r.ReceiverEstimate(d, uint64(p.Bitrate))
			}
		case *rtcp.ReceiverReport:
			for _, r := range p.Reports {
				d.lossFraction.Store(uint32(r.FractionLost))
			}
		}
	}
}

// estimateReceiver is an up track that aggregates subscribers' bandwidth
// estimates (REMB) for its publisher.
type estimateReceiver interface {
	ReceiverEstimate(from DownTrack, bps uint64)
}

// DownStats is a snapshot of a down track's counters.
type DownStats struct {
	Packets, Dropped, NACKs, Retransmits, PLIs uint64
	// FractionLost is the subscriber's last reported loss, 0..255 as in RTCP.
	FractionLost uint8
}

// Stats returns the down track's counters.
func (d *RTPDownTrack) Stats() DownStats {
	return DownStats{
		Packets: d.packets.Load(), Dropped: d.dropped.Load(), NACKs: d.nacks.Load(),
		Retransmits: d.retransmits.Load(), PLIs: d.plis.Load(), FractionLost: uint8(d.lossFraction.Load()),
	}
}

// setPreferLow asks for the lowest simulcast layer (or lets bandwidth choose).
func (d *RTPDownTrack) setPreferLow(low bool) { d.preferLow.Store(low) }
