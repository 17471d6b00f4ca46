package sfu

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// DefaultKeyframeInterval coalesces keyframe requests (PLIs) to a publisher:
// however many subscribers join or lose packets, the encoder is asked for at
// most one keyframe per interval, since each costs several times a delta
// frame's bitrate. Joiners are mostly served from the cached keyframe anyway.
const DefaultKeyframeInterval = 500 * time.Millisecond

// cacheSize is how many packets an up track keeps for retransmission and
// for new subscribers to start from: about 10 s of 360p video at 300 kbps,
// far longer than a NACK round trip.
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

// LocalUpTrack is the sfu's UpTrack: one reader goroutine reads a publisher's
// packets into pooled buffers, parses each once, caches it and hands it to
// the writer shards that write to its down tracks.
type LocalUpTrack struct {
	id    string
	kind  webrtc.RTPCodecType
	codec webrtc.RTPCodecParameters
	ssrc  uint32
	isKey func([]byte) bool
	// keyTS and keySeq are the newest keyframe's timestamp and first
	// sequence number (the reader's own), so only a keyframe's first packet
	// is flagged: an H264 IDR that follows its SPS and PPS in the same
	// frame does not move the start past them.
	keyTS    uint32
	keySeq   uint16
	keySeen  bool
	cache    *PacketCache
	fan      *fanout
	sendRTCP func([]rtcp.Packet) error

	// layer is the simulcast layer (0 lowest) and rid its RTP stream id.
	layer int8
	rid   string
	// onWatched, if set, is called after a down track is added or removed
	// (the publication pauses simulcast layers nobody watches).
	onWatched func()
	// keyframeEvery is the PLI coalescing interval.
	keyframeEvery time.Duration
	lastPLI       atomic.Int64

	timeMap atomic.Pointer[TimeMapping]
	ended   atomic.Bool

	rembMu   sync.Mutex
	rembEst  map[DownTrack]uint64
	rembLast time.Time
	// relayREMB says the viewers' estimates go to the publisher; off for
	// simulcast, where viewers pick layers instead of capping the encoder.
	relayREMB atomic.Bool

	// impair, if set, drops a fraction of the packets read (a drill);
	// impaired numbers them for its pattern.
	impair   *impairment
	impaired atomic.Uint64

	// Owned by the reader goroutine.
	highSeq   uint16
	seenAny   bool
	rateStart int64
	rateBytes uint64
	// jitter is RFC 3550's interarrival jitter in RTP clock units, from the
	// transit time (arrival on the RTP clock minus the packet's timestamp)
	// of successive packets; jitterStart is the arrival clock's origin.
	jitter      float64
	lastTransit int32
	jitterStart int64
	jitterQ     atomic.Uint32 // jitter, published for Stats
	recovered   atomic.Uint64
	packets     atomic.Uint64
	bytes       atomic.Uint64
	badPackets  atomic.Uint64
	lost        atomic.Uint64
	plis        atomic.Uint64
	bitrate     atomic.Uint64
}

// NewUpTrack makes an up track for media of the given codec; sendRTCP sends
// feedback (PLI, REMB) to the publisher and may be nil.
func NewUpTrack(id string, kind webrtc.RTPCodecType, codec webrtc.RTPCodecParameters, ssrc uint32, sendRTCP func([]rtcp.Packet) error) *LocalUpTrack {
	size := audioCacheSize
	if kind == webrtc.RTPCodecTypeVideo {
		size = videoCacheSize
	}
	u := &LocalUpTrack{
		id: id, kind: kind, codec: codec, ssrc: ssrc, isKey: keyframeDetector(codec.MimeType),
		cache: NewPacketCache(size), fan: newFanout(), sendRTCP: sendRTCP, keyframeEvery: DefaultKeyframeInterval,
	}
	if kind != webrtc.RTPCodecTypeVideo {
		u.isKey = func([]byte) bool { return true }
	}
	u.relayREMB.Store(true)
	return u
}

