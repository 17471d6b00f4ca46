package recorder

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// What repair reads of a cluster: its Timecode and its blocks' headers
// (track, relative time, keyframe flag), straight from the file through the
// walker's window, never the frames themselves.

// blockFacts is what cluster reads of one cluster's blocks.
type blockFacts struct {
	tick       int64
	blocks     int
	firstTrack uint64
	firstKey   bool
}

// cluster reads a complete cluster's Timecode and its blocks' headers (track,
// relative time, keyframe flag) without reading their frames, and returns the
// time of its last block in ticks.
func (w *walker) cluster(s Span) (blockFacts, int64, error) {
	var c blockFacts
	h, err := w.header(s.Offset, s.Offset+s.Size)
	if err != nil {
		return c, 0, fmt.Errorf("cluster at %d: %w", s.Offset, err)
	}
	var rels []int16
	end := s.Offset + s.Size
	for off := s.Offset + h.len; off < end; {
		ch, err := w.header(off, end)
		if err != nil {
			return c, 0, fmt.Errorf("cluster at %d: child at %d: %w", s.Offset, off, err)
		}
		if ch.unknown || ch.size > end-off-ch.len {
			return c, 0, fmt.Errorf("cluster at %d: child 0x%X at %d overruns it", s.Offset, ch.id, off)
		}
		body := off + ch.len
		switch ch.id {
		case idTimecode:
			if ch.size > 8 {
				return c, 0, fmt.Errorf("cluster at %d: Timecode of %d bytes", s.Offset, ch.size)
			}
			b, err := w.bytesAt(body, int(ch.size))
			if err != nil {
				return c, 0, err
			}
			c.tick = int64(min(beUint(b), math.MaxInt64/2))
		case idSimpleBlock:
			track, t, flags, err := w.blockHeader(body, ch.size)
			if err != nil {
				return c, 0, fmt.Errorf("cluster at %d: block at %d: %w", s.Offset, off, err)
			}
			c.note(track, flags&0x80 != 0)
			rels = append(rels, t)
		case idBlockGroup:
			var track uint64
			var t int16
			found, ref := false, false
			for g := body; g < body+ch.size; {
				gh, err := w.header(g, body+ch.size)
				if err != nil || gh.unknown || gh.size > body+ch.size-g-gh.len {
					return c, 0, fmt.Errorf("cluster at %d: block group at %d is malformed", s.Offset, off)
				}
				switch gh.id {
				case idBlock:
					if track, t, _, err = w.blockHeader(g+gh.len, gh.size); err != nil {
						return c, 0, fmt.Errorf("cluster at %d: block at %d: %w", s.Offset, g, err)
					}
					found = true
				case idReferenceBlock:
					ref = true
				}
				g += gh.len + gh.size
			}
			if found {
				c.note(track, !ref)
				rels = append(rels, t)
			}
		}
		off = body + ch.size
	}
	last := int64(math.MinInt64)
	for _, t := range rels {
		last = max(last, c.tick+int64(t))
	}
	return c, last, nil
}

func (c *blockFacts) note(track uint64, key bool) {
	if c.blocks == 0 {
		c.firstTrack, c.firstKey = track, key
	}
	c.blocks++
}

// blockHeader parses a (Simple)Block's header: the track number (a vint),
// the signed 16-bit time relative to the cluster, and the flags byte.
func (w *walker) blockHeader(off, size int64) (uint64, int16, byte, error) {
	b, err := w.bytesAt(off, int(min(size, 12)))
	if err != nil {
		return 0, 0, 0, err
	}
	if len(b) == 0 {
		return 0, 0, 0, errors.New("empty block")
	}
	n := vintLen(b[0])
	if n == 0 || len(b) < n+3 {
		return 0, 0, 0, errors.New("block header is cut or invalid")
	}
	track := uint64(b[0]) & (0xFF >> n)
	for _, x := range b[1:n] {
		track = track<<8 | uint64(x)
	}
	return track, int16(binary.BigEndian.Uint16(b[n:])), b[n+2], nil
}
