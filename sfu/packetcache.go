package sfu

import "sync"

// maxPacketSize bounds what the cache keeps; RTP over UDP with the usual MTU
// never comes close.
const maxPacketSize = 1500

// PacketCache keeps the most recent packets of one up track, indexed by RTP
// sequence number, so a NACK from any subscriber is answered from one shared
// copy, and a new subscriber can start from the newest cached keyframe. The
// slots hold references to the forwarded packets themselves: storing copies
// nothing and, once the ring is full, allocates nothing.
type PacketCache struct {
	mu    sync.Mutex
	slots []*Packet
	// key is the sequence number of the newest keyframe's first packet;
	// hasKey says whether that packet is still in its slot.
	key    uint16
	hasKey bool
}

// NewPacketCache makes a cache of size slots; size should be a power of two.
func NewPacketCache(size int) *PacketCache {
	return &PacketCache{slots: make([]*Packet, size)}
}

// Size is the number of slots.
func (c *PacketCache) Size() int { return len(c.slots) }

// Store keeps a reference to p in the slot for its sequence number,
// releasing the packet it replaces.
func (c *PacketCache) Store(p *Packet) {
	p.Retain()
	seq := p.SequenceNumber
	c.mu.Lock()
	i := int(seq) % len(c.slots)
	old := c.slots[i]
	c.slots[i] = p
	if p.Keyframe {
		c.key, c.hasKey = seq, true
	} else if c.hasKey && int(c.key)%len(c.slots) == i {
		c.hasKey = false // the keyframe's first packet was overwritten
	}
	c.mu.Unlock()
	if old != nil {
		old.Release()
	}
}

// Get returns the cached packet with sequence number seq with a reference
// the caller must Release, or nil.
func (c *PacketCache) Get(seq uint16) *Packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.slots[int(seq)%len(c.slots)]
	if p == nil || p.SequenceNumber != seq {
		return nil
	}
	p.Retain()
	return p
}

// Copy copies the packet with sequence number seq into dst and returns its
// length, or 0 when it is not cached (overwritten or never seen).
func (c *PacketCache) Copy(seq uint16, dst []byte) int {
	p := c.Get(seq)
	if p == nil {
		return 0
	}
	defer p.Release()
	if len(dst) < p.n {
		return 0
	}
	return copy(dst, p.Raw())
}

// LastKeyframe is the sequence number of the newest cached keyframe's first
// packet.
func (c *PacketCache) LastKeyframe() (uint16, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.key, c.hasKey
}

// Clear releases every cached packet.
func (c *PacketCache) Clear() {
	c.mu.Lock()
	old := c.slots
	c.slots = make([]*Packet, len(old))
	c.hasKey = false
	c.mu.Unlock()
	for _, p := range old {
		if p != nil {
			p.Release()
		}
	}
}
