package recorder

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/at-wat/ebml-go"
	"github.com/at-wat/ebml-go/webm"
)

// Element IDs repair reads inside a Segment and its clusters.
const (
	idTimecode       = 0xE7
	idSimpleBlock    = 0xA3
	idBlockGroup     = 0xA0
	idBlock          = 0xA1
	idReferenceBlock = 0xFB
	idDurationElem   = 0x4489
	idVoid           = 0xEC
)

// RepairResult says what RepairFile did.
type RepairResult struct {
	// Path is the repaired file, ManifestPath its signed manifest ("" when
	// no key was given).
	Path, ManifestPath string
	// Clusters is the number of complete clusters kept, Cues the cue points
	// written, TailBytes the bytes dropped after the last complete cluster
	// (a cluster cut by kill -9; for a finalized file, its old cues).
	Clusters, Cues int
	TailBytes      int64
	// Duration is the time of the last block kept.
	Duration time.Duration
	// OriginalFinal is the hash chain's final value (hex) over the
	// original's complete clusters: the repaired file's clusters are the
	// same bytes, so its chain ends on the same value.
	OriginalFinal string
}

// RepairedPath is where RepairFile writes the repaired copy of path:
// NAME.repaired.EXT beside NAME.EXT.
func RepairedPath(path string) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + ".repaired" + ext
}

