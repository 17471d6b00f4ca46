package recorder

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/at-wat/ebml-go"
	"github.com/at-wat/ebml-go/webm"
)

// Cluster policy: a new cluster starts at a video keyframe once the current
// one is a second old, and in any case every five seconds (a block's time is
// a signed 16-bit offset from its cluster's, so clusters must stay well
// under 32 s). A file cut by kill -9 loses at most the cluster being built.
const (
	clusterMinMs = 1000
	clusterMaxMs = 5000
)

// Track numbers in every file the recorder writes.
const (
	videoTrack = 1
	audioTrack = 2
)

// segmentUnknownSize is an 8-byte EBML size with every value bit set:
// "unknown", patched to the real size when the file is finalized.
var segmentUnknownSize = []byte{0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// ebml element ids written by hand (the Segment header) or searched for.
var (
	segmentID  = []byte{0x18, 0x53, 0x80, 0x67}
	idDuration = []byte{0x44, 0x89, 0x88} // Duration, with an 8-byte float size
)

// mkvWriter writes one Matroska (or WebM) file cluster by cluster: each
// cluster goes to disk whole as soon as it is complete, so the file plays up
// to its last cluster whatever happens to the process; close adds the cues,
// the duration and the segment size.
type mkvWriter struct {
	f         mkvFile
	pos       int64 // bytes written
	good      int64 // bytes written whole: the header and every complete cluster
	segSizeAt int64 // where the Segment's 8-byte size is
	segData   int64 // where the Segment's payload starts (cue positions count from here)
	durAt     int64 // where Info's Duration float is, or -1

	open       bool
	cluster    webm.Cluster
	clusterMs  int64
	clusterKey bool // the open cluster starts with a video keyframe
	hasVideo   bool
	cues       []webm.CuePoint
	lastMs     int64
	trackMs    map[uint64]int64 // each track's last frame time
	frames     uint64

	// onCluster sees every cluster's bytes as written (the hash chain).
	onCluster func([]byte)
}

// mkvFile is what the writer needs of a file (tests give it a small disk).
type mkvFile interface {
	Write(b []byte) (int, error)
	WriteAt(b []byte, off int64) (int, error)
	Truncate(size int64) error
	Sync() error
	Close() error
}

// createFile opens a new recording file.
var createFile = func(path string) (mkvFile, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
}

// trackInfo describes a track of a new file.
type trackInfo struct {
	video         bool
	codecID       string // V_VP8, V_MPEG4/ISO/AVC, A_OPUS
	private       []byte
	width, height int
}

// opusHead is the Opus identification header WebM carries as the audio
// track's CodecPrivate (RFC 7845 §5.1): version 1, two channels, the usual
// 312-sample pre-skip, 48 kHz, no gain, mapping family 0.
func opusHead() []byte {
	h := make([]byte, 19)
	copy(h, "OpusHead")
	h[8], h[9] = 1, 2
	binary.LittleEndian.PutUint16(h[10:], 312)
	binary.LittleEndian.PutUint32(h[12:], 48000)
	return h
}

// createMKV creates path and writes the EBML header, the Segment header,
// Info and Tracks. docType is "webm" or "matroska".
func createMKV(path, docType string, tracks []trackInfo, start time.Time, onCluster func([]byte)) (*mkvWriter, error) {
	f, err := createFile(path)
	if err != nil {
		return nil, fmt.Errorf("create recording %s: %w", path, err)
	}
	w := &mkvWriter{f: f, durAt: -1, onCluster: onCluster}
	var head bytes.Buffer
	hdr := struct {
		Header webm.EBMLHeader `ebml:"EBML"`
	}{webm.EBMLHeader{EBMLVersion: 1, EBMLReadVersion: 1, EBMLMaxIDLength: 4, EBMLMaxSizeLength: 8,
		DocType: docType, DocTypeVersion: 4, DocTypeReadVersion: 2}}
	if err := ebml.Marshal(&hdr, &head); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("recording header: %w", err)
	}
	head.Write(segmentID)
	w.segSizeAt = int64(head.Len())
	head.Write(segmentUnknownSize)
	w.segData = int64(head.Len())

	entries := make([]webm.TrackEntry, 0, len(tracks))
	for _, t := range tracks {
		e := webm.TrackEntry{CodecID: t.codecID, CodecPrivate: t.private}
		if t.video {
			e.Name, e.TrackNumber, e.TrackUID, e.TrackType = "video", videoTrack, 1001, 1
			e.Video = &webm.Video{PixelWidth: uint64(t.width), PixelHeight: uint64(t.height)}
			w.hasVideo = true
		} else {
			e.Name, e.TrackNumber, e.TrackUID, e.TrackType = "audio", audioTrack, 1002, 2
			e.CodecDelay, e.SeekPreRoll = 6_500_000, 80_000_000
			e.Audio = &webm.Audio{SamplingFrequency: 48000, Channels: 2}
		}
		entries = append(entries, e)
	}
	meta := struct {
		Info   webm.Info   `ebml:"Info"`
		Tracks webm.Tracks `ebml:"Tracks"`
	}{
		Info: webm.Info{TimecodeScale: 1_000_000, MuxingApp: "stoa", WritingApp: "stoa recorder",
			Duration: 1, DateUTC: start.UTC()},
		Tracks: webm.Tracks{TrackEntry: entries},
	}
	var body bytes.Buffer
	if err := ebml.Marshal(&meta, &body); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("recording tracks: %w", err)
	}
	if i := bytes.Index(body.Bytes(), idDuration); i >= 0 {
		w.durAt = int64(head.Len() + i + len(idDuration))
	}
	head.Write(body.Bytes())
	if err := w.write(head.Bytes()); err != nil {
		_ = f.Close()
		return nil, err
	}
	w.good = w.pos
	return w, nil
}

