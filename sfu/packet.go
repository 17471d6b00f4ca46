package sfu

import (
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
)

// Packet is one RTP packet of an up track as consumers see it: parsed once
// by the up track's reader, shared by reference (the cache, the writer
// shards, buffered consumers) and returned to a pool when the last holder
// releases it, so forwarding copies and allocates nothing per packet.
type Packet struct {
	// Packet is the parsed header; Payload aliases the packet's own buffer.
	rtp.Packet
	// Arrival is when the packet was read, in Unix nanoseconds.
	Arrival int64
	// Keyframe says a decoder can start at this packet: the first packet of
	// a video keyframe, or any audio packet.
	Keyframe bool
	// Layer is the simulcast layer the packet belongs to, 0 the lowest (0
	// when the publisher does not simulcast).
	Layer int8

	n    int
	buf  [maxPacketSize]byte
	refs atomic.Int32
	// barrier, when set, marks a flush marker rather than media.
	barrier chan struct{}
}

var packetPool = sync.Pool{New: func() any { return new(Packet) }}

// newPacket takes a packet from the pool holding one reference.
func newPacket() *Packet {
	p := packetPool.Get().(*Packet)
	p.refs.Store(1)
	p.barrier = nil
	return p
}

// Raw is the whole packet as received, header included.
func (p *Packet) Raw() []byte { return p.buf[:p.n] }

// Retain takes another reference: the holder may keep p until its Release.
func (p *Packet) Retain() { p.refs.Add(1) }

// Release gives a reference back; the last one returns p to the pool.
func (p *Packet) Release() {
	if p.refs.Add(-1) == 0 {
		packetPool.Put(p)
	}
}

// parse reads the n bytes in buf as RTP; it fails on anything else.
func (p *Packet) parse(n int) error {
	p.n = n
	return p.Unmarshal(p.buf[:n])
}