// RepairFile rewrites a recording cut by kill -9 (a Segment of unknown size, no
// Cues, the placeholder Duration, perhaps a truncated last cluster) into a
// finalized copy at RepairedPath(path): the same header, Info with the real
// Duration (the last block's time), the complete clusters byte for byte, and
// Cues (one per cluster that starts with a video keyframe, or per cluster for
// a file without video), under a Segment of known size. The original is
// left untouched as evidence, and an existing repaired copy is never
// overwritten. A SeekHead before the first cluster is dropped (its positions
// would be stale), as is anything after the last complete cluster; a file
// holding more than one Segment is repaired from its first.
//
// With a key, RepairFile also writes the repaired copy's signed manifest, whose
// Repair entry records the original's chain and what was dropped; Room, UID,
// tags, recording id and counters come from the original's manifest when
// there is one, the codecs, size, start and duration from the file.
func RepairFile(path string, key ed25519.PrivateKey) (RepairResult, error) {
	var res RepairResult
	f, err := os.Open(path)
	if err != nil {
		return res, fmt.Errorf("repair: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return res, fmt.Errorf("repair: %w", err)
	}
	plan, err := planRepair(f, st.Size())
	if err != nil {
		return res, fmt.Errorf("repair %s: %w", path, err)
	}
	out := RepairedPath(path)
	if err := writeRepaired(out, f, plan); err != nil {
		return res, fmt.Errorf("repair %s: %w", path, err)
	}
	res = RepairResult{Path: out, Clusters: len(plan.spans), Cues: len(plan.cues), TailBytes: plan.tail,
		Duration: time.Duration(float64(plan.lastTick) * float64(plan.scale)), OriginalFinal: plan.final}
	if key == nil {
		return res, nil
	}
	m, err := repairManifest(path, out, plan, res)
	if err != nil {
		return res, fmt.Errorf("repair %s: %w", path, err)
	}
	if err := m.Sign(key); err != nil {
		return res, fmt.Errorf("repair %s: %w", path, err)
	}
	res.ManifestPath = ManifestPath(out)
	if err := WriteManifest(res.ManifestPath, m); err != nil {
		return res, fmt.Errorf("repair %s: %w", path, err)
	}
	return res, nil
}

// repairPlan is what the original holds and what the copy will be made of.
type repairPlan struct {
	head     Span   // EBML header and anything before the Segment, copied as is
	pre      []Span // Segment children before the first cluster, copied (Info rebuilt)
	info     []byte // Info's payload, when there is one
	spans    []Span // complete clusters
	clusters []clusterFacts
	cues     []webm.CuePoint // positions filled when the copy is laid out
	scale    int64           // ns per tick
	lastTick int64           // the last block's time, in ticks
	tail     int64
	final    string
	fi       FileInfo
}

// clusterFacts is what repair needs of one cluster.
type clusterFacts struct {
	tick     int64 // Timecode
	firstKey bool  // the first block is a keyframe of a video track
	blocks   int
}

func planRepair(r io.ReaderAt, size int64) (*repairPlan, error) {
	p := &repairPlan{scale: 1_000_000}
	spans, err := Clusters(r, size)
	if err != nil {
		return nil, err
	}
	fi, err := Info(r, size)
	if err != nil {
		return nil, err
	}
	p.fi = fi
	w := &walker{r: r, size: size}
	// The top level up to the first Segment.
	off := int64(0)
	var seg header
	for {
		h, err := w.header(off, size)
		if err != nil {
			return nil, fmt.Errorf("looking for the Segment: %w", err)
		}
		if h.id == idSegment {
			seg = h
			break
		}
		if h.unknown || h.size > size-off-h.len {
			return nil, fmt.Errorf("element 0x%X at %d before the Segment is cut or of unknown size", h.id, off)
		}
		off += h.len + h.size
	}
	p.head = Span{0, off}
	segData, segEnd := off+seg.len, size
	if !seg.unknown && seg.size <= size-segData {
		segEnd = segData + seg.size
	}
	for _, s := range spans {
		if s.Offset >= segData && s.Offset+s.Size <= segEnd {
			p.spans = append(p.spans, s)
		}
	}
	if len(p.spans) == 0 {
		return nil, errors.New("no complete cluster: nothing to keep")
	}
	// The Segment's children before the first cluster.
	video := map[uint64]bool{}
	for _, t := range fi.Tracks {
		video[t.Number] = t.Type == "video"
	}
	for off = segData; off < p.spans[0].Offset; {
		h, err := w.header(off, p.spans[0].Offset)
		if err != nil {
			return nil, fmt.Errorf("segment header: %w", err)
		}
		if h.unknown || h.size > p.spans[0].Offset-off-h.len {
			return nil, fmt.Errorf("segment child 0x%X at %d overruns the first cluster", h.id, off)
		}
		switch h.id {
		case idSeekHead, idCues, idVoid:
			// stale positions or padding: dropped
		case idInfo:
			if h.size > maxHeaderElement {
				return nil, fmt.Errorf("Info at %d is %d bytes, more than %d", off, h.size, maxHeaderElement)
			}
			p.info = make([]byte, h.size)
			if _, err := r.ReadAt(p.info, off+h.len); err != nil {
				return nil, fmt.Errorf("%w: Info at %d: %w", errRead, off, err)
			}
			if err := children(p.info, func(id uint32, v []byte) error {
				if id == 0x2AD7B1 && len(v) > 0 && len(v) <= 8 {
					p.scale = int64(min(beUint(v), math.MaxInt32))
				}
				return nil
			}); err != nil {
				return nil, fmt.Errorf("Info: %w", err)
			}
			p.pre = append(p.pre, Span{off, -1}) // -1: the rebuilt Info goes here
		default:
			p.pre = append(p.pre, Span{off, h.len + h.size})
		}
		off += h.len + h.size
	}
	if p.scale <= 0 {
		p.scale = 1_000_000
	}
	hasVideo := false
	for _, v := range video {
		hasVideo = hasVideo || v
	}
	chain := NewChain()
	p.lastTick = math.MinInt64
	buf := make([]byte, 64<<10)
	for _, s := range p.spans {
		c, last, err := w.cluster(s)
		if err != nil {
			return nil, err
		}
		p.clusters = append(p.clusters, clusterFacts{tick: c.tick, firstKey: video[c.firstTrack] && c.firstKey, blocks: c.blocks})
		if c.blocks > 0 {
			p.lastTick = max(p.lastTick, last)
		}
		d, err := digest(r, s, buf)
		if err != nil {
			return nil, err
		}
		chain.AddDigest(d)
	}
	if p.lastTick == math.MinInt64 {
		p.lastTick = 0
	}
	for i, c := range p.clusters {
		track := uint64(0)
		for _, t := range fi.Tracks {
			if (hasVideo && t.Type == "video") || (!hasVideo && t.Type == "audio") {
				track = t.Number
				break
			}
		}
		if track != 0 && c.blocks > 0 && (c.firstKey || !hasVideo) && c.tick >= 0 {
			p.cues = append(p.cues, webm.CuePoint{CueTime: uint64(c.tick),
				CueTrackPositions: []webm.CueTrackPosition{{CueTrack: track, CueClusterPosition: uint64(i)}}}) // index for now
		}
	}
	last := p.spans[len(p.spans)-1]
	p.tail = max(0, min(segEnd, size)-(last.Offset+last.Size))
	fin := chain.Final()
	p.final = hex.EncodeToString(fin[:])
	return p, nil
}

func digest(r io.ReaderAt, s Span, buf []byte) ([32]byte, error) {
	h := sha256.New()
	if _, err := io.CopyBuffer(h, io.NewSectionReader(r, s.Offset, s.Size), buf); err != nil {
		return [32]byte{}, fmt.Errorf("%w: cluster at %d: %w", errRead, s.Offset, err)
	}
	return [32]byte(h.Sum(nil)), nil
}

// writeRepaired lays the copy out and writes it to a temporary file beside
// out, fsynced and linked into place only when whole (never over an
// existing file).
func writeRepaired(out string, r io.ReaderAt, p *repairPlan) error {
	if _, err := os.Lstat(out); err == nil {
		return fmt.Errorf("%s already exists: remove it to repair again: %w", out, fs.ErrExist)
	}
	info := rebuildInfo(p.info, float64(p.lastTick))
	// Cluster positions, relative to the Segment's payload.
	pos := int64(0)
	for _, s := range p.pre {
		if s.Size < 0 {
			pos += int64(len(info))
		} else {
			pos += s.Size
		}
	}
	clusterPos := make([]int64, len(p.spans))
	for i, s := range p.spans {
		clusterPos[i] = pos
		pos += s.Size
	}
	var cues bytes.Buffer
	if len(p.cues) > 0 {
		for i := range p.cues {
			tp := &p.cues[i].CueTrackPositions[0]
			tp.CueClusterPosition = uint64(clusterPos[tp.CueClusterPosition])
		}
		c := struct {
			Cues webm.Cues `ebml:"Cues"`
		}{webm.Cues{CuePoint: p.cues}}
		if err := ebml.Marshal(&c, &cues); err != nil {
			return fmt.Errorf("encode cues: %w", err)
		}
	}
	segSize := pos + int64(cues.Len())

	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create %s: %w", out, err)
	}
	defer os.Remove(tmp.Name()) // harmless once linked
	werr := func() error {
		buf := make([]byte, 64<<10)
		copySpan := func(s Span) error {
			if _, err := io.CopyBuffer(tmp, io.NewSectionReader(r, s.Offset, s.Size), buf); err != nil {
				return fmt.Errorf("copy bytes %d-%d: %w", s.Offset, s.Offset+s.Size, err)
			}
			return nil
		}
		if err := copySpan(p.head); err != nil {
			return err
		}
		var segHead [12]byte
		copy(segHead[:], segmentID)
		binary.BigEndian.PutUint64(segHead[4:], uint64(segSize)|1<<56)
		if _, err := tmp.Write(segHead[:]); err != nil {
			return err
		}
		for _, s := range p.pre {
			if s.Size < 0 {
				_, err = tmp.Write(info)
			} else {
				err = copySpan(s)
			}
			if err != nil {
				return err
			}
		}
		for _, s := range p.spans {
			if err := copySpan(s); err != nil {
				return err
			}
		}
		if _, err := tmp.Write(cues.Bytes()); err != nil {
			return err
		}
		return tmp.Sync()
	}()
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("write %s: %w", out, werr)
	}
	if err := os.Link(tmp.Name(), out); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	return syncDir(filepath.Dir(out))
}

