package recorder

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
)

// EBML and Matroska element IDs the walker needs (RFC 8794, RFC 9559). IDs
// keep their length-marker bits, as the specifications write them.
const (
	idEBML        = 0x1A45DFA3
	idSegment     = 0x18538067
	idCluster     = 0x1F43B675
	idCues        = 0x1C53BB6B
	idTags        = 0x1254C367
	idSeekHead    = 0x114D9B74
	idInfo        = 0x1549A966
	idTracks      = 0x1654AE6B
	idChapters    = 0x1043A770
	idAttachments = 0x1941A469
)

// Span is the byte range of one element in a file, header included: the
// hash chain covers exactly these bytes, so a span is what a cluster "is".
type Span struct{ Offset, Size int64 }

// endsCluster reports whether an element with this ID cannot be inside a
// Cluster, so that it ends an unknown-size one (RFC 8794 §6.2): the other
// Segment children and the top-level elements.
func endsCluster(id uint32) bool {
	switch id {
	case idCluster, idCues, idTags, idSeekHead, idInfo, idTracks, idChapters, idAttachments, idEBML, idSegment:
		return true
	}
	return false
}

// errCut marks an element whose header or body runs past the end of the
// file: a recording cut by kill -9, not a malformed one.
var errCut = errors.New("file ends inside an element")

// errRead marks a failure to read the file, as opposed to a file that reads
// but is malformed: Verify reports the first as an error, the second as an
// altered file.
var errRead = errors.New("read error")

// header is one parsed element header.
type header struct {
	id      uint32
	len     int64 // bytes of ID and size
	size    int64 // payload bytes; meaningless when unknown
	unknown bool  // size is all ones: the element runs to its parent's end
}

// walker reads element headers through a small window, so that scanning the
// many blocks of an unknown-size cluster costs one read per window, not one
// per block. Nothing it allocates depends on sizes read from the file.
type walker struct {
	r      io.ReaderAt
	size   int64
	buf    [8192]byte
	bufOff int64
	bufLen int
}

// bytesAt returns up to n (≤ 12) bytes at off, fewer at the end of the file.
func (w *walker) bytesAt(off int64, n int) ([]byte, error) {
	if off >= w.bufOff && off+int64(n) <= w.bufOff+int64(w.bufLen) {
		s := off - w.bufOff
		return w.buf[s : s+int64(n)], nil
	}
	want := int64(len(w.buf))
	if rest := w.size - off; rest < want {
		want = rest
	}
	got, err := w.r.ReadAt(w.buf[:want], off)
	if err != nil && !(errors.Is(err, io.EOF) && int64(got) == want) {
		w.bufLen = 0
		return nil, fmt.Errorf("%w at %d: %w", errRead, off, err)
	}
	w.bufOff, w.bufLen = off, got
	if got < n {
		n = got
	}
	return w.buf[:n], nil
}

// header parses the element header at off; the element must lie before end.
func (w *walker) header(off, end int64) (header, error) {
	var h header
	b, err := w.bytesAt(off, 12)
	if err != nil {
		return h, err
	}
	if int64(len(b)) > end-off {
		b = b[:end-off]
	}
	if len(b) == 0 {
		return h, errCut
	}
	idLen := vintLen(b[0])
	if idLen == 0 || idLen > 4 {
		return h, fmt.Errorf("element at %d: invalid ID first byte 0x%02x", off, b[0])
	}
	if len(b) < idLen {
		return h, errCut
	}
	for _, c := range b[:idLen] {
		h.id = h.id<<8 | uint32(c)
	}
	if data := h.id &^ (0x80 << (8 * (idLen - 1))); data == 0 || data == 1<<(7*idLen)-1 {
		return h, fmt.Errorf("element at %d: reserved ID 0x%X", off, h.id)
	}
	if len(b) == idLen {
		return h, errCut // h.id is set: enough to end an unknown-size cluster
	}
	sizeLen := vintLen(b[idLen])
	if sizeLen == 0 {
		return h, fmt.Errorf("element 0x%X at %d: invalid size first byte 0x00", h.id, off)
	}
	if len(b) < idLen+sizeLen {
		return h, errCut
	}
	v := uint64(b[idLen]) & (0xFF >> sizeLen)
	allOnes := v == 0xFF>>sizeLen
	for _, c := range b[idLen+1 : idLen+sizeLen] {
		v = v<<8 | uint64(c)
		allOnes = allOnes && c == 0xFF
	}
	h.len = int64(idLen + sizeLen)
	h.size = int64(v) // at most 2^56-1: always fits
	h.unknown = allOnes
	return h, nil
}