// ID names the track within its publication.
func (u *LocalUpTrack) ID() string { return u.id }

// Kind is audio or video.
func (u *LocalUpTrack) Kind() webrtc.RTPCodecType { return u.kind }

// Codec is the publisher's negotiated codec.
func (u *LocalUpTrack) Codec() webrtc.RTPCodecParameters { return u.codec }

// Layer is the track's simulcast layer, 0 the lowest.
func (u *LocalUpTrack) Layer() int { return int(u.layer) }

// AddDownTrack starts forwarding to d. A video down track that cannot start
// from the cached keyframe asks for one itself once it can send.
func (u *LocalUpTrack) AddDownTrack(d DownTrack) {
	if tm := u.timeMap.Load(); tm != nil {
		d.SetTimeMapping(*tm)
	}
	if u.ended.Load() || !u.fan.add(d) {
		d.UpTrackEnded()
		return
	}
	if u.onWatched != nil {
		u.onWatched()
	}
}

// RemoveDownTrack stops forwarding to d.
func (u *LocalUpTrack) RemoveDownTrack(d DownTrack) {
	removed := u.fan.remove(d)
	u.rembMu.Lock()
	delete(u.rembEst, d)
	u.rembMu.Unlock()
	if removed && u.onWatched != nil {
		u.onWatched()
	}
}

// rembInterval is how often the publisher is told the subscribers' bandwidth.
const rembInterval = time.Second

// A viewer's estimate caps the publisher only while the viewer is
// congested: it reported loss of congestedLoss or more within the last
// congestionHold. A browser's receive-side estimate grows to little more
// than what arrives, and an SFU that forwards does not probe: relayed as it
// came, one dip (a burst of replayed frames, a busy machine) held a
// one-to-one call at 20 kbit/s for good, the encoder sending less and the
// estimate staying as low. Without congestion the publisher is told
// uncappedREMB, so its own send-side estimate (TWCC to the server) governs.
const (
	congestionHold = 10 * time.Second
	uncappedREMB   = 20_000_000
)

// ReceiverEstimate records a subscriber's REMB estimate, a cap only when
// congested says the subscriber is losing packets, and, at most once per
// rembInterval, tells the publisher of a track without simulcast the cap
// that serves most of its viewers: the lowest one among the best 80 % of
// them. A one-to-one call adapts to its one viewer's congestion; in a room
// of many viewers, one weak viewer no longer caps everyone's quality.
func (u *LocalUpTrack) ReceiverEstimate(from DownTrack, bps uint64, congested bool) {
	if u.sendRTCP == nil || !u.relayREMB.Load() {
		return
	}
	if !congested {
		bps = uncappedREMB
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
	ests := make([]uint64, 0, len(u.rembEst))
	for _, e := range u.rembEst {
		ests = append(ests, e)
	}
	u.rembMu.Unlock()
	slices.Sort(ests)
	chosen := min(ests[len(ests)/5], uncappedREMB)
	_ = u.sendRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: float32(chosen), SSRCs: []uint32{u.ssrc}}})
}

// DownTracks reports how many consumers the track has.
func (u *LocalUpTrack) DownTracks() int { return u.fan.count() }

// CopyPacket copies a cached packet for retransmission.
func (u *LocalUpTrack) CopyPacket(seq uint16, buf []byte) int { return u.cache.Copy(seq, buf) }

// LastKeyframe is where the newest cached keyframe starts.
func (u *LocalUpTrack) LastKeyframe() (uint16, bool) { return u.cache.LastKeyframe() }

// cached returns a referenced cached packet, or nil.
func (u *LocalUpTrack) cached(seq uint16) *Packet { return u.cache.Get(seq) }