func (w *mkvWriter) write(b []byte) error {
	n, err := w.f.Write(b)
	w.pos += int64(n)
	if err != nil {
		return fmt.Errorf("write recording: %w", err)
	}
	return nil
}

// writeFrame adds one frame at ms (milliseconds from the file's start). The
// writer keeps data (it must not change) until the cluster is written.
func (w *mkvWriter) writeFrame(track uint64, ms int64, key bool, data []byte) error {
	// Each track's timestamps strictly increase (frames reach the writer in
	// time order per track, so this only smooths a millisecond's rounding).
	if last, ok := w.trackMs[track]; ok && ms <= last {
		ms = last + 1
	}
	if w.open && ms < w.clusterMs-1000 {
		ms = w.clusterMs - 1000 // a block may lie a little before its cluster, not far
	}
	if w.trackMs == nil {
		w.trackMs = map[uint64]int64{}
	}
	w.trackMs[track] = ms
	age := ms - w.clusterMs
	videoKey := track == videoTrack && key
	if !w.open || age >= clusterMaxMs || (videoKey && age >= clusterMinMs) || (!w.hasVideo && age >= clusterMinMs) {
		if err := w.flushCluster(); err != nil {
			return err
		}
		w.open, w.clusterMs, w.clusterKey = true, ms, videoKey
		w.cluster = webm.Cluster{Timecode: uint64(ms)}
	}
	w.cluster.SimpleBlock = append(w.cluster.SimpleBlock, ebml.Block{
		TrackNumber: track, Timecode: int16(ms - w.clusterMs), Keyframe: key,
		Data: [][]byte{data}, // the writer keeps data until the cluster is written
	})
	w.lastMs = max(w.lastMs, ms)
	w.frames++
	return nil
}

// flushCluster writes the open cluster, whole, and notes its cue.
func (w *mkvWriter) flushCluster() error {
	if !w.open || len(w.cluster.SimpleBlock) == 0 {
		return nil
	}
	var buf bytes.Buffer
	c := struct {
		Cluster webm.Cluster `ebml:"Cluster"`
	}{w.cluster}
	if err := ebml.Marshal(&c, &buf); err != nil {
		return fmt.Errorf("recording cluster: %w", err)
	}
	at := w.pos - w.segData
	if err := w.write(buf.Bytes()); err != nil {
		return err
	}
	w.good = w.pos
	if w.clusterKey || !w.hasVideo {
		track := uint64(videoTrack)
		if !w.hasVideo {
			track = audioTrack
		}
		w.cues = append(w.cues, webm.CuePoint{CueTime: uint64(w.clusterMs),
			CueTrackPositions: []webm.CueTrackPosition{{CueTrack: track, CueClusterPosition: uint64(at)}}})
	}
	if w.onCluster != nil {
		w.onCluster(buf.Bytes())
	}
	w.open = false
	w.cluster = webm.Cluster{}
	return nil
}

// durationMs is the file's duration so far.
func (w *mkvWriter) durationMs() int64 { return w.lastMs }

// errClosed says the writer was finalized already.
var errClosed = errors.New("recording file closed")

// close writes the last cluster and the cues, patches the duration and the
// segment size, and syncs the file to disk.
func (w *mkvWriter) close() error {
	if w.f == nil {
		return errClosed
	}
	err := w.flushCluster()
	if err == nil && len(w.cues) > 0 {
		var buf bytes.Buffer
		cues := struct {
			Cues webm.Cues `ebml:"Cues"`
		}{webm.Cues{CuePoint: w.cues}}
		if err = ebml.Marshal(&cues, &buf); err == nil {
			err = w.write(buf.Bytes())
		}
		if err == nil {
			w.good = w.pos
		}
	}
	if err == nil {
		err = w.patch()
	}
	if err == nil {
		err = w.f.Sync()
	}
	if err != nil {
		w.abort() // what was written whole stays playable
		return fmt.Errorf("finalize recording: %w", err)
	}
	if err := w.f.Close(); err != nil {
		w.f = nil
		return fmt.Errorf("finalize recording: %w", err)
	}
	w.f = nil
	return nil
}

// abort ends the file after a write failed (a full disk): it cuts a
// half-written cluster off and patches the duration and segment size in
// place, which needs no more space, so every cluster written plays.
func (w *mkvWriter) abort() {
	if w.f == nil {
		return
	}
	if w.pos != w.good {
		if w.f.Truncate(w.good) == nil {
			w.pos = w.good
		}
	}
	if w.pos == w.good {
		w.patch()
	}
	_ = w.f.Close()
	w.f = nil
}

// patch writes the duration and the segment size over their placeholders.
func (w *mkvWriter) patch() error {
	if w.durAt >= 0 {
		var d [8]byte
		binary.BigEndian.PutUint64(d[:], math.Float64bits(float64(w.lastMs)))
		if _, err := w.f.WriteAt(d[:], w.durAt); err != nil {
			return err
		}
	}
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], uint64(w.pos-w.segData)|1<<56)
	_, err := w.f.WriteAt(s[:], w.segSizeAt)
	return err
}