// vintLen is the length of a variable-size integer from its first byte
// (the count of leading zero bits plus one), 0 when the byte is zero.
func vintLen(b byte) int {
	for n := 1; n <= 8; n++ {
		if b&(0x80>>(n-1)) != 0 {
			return n
		}
	}
	return 0
}

// Clusters finds the complete Cluster elements of a WebM/Matroska file, in
// file order: the units the recording's hash chain is computed over. It walks
// the top level and every Segment (known or unknown size); a Cluster of
// unknown size (a live writer's) ends where the next Segment-level element
// starts. A file cut mid-element, as kill -9 leaves one, yields its complete
// clusters and no error. Malformed structure is an error, never a panic, and
// no allocation depends on a size read from the file.
func Clusters(r io.ReaderAt, size int64) ([]Span, error) {
	if size < 0 {
		return nil, fmt.Errorf("clusters: negative file size %d", size)
	}
	w := &walker{r: r, size: size}
	var spans []Span
	for off := int64(0); off < size; {
		h, err := w.header(off, size)
		if errors.Is(err, errCut) && off > 0 {
			return spans, nil
		}
		if err != nil {
			return spans, fmt.Errorf("clusters: top level: %w", err)
		}
		if off == 0 && h.id != idEBML {
			return nil, fmt.Errorf("clusters: not an EBML file (first element 0x%X)", h.id)
		}
		if h.id == idSegment {
			end, cut := size, true
			if !h.unknown && h.size <= size-off-h.len {
				end, cut = off+h.len+h.size, false
			}
			var next int64
			spans, next, err = w.segment(spans, off+h.len, end, cut, h.unknown)
			if err != nil || next < 0 {
				return spans, err
			}
			off = next
			continue
		}
		if h.unknown {
			return spans, fmt.Errorf("clusters: top-level element 0x%X at %d has unknown size", h.id, off)
		}
		if h.size > size-off-h.len {
			return spans, nil // cut inside a trailing element
		}
		off += h.len + h.size
	}
	return spans, nil
}

// segment appends the complete clusters among the children in [off, end)
// and returns where the top level resumes, or -1 when the file was cut. cut
// says end is the end of the file rather than the Segment's declared end, so
// an overrun is a truncation rather than an error.
func (w *walker) segment(spans []Span, off, end int64, cut, unknown bool) ([]Span, int64, error) {
	for off < end {
		h, err := w.header(off, end)
		if errors.Is(err, errCut) && cut {
			return spans, -1, nil
		}
		if err != nil {
			return spans, -1, fmt.Errorf("clusters: segment: %w", err)
		}
		if unknown && (h.id == idEBML || h.id == idSegment) {
			return spans, off, nil // a new stream starts: the unknown-size segment ends here
		}
		var elemEnd int64
		switch {
		case h.id == idCluster && h.unknown:
			e, complete, err := w.unknownCluster(off+h.len, end, cut)
			if err != nil {
				return spans, -1, fmt.Errorf("clusters: cluster at %d: %w", off, err)
			}
			if !complete {
				return spans, -1, nil
			}
			elemEnd = e
		case h.unknown:
			return spans, -1, fmt.Errorf("clusters: element 0x%X at %d has unknown size (only a Segment or Cluster may)", h.id, off)
		case h.size > end-off-h.len:
			if cut {
				return spans, -1, nil
			}
			return spans, -1, fmt.Errorf("clusters: element 0x%X at %d (%d bytes) overruns its segment ending at %d", h.id, off, h.size, end)
		default:
			elemEnd = off + h.len + h.size
		}
		if h.id == idCluster {
			spans = append(spans, Span{Offset: off, Size: elemEnd - off})
		}
		off = elemEnd
	}
	if cut {
		return spans, -1, nil
	}
	return spans, end, nil
}

// unknownCluster walks the children of an unknown-size cluster from off and
// returns where the cluster ends: at the first element that cannot be its
// child, or at end. complete is false when the file is cut inside a child.
func (w *walker) unknownCluster(off, end int64, cut bool) (clusterEnd int64, complete bool, err error) {
	for off < end {
		h, err := w.header(off, end)
		if errors.Is(err, errCut) && cut && h.id != 0 && endsCluster(h.id) {
			return off, true, nil // the next cluster's header is cut: this one is whole
		}
		if errors.Is(err, errCut) && cut {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, err
		}
		if endsCluster(h.id) {
			return off, true, nil
		}
		if h.unknown {
			return 0, false, fmt.Errorf("child 0x%X at %d has unknown size", h.id, off)
		}
		if h.size > end-off-h.len {
			if cut {
				return 0, false, nil
			}
			return 0, false, fmt.Errorf("child 0x%X at %d (%d bytes) overruns the segment ending at %d", h.id, off, h.size, end)
		}
		off += h.len + h.size
	}
	return end, true, nil
}