// RequestKeyframe sends a PLI to the publisher, at most once per keyframe
// interval however many consumers ask.
func (u *LocalUpTrack) RequestKeyframe() {
	if u.kind != webrtc.RTPCodecTypeVideo || u.sendRTCP == nil {
		return
	}
	now := time.Now().UnixNano()
	last := u.lastPLI.Load()
	if now-last < int64(u.keyframeEvery) || !u.lastPLI.CompareAndSwap(last, now) {
		return
	}
	u.plis.Add(1)
	_ = u.sendRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: u.ssrc}})
}

// Run reads packets from r until it fails (the publisher's connection
// closed), forwarding each one; then it stops the writers and tells every
// down track the track ended. It is the track's only reader goroutine.
func (u *LocalUpTrack) Run(r RemoteTrack) {
	defer u.End()
	for {
		p := newPacket()
		n, err := r.Read(p.buf[:])
		if err != nil {
			p.Release()
			return
		}
		if u.impair == nil || !u.impair.drop(&u.impaired) {
			u.forward(p, n)
		}
		p.Release()
	}
}

// Forward copies one RTP packet from a producer of its own (an ingest, a
// test) into the track and forwards it. Calls must not overlap.
func (u *LocalUpTrack) Forward(data []byte) {
	p := newPacket()
	defer p.Release()
	if len(data) > len(p.buf) {
		u.badPackets.Add(1)
		return
	}
	u.forward(p, copy(p.buf[:], data))
}

// forward parses, counts, caches and enqueues one packet. It allocates
// nothing.
func (u *LocalUpTrack) forward(p *Packet, n int) {
	if err := p.parse(n); err != nil {
		u.badPackets.Add(1)
		return
	}
	now := time.Now().UnixNano()
	p.Arrival, p.Layer = now, u.layer
	p.Keyframe = u.keyframeStart(p)
	u.count(p, now)
	u.cache.Store(p)
	u.fan.send(p)
}

// keyframeStart says whether p is the first packet of a keyframe: a
// packet the codec's test calls a keyframe start, unless an earlier packet
// of the same frame already was (H264 sends SPS and PPS, then the IDR
// slice, each a keyframe start by itself; a decoder needs all three).
func (u *LocalUpTrack) keyframeStart(p *Packet) bool {
	if !u.isKey(p.Payload) {
		return false
	}
	if u.keySeen && p.Timestamp == u.keyTS {
		if d := int16(p.SequenceNumber - u.keySeq); d > 0 && d < 256 {
			return false // a later packet of the keyframe already started
		}
	}
	u.keyTS, u.keySeq, u.keySeen = p.Timestamp, p.SequenceNumber, true
	return true
}

// count updates the packet, loss and bitrate counters.
func (u *LocalUpTrack) count(p *Packet, now int64) {
	u.packets.Add(1)
	u.bytes.Add(uint64(p.n))
	seq := p.SequenceNumber
	switch {
	case !u.seenAny:
		u.seenAny, u.highSeq = true, seq
	case int16(seq-u.highSeq) > 0:
		if gap := seq - u.highSeq - 1; gap > 0 && gap < 1000 {
			u.lost.Add(uint64(gap))
		}
		u.highSeq = seq
	default: // older than the highest: a retransmission or a reordered packet filling a gap counted lost
		if back := u.highSeq - seq; back > 0 && back < 1000 {
			u.recovered.Add(1)
		}
	}
	u.countJitter(p.Timestamp, now)
	if u.rateStart == 0 {
		u.rateStart = now
	}
	u.rateBytes += uint64(p.n)
	if el := now - u.rateStart; el >= int64(500*time.Millisecond) {
		u.bitrate.Store(u.rateBytes * 8 * uint64(time.Second) / uint64(el))
		u.rateStart, u.rateBytes = now, 0
	}
}