// rebuildInfo returns the Info element with its children kept in order but
// Duration (an 8-byte float, in ticks) replaced, or added when missing.
func rebuildInfo(payload []byte, ticks float64) []byte {
	var body bytes.Buffer
	var dur [11]byte
	copy(dur[:], idDuration)
	binary.BigEndian.PutUint64(dur[3:], math.Float64bits(ticks))
	put := false
	w := &walker{r: bytes.NewReader(payload), size: int64(len(payload))}
	for off := int64(0); off < int64(len(payload)); {
		h, err := w.header(off, int64(len(payload)))
		if err != nil {
			break // planRepair checked the children: not reached
		}
		elem := payload[off : off+h.len+h.size]
		if h.id == idDurationElem {
			elem, put = dur[:], true
		}
		body.Write(elem)
		off += h.len + h.size
	}
	if !put {
		body.Write(dur[:])
	}
	var out bytes.Buffer
	out.Write([]byte{0x15, 0x49, 0xA9, 0x66})
	var size [8]byte
	binary.BigEndian.PutUint64(size[:], uint64(body.Len())|1<<56)
	out.Write(size[:])
	out.Write(body.Bytes())
	return out.Bytes()
}

// repairManifest describes the repaired copy: the facts of the file, the
// original's manifest's who and why when there is one, and the repair.
func repairManifest(orig, out string, p *repairPlan, res RepairResult) (*Manifest, error) {
	m := &Manifest{}
	old, err := ReadManifest(ManifestPath(orig))
	switch {
	case err == nil:
		m.Room, m.UID, m.Tags, m.RecordingID, m.Part, m.Counters = old.Room, old.UID, old.Tags, old.RecordingID, old.Part, old.Counters
		m.Start = old.Start
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	m.Version, m.File = ManifestVersion, filepath.Base(out)
	for _, t := range p.fi.Tracks {
		codec := strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(t.Codec, "V_"), "A_"))
		if codec == "mpeg4/iso/avc" {
			codec = "h264"
		}
		switch t.Type {
		case "video":
			m.VideoCodec, m.Width, m.Height = codec, t.Width, t.Height
		case "audio":
			m.AudioCodec = codec
		}
	}
	m.DurationMS = res.Duration.Milliseconds()
	if m.Start.IsZero() {
		m.Start = p.dateUTC()
	}
	if !m.Start.IsZero() {
		m.End = m.Start.Add(res.Duration)
	}
	note := fmt.Sprintf("repaired after an unclean stop: %d clusters kept, truncated tail of %d bytes dropped", res.Clusters, res.TailBytes)
	if old != nil && old.FinalHash != p.final {
		note += fmt.Sprintf("; the original's manifest signed final hash %s", old.FinalHash)
	}
	m.Repair = &Repair{OfFinalHash: p.final, At: time.Now().UTC(), Note: note}
	fh, err := HashFile(out)
	if err != nil {
		return nil, err
	}
	m.SetHashes(fh)
	return m, nil
}

// dateUTC is Info's DateUTC (nanoseconds since 2001-01-01), zero if absent.
func (p *repairPlan) dateUTC() time.Time {
	var t time.Time
	_ = children(p.info, func(id uint32, v []byte) error {
		if id == 0x4461 && len(v) == 8 {
			t = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(int64(beUint(v))))
		}
		return nil
	})
	return t
}