// FileInfo is what a recording's header says about it, for listing and
// repair: the duration (zero when the writer never finalized it) and the
// tracks.
type FileInfo struct {
	Duration time.Duration
	Tracks   []TrackInfo
}

// TrackInfo is one track of a recording, from its TrackEntry.
type TrackInfo struct {
	Number        uint64
	Type          string // "video", "audio" or the Matroska TrackType number
	Codec         string // Matroska CodecID: V_VP8, V_MPEG4/ISO/AVC, A_OPUS, …
	Width, Height int
}

// maxHeaderElement caps the Info or Tracks element Info reads into memory;
// real ones are a few hundred bytes (a codec private blob at most a few KB).
const maxHeaderElement = 1 << 20

// Info reads the Segment's Info and Tracks (those before its first Cluster).
func Info(r io.ReaderAt, size int64) (FileInfo, error) {
	var fi FileInfo
	w := &walker{r: r, size: size}
	off, end := int64(0), size
	inSegment := false
	for off < end {
		h, err := w.header(off, end)
		if err != nil {
			return fi, fmt.Errorf("info: %w", err)
		}
		if off == 0 && h.id != idEBML {
			return fi, fmt.Errorf("info: not an EBML file (first element 0x%X)", h.id)
		}
		if !inSegment && h.id == idSegment {
			inSegment, off = true, off+h.len
			if !h.unknown && h.size <= end-off {
				end = off + h.size
			}
			continue
		}
		if h.unknown || h.id == idCluster && inSegment {
			break
		}
		if h.size > end-off-h.len {
			return fi, fmt.Errorf("info: element 0x%X at %d: %w", h.id, off, errCut)
		}
		if inSegment && (h.id == idInfo || h.id == idTracks) {
			if h.size > maxHeaderElement {
				return fi, fmt.Errorf("info: element 0x%X at %d is %d bytes, more than %d", h.id, off, h.size, maxHeaderElement)
			}
			b := make([]byte, h.size)
			if _, err := r.ReadAt(b, off+h.len); err != nil {
				return fi, fmt.Errorf("info: %w at %d: %w", errRead, off, err)
			}
			if err := fi.parse(h.id, b); err != nil {
				return fi, fmt.Errorf("info: %w", err)
			}
		}
		off += h.len + h.size
	}
	return fi, nil
}

func (fi *FileInfo) parse(id uint32, b []byte) error {
	if id == idInfo {
		scale, dur := uint64(1_000_000), 0.0
		err := children(b, func(id uint32, v []byte) error {
			switch id {
			case 0x2AD7B1: // TimestampScale, ns per tick
				scale = beUint(v)
			case 0x4489: // Duration, in ticks
				switch len(v) {
				case 4:
					dur = float64(math.Float32frombits(uint32(beUint(v))))
				case 8:
					dur = math.Float64frombits(beUint(v))
				}
			}
			return nil
		})
		if d := dur * float64(scale); d > 0 && d < math.MaxInt64 {
			fi.Duration = time.Duration(d)
		}
		return err
	}
	return children(b, func(id uint32, entry []byte) error {
		if id != 0xAE { // TrackEntry
			return nil
		}
		var t TrackInfo
		err := children(entry, func(id uint32, v []byte) error {
			switch id {
			case 0xD7:
				t.Number = beUint(v)
			case 0x83:
				t.Type = map[uint64]string{1: "video", 2: "audio"}[beUint(v)]
				if t.Type == "" {
					t.Type = strconv.FormatUint(beUint(v), 10)
				}
			case 0x86:
				t.Codec = string(v)
			case 0xE0: // Video
				return children(v, func(id uint32, v []byte) error {
					switch id {
					case 0xB0:
						t.Width = int(min(beUint(v), math.MaxInt32))
					case 0xBA:
						t.Height = int(min(beUint(v), math.MaxInt32))
					}
					return nil
				})
			}
			return nil
		})
		fi.Tracks = append(fi.Tracks, t)
		return err
	})
}

// children calls fn with each child element of an in-memory master element.
func children(b []byte, fn func(id uint32, data []byte) error) error {
	w := &walker{r: bytes.NewReader(b), size: int64(len(b))}
	for off := int64(0); off < int64(len(b)); {
		h, err := w.header(off, int64(len(b)))
		if err != nil {
			return err
		}
		if h.unknown || h.size > int64(len(b))-off-h.len {
			return fmt.Errorf("element 0x%X at %d overruns its parent", h.id, off)
		}
		if err := fn(h.id, b[off+h.len:off+h.len+h.size]); err != nil {
			return err
		}
		off += h.len + h.size
	}
	return nil
}

// beUint decodes a big-endian unsigned integer of up to 8 bytes (the last 8
// of a longer one, which Matroska never writes).
func beUint(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}