// countJitter updates the interarrival jitter (RFC 3550 §6.4.1) with one
// packet's RTP timestamp and arrival time.
func (u *LocalUpTrack) countJitter(ts uint32, now int64) {
	rate := int64(u.codec.ClockRate)
	if rate == 0 {
		return
	}
	if u.jitterStart == 0 {
		u.jitterStart = now
	}
	arrival := uint32((now - u.jitterStart) / 1000 * rate / 1_000_000) // µs on the RTP clock: no overflow for years
	transit := int32(arrival - ts)
	if u.packets.Load() > 1 {
		d := float64(transit - u.lastTransit)
		if d < 0 {
			d = -d
		}
		u.jitter += (d - u.jitter) / 16
		u.jitterQ.Store(uint32(u.jitter))
	}
	u.lastTransit = transit
}

// HandleRTCP takes the publisher's RTCP for this track: a sender report
// becomes the time mapping every down track is told.
func (u *LocalUpTrack) HandleRTCP(pkts []rtcp.Packet) {
	for _, p := range pkts {
		sr, ok := p.(*rtcp.SenderReport)
		if !ok || sr.SSRC != u.ssrc {
			continue
		}
		tm := TimeMapping{NTP: sr.NTPTime, RTP: sr.RTPTime, ClockRate: u.codec.ClockRate, Received: time.Now()}
		u.timeMap.Store(&tm)
		for _, d := range u.fan.all() {
			d.SetTimeMapping(tm)
		}
	}
}

// TimeMapping is the latest sender report's NTP ↔ RTP pairing, if any.
func (u *LocalUpTrack) TimeMapping() (TimeMapping, bool) {
	if tm := u.timeMap.Load(); tm != nil {
		return *tm, true
	}
	return TimeMapping{}, false
}

// End stops the writers once they have written what is queued, tells every
// down track that the track ended and empties the cache. Run calls it when
// the publisher goes; a producer of its own calls it when done.
func (u *LocalUpTrack) End() {
	if u.ended.Swap(true) {
		return
	}
	u.fan.close()
	for _, d := range u.fan.all() {
		d.UpTrackEnded()
	}
	u.cache.Clear()
}

// Flush waits until every packet forwarded so far has been written to the
// down tracks.
func (u *LocalUpTrack) Flush() { u.fan.flush() }

// Stats is a snapshot of an up track's counters.
type Stats struct {
	Packets    uint64 `json:"packets"`
	Bytes      uint64 `json:"bytes"`
	BadPackets uint64 `json:"badPackets"`
	// Lost counts sequence numbers missing when a later one arrived (loss on
	// the network, before retransmission); Recovered counts those that came
	// late (a NACK's retransmission, or reordering). Lost − Recovered is the
	// loss left after recovery.
	Lost      uint64 `json:"lost"`
	Recovered uint64 `json:"recovered"`
	// Jitter is the interarrival jitter of the publisher's packets.
	Jitter time.Duration `json:"jitterNs"`
	// Dropped counts packets writer shards had no room for.
	Dropped uint64 `json:"dropped"`
	// PLIs counts keyframe requests sent to the publisher.
	PLIs uint64 `json:"plis"`
	// Bitrate is the received bitrate over the last half second, in bit/s.
	Bitrate uint64 `json:"bitrate"`
	// DownTracks is the number of consumers.
	DownTracks int `json:"downTracks"`
}

// Stats returns the track's counters.
func (u *LocalUpTrack) Stats() Stats {
	lost, rec := u.lost.Load(), u.recovered.Load()
	rec = min(rec, lost) // a duplicate is not a recovery
	return Stats{
		Packets: u.packets.Load(), Bytes: u.bytes.Load(), BadPackets: u.badPackets.Load(), Lost: lost, Recovered: rec,
		Jitter:  u.jitterDuration(),
		Dropped: u.fan.dropped(), PLIs: u.plis.Load(), Bitrate: u.bitrate.Load(), DownTracks: u.fan.count(),
	}
}

// jitterDuration is the jitter as a duration.
func (u *LocalUpTrack) jitterDuration() time.Duration {
	if u.codec.ClockRate == 0 {
		return 0
	}
	return time.Duration(uint64(u.jitterQ.Load()) * uint64(time.Second) / uint64(u.codec.ClockRate))
}
