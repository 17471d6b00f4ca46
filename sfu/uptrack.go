package sfu

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// keyframeInterval throttles PLIs to a publisher: a burst of new subscribers
// (or of lost packets) must not make the encoder send a keyframe per request,
// each of which costs several times a delta frame's bitrate.
const keyframeInterval = 300 * time.Millisecond

// cacheSize is how many packets an up track keeps for retransmission: about
// 1 s of 360p video, longer than a NACK round trip on any usable network.
const (
	videoCacheSize = 512
	audioCacheSize = 64
)

// RemoteTrack is the part of a pion TrackRemote an up track reads from; tests
// and other transports can supply their own.
type RemoteTrack interface {
	Read(b []byte) (int, error)
}

type trackReader struct{ t *webrtc.TrackRemote }

func (r trackReader) Read(b []byte) (int, error) {
	n, _, err := r.t.Read(b)
	return n, err
}

// LocalUpTrack is the sfu's UpTrack: one reader goroutine that reads a
// publisher's packets, caches them and fans them out to its down tracks.
type LocalUpTrack struct {
	id    string
	kind  webrtc.RTPCodecType
	codec webrtc.RTPCodecParameters
	ssrc  uint32
	cache *PacketCache

	mu    sync.Mutex                  // serializes changes to downs
	downs atomic.Pointer[[]DownTrack] // copy-on-write: read without locks per packet

	sendRTCP func([]rtcp.Packet) error
	lastPLI  atomic.Int64

	rembMu   sync.Mutex
	rembEst  map[DownTrack]uint64
	rembLast time.Time

	packets, bytes, badPackets atomic.Uint64
}

// NewUpTrack makes an up track for media of the given codec; sendRTCP sends
// feedback (PLI) to the publisher.
func NewUpTrack(id string, kind webrtc.RTPCodecType, codec webrtc.RTPCodecParameters, ssrc uint32, sendRTCP func([]rtcp.Packet) error) *LocalUpTrack {
	size := audioCacheSize
	if kind == webrtc.RTPCodecTypeVideo {
		size = videoCacheSize
	}
	u := &LocalUpTrack{id: id, kind: kind, codec: codec, ssrc: ssrc, cache: NewPacketCache(size), sendRTCP: sendRTCP}
	u.downs.Store(&[]DownTrack{})
	return u
}

// ID names the track within its publication.
func (u *LocalUpTrack) ID() string { return u.id }

// Kind is audio or video.
func (u *LocalUpTrack) Kind() webrtc.RTPCodecType { return u.kind }

// Codec is the publisher's negotiated codec.
func (u *LocalUpTrack) Codec() webrtc.RTPCodecParameters { return u.codec }

// AddDownTrack starts forwarding to d. A video down track asks for a keyframe
// itself once its subscriber can receive one.
func (u *LocalUpTrack) AddDownTrack(d DownTrack) {
	u.mu.Lock()
	old := *u.downs.Load()
	next := make([]DownTrack, 0, len(old)+1)
	next = append(append(next, old...), d)
	u.downs.Store(&next)
	u.mu.Unlock()
}

// RemoveDownTrack stops forwarding to d.
func (u *LocalUpTrack) RemoveDownTrack(d DownTrack) {
	u.mu.Lock()
	defer u.mu.Unlock()
	old := *u.downs.Load()
	next := make([]DownTrack, 0, len(old))
	for _, x := range old {
		if x != d {
			next = append(next, x)
		}
	}
	u.downs.Store(&next)
	u.rembMu.Lock()
	delete(u.rembEst, d)
	u.rembMu.Unlock()
}

// rembInterval is how often the publisher is told the subscribers' bandwidth.
const rembInterval = time.Second

// ReceiverEstimate records a subscriber's REMB estimate and, at most once per
// rembInterval, tells the publisher the lowest one as its own REMB, so an
// encoder without simulcast does not send more than its weakest viewer takes.
func (u *LocalUpTrack) ReceiverEstimate(from DownTrack, bps uint64) {
	if u.sendRTCP == nil {
		return
	}
	u.rembMu.Lock()
	if u.rembEst == nil {
		u.rembEst = map[DownTrack]uint64{}
	}
	u.rembEst[from] = bps
	now := time.Now()
	if now.Sub(u.rembLast) < rembInterval {
		u.rembMu.Unlock()
		return
	}
	u.rembLast = now
	lowest := uint64(0)
	for _, e := range u.rembEst {
		if lowest == 0 || e < lowest {
			lowest = e
		}
	}
	u.rembMu.Unlock()
	_ = u.sendRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: float32(lowest), SSRCs: []uint32{u.ssrc}}})
}

// DownTracks reports how many consumers the track has.
func (u *LocalUpTrack) DownTracks() int { return len(*u.downs.Load()) }

// CopyPacket copies a cached packet for retransmission.
func (u *LocalUpTrack) CopyPacket(seq uint16, buf []byte) int { return u.cache.Copy(seq, buf) }

// RequestKeyframe sends a PLI to the publisher, at most once per keyframeInterval.
func (u *LocalUpTrack) RequestKeyframe() {
	if u.kind != webrtc.RTPCodecTypeVideo || u.sendRTCP == nil {
		return
	}
	now := time.Now().UnixNano()
	last := u.lastPLI.Load()
	if now-last < int64(keyframeInterval) || !u.lastPLI.CompareAndSwap(last, now) {
		return
	}
	_ = u.sendRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: u.ssrc}})
}

// Run reads packets from r until it fails (the publisher's connection
// closed), forwarding each one. It is the track's only reader goroutine.
func (u *LocalUpTrack) Run(r RemoteTrack) {
	buf := make([]byte, maxPacketSize)
	var pkt rtp.Packet
	for {
		n, err := r.Read(buf)
		if err != nil {
			return
		}
		u.Forward(buf[:n], &pkt)
	}
}

// Forward parses one packet into pkt (reused by the caller), caches it and
// writes it to every down track. It allocates nothing.
func (u *LocalUpTrack) Forward(data []byte, pkt *rtp.Packet) {
	if err := pkt.Unmarshal(data); err != nil {
		u.badPackets.Add(1)
		return
	}
	u.packets.Add(1)
	u.bytes.Add(uint64(len(data)))
	u.cache.Store(pkt.SequenceNumber, data)
	for _, d := range *u.downs.Load() {
		_ = d.WriteRTP(pkt)
	}
}

// Stats is a snapshot of an up track's counters.
type Stats struct {
	Packets, Bytes, BadPackets uint64
}

// Stats returns the track's counters.
func (u *LocalUpTrack) Stats() Stats {
	return Stats{Packets: u.packets.Load(), Bytes: u.bytes.Load(), BadPackets: u.badPackets.Load()}
}
