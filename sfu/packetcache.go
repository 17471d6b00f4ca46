package sfu

import "sync"

// maxPacketSize bounds what the cache keeps; RTP over UDP with the usual MTU
// never comes close.
const maxPacketSize = 1500

// PacketCache keeps the most recent packets of one up track, indexed by RTP
// sequence number, so a NACK from any subscriber is answered from one shared
// copy instead of one buffer per subscriber. Fixed size: no allocation after
// construction.
type PacketCache struct {
	mu    sync.Mutex
	slots []cacheSlot
}

type cacheSlot struct {
	seq   uint16
	n     int
	valid bool
	buf   [maxPacketSize]byte
}

// NewPacketCache makes a cache of size slots; size should be a power of two.
func NewPacketCache(size int) *PacketCache {
	return &PacketCache{slots: make([]cacheSlot, size)}
}

// Store copies pkt (a whole RTP packet) into the slot for seq. Packets larger
// than maxPacketSize are not cached.
func (c *PacketCache) Store(seq uint16, pkt []byte) {
	if len(pkt) > maxPacketSize {
		return
	}
	c.mu.Lock()
	s := &c.slots[int(seq)%len(c.slots)]
	s.seq, s.valid = seq, true
	s.n = copy(s.buf[:], pkt)
	c.mu.Unlock()
}

// Copy copies the packet with sequence number seq into dst and returns its
// length, or 0 when it is not cached (overwritten or never seen).
func (c *PacketCache) Copy(seq uint16, dst []byte) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.slots[int(seq)%len(c.slots)]
	if !s.valid || s.seq != seq || len(dst) < s.n {
		return 0
	}
	return copy(dst, s.buf[:s.n])
}
