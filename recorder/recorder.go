// Package recorder records a participant's published media, in process, as
// WebM (VP8 + Opus) or Matroska (H264 + Opus) files: each up track is a
// down track on the sfu's seam behind its own bounded queue, packets are put
// back in order and depacketized, frames are stamped with the publisher's
// wall clock from its sender reports, and the file is written cluster by
// cluster so that it plays up to its last cluster whatever happens.
package recorder

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/stoa-video/stoa/sfu"
)

// queueSize bounds what waits between the fanout and a track's recorder:
// about 2 s of 360p video. Past it the fanout drops (counted) rather than
// wait, and the recorder resumes at the next keyframe.
const queueSize = 512

// Frames are written in time order across the tracks: a frame waits while
// another track that is still busy (packets queued, or held in its jitter
// buffer waiting for a retransmission) has not reached its time. A silent
// track (DTX, a muted microphone) holds nothing up, and nothing waits longer
// than muxMax, which bounds the memory a stuck track can cost.
const muxMax = 10 * time.Second

// Options describe a recording.
type Options struct {
	// ID names the recording; files are ID.webm (or .mkv), ID.part2.webm, ….
	ID string
	// Dir is where the files go.
	Dir string
	// Room, UID and Tags say whose recording it is (the manifest records them).
	Room, UID string
	Tags      []string
	Log       *slog.Logger
	// OnFailed is told when the recording stops on an error (a full disk);
	// the call goes on.
	OnFailed func(error)
	// FirstPart numbers this Recording's first file: a recording that goes
	// on after its participant published again (another codec or camera)
	// continues its numbering. 0 means 1.
	FirstPart int
}

// Part is one file of a recording: a new one starts when the codec or the
// resolution changes.
type Part struct {
	Path          string
	Start, End    time.Time
	VideoCodec    string
	AudioCodec    string
	Width, Height int
	DurationMs    int64
	Frames        uint64
}

// Recording is one participant's recording in progress.
type Recording struct {
	opts   Options
	tracks []*trackRecorder
	bufs   []*sfu.Buffered
	ups    []sfu.UpTrack
	video  sfu.UpTrack
	audio  sfu.UpTrack

	mu      sync.Mutex
	queue   []frame
	marks   []time.Time // how far each track has got
	newest  time.Time
	file    *mkvWriter
	part    Part
	parts   []Part
	start   time.Time // the current part's time zero
	failed  error
	stopped bool
}

// Start attaches a recording to a participant's up tracks (one video, one
// audio at most). Nothing is written until the first keyframe (or, without
// video, the first audio packet).
func Start(ups []sfu.UpTrack, o Options) (*Recording, error) {
	if o.ID == "" || o.Dir == "" {
		return nil, errors.New("recording: an id and a directory are needed")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	r := &Recording{opts: o}
	for _, up := range ups {
		switch up.Kind().String() {
		case "video":
			if r.video == nil {
				r.video = up
			}
		case "audio":
			if r.audio == nil {
				r.audio = up
			}
		}
	}
	if r.video == nil && r.audio == nil {
		return nil, errors.New("recording: the participant publishes nothing")
	}
	for _, up := range []sfu.UpTrack{r.video, r.audio} {
		if up == nil {
			continue
		}
		t := newTrackRecorder(up, len(r.tracks), r.take, r.mark)
		b := sfu.NewBuffered(t, queueSize)
		r.tracks, r.bufs, r.ups = append(r.tracks, t), append(r.bufs, b), append(r.ups, up)
	}
	r.marks = make([]time.Time, len(r.tracks))
	for i, up := range r.ups { // attached once the recording is whole: packets flow from here on
		up.AddDownTrack(r.bufs[i])
	}
	if r.video != nil {
		r.video.RequestKeyframe()
	}
	return r, nil
}

// take receives a frame from a track's goroutine and writes out, in time
// order, every queued frame that is ready.
func (r *Recording) take(f frame) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped || r.failed != nil {
		return
	}
	f.data = append([]byte(nil), f.data...)
	i := sort.Search(len(r.queue), func(i int) bool { return r.queue[i].at.After(f.at) })
	r.queue = append(r.queue, frame{})
	copy(r.queue[i+1:], r.queue[i:])
	r.queue[i] = f
	if f.at.After(r.newest) {
		r.newest = f.at
	}
	r.advance(f.track, f.at)
}

// mark records that track i has handled everything up to at (a frame it
// dropped, too) and writes what that makes ready.
func (r *Recording) mark(i int, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.stopped && r.failed == nil {
		r.advance(i, at)
	}
}

func (r *Recording) advance(i int, at time.Time) {
	if at.After(r.marks[i]) {
		r.marks[i] = at
	}
	r.writeQueued(false)
}

// ready says whether f can be written: no other busy track is behind it.
func (r *Recording) ready(f frame) bool {
	if r.newest.Sub(f.at) > muxMax {
		return true
	}
	for k, t := range r.tracks {
		if k != f.track && r.marks[k].Before(f.at) && (r.bufs[k].Queued() > 0 || t.holding.Load()) {
			return false
		}
	}
	return true
}

// writeQueued writes the queued frames that are ready (all of them when all).
func (r *Recording) writeQueued(all bool) {
	n := 0
	for _, f := range r.queue {
		if !all && !r.ready(f) {
			break
		}
		n++
		if err := r.write(f); err != nil {
			r.fail(err)
			break
		}
	}
	r.queue = append(r.queue[:0], r.queue[n:]...)
}

// write puts one frame in the current part, opening a part at the first
// keyframe and a new one when the video's codec or size changes.
func (r *Recording) write(f frame) error {
	if r.failed != nil {
		return r.failed
	}
	if f.video && f.key && r.file != nil && (f.width != r.part.Width || f.height != r.part.Height) {
		if err := r.closePart(); err != nil {
			return err
		}
	}
	if r.file == nil {
		if r.video != nil && !(f.video && f.key) {
			return nil // a file starts at a keyframe; audio before it has nothing to play against
		}
		if err := r.openPart(f); err != nil {
			return err
		}
	}
	ms := f.at.Sub(r.start).Milliseconds()
	if ms < 0 {
		ms = 0
	}
	track := uint64(audioTrack)
	if f.video {
		track = videoTrack
	}
	if err := r.file.writeFrame(track, ms, f.key, f.data); err != nil {
		return err
	}
	r.part.End = f.at
	return nil
}

func (r *Recording) openPart(f frame) error {
	n := max(r.opts.FirstPart, 1) + len(r.parts)
	p := Part{Start: f.at, Width: f.width, Height: f.height}
	var tracks []trackInfo
	docType, ext := "webm", ".webm"
	if r.video != nil {
		vt := trackInfo{video: true, width: f.width, height: f.height}
		switch r.tracks[0].codec {
		case "vp8":
			vt.codecID, p.VideoCodec = "V_VP8", "vp8"
		case "h264":
			vt.codecID, vt.private, p.VideoCodec = "V_MPEG4/ISO/AVC", avcC(f.sps, f.pps), "h264"
			docType, ext = "matroska", ".mkv"
		default:
			return fmt.Errorf("record %s: no container for codec %s", r.opts.UID, r.tracks[0].codec)
		}
		tracks = append(tracks, vt)
	}
	if r.audio != nil {
		tracks = append(tracks, trackInfo{codecID: "A_OPUS", private: opusHead()})
		p.AudioCodec = "opus"
	}
	name := r.opts.ID + ext
	if n > 1 {
		name = fmt.Sprintf("%s.part%d%s", r.opts.ID, n, ext)
	}
	p.Path = filepath.Join(r.opts.Dir, name)
	w, err := createMKV(p.Path, docType, tracks, f.at, nil)
	if err != nil {
		return err
	}
	r.file, r.part, r.start = w, p, f.at
	r.opts.Log.Info("recording part started", "room", r.opts.Room, "uid", r.opts.UID, "file", p.Path)
	return nil
}

func (r *Recording) closePart() error {
	if r.file == nil {
		return nil
	}
	err := r.file.close()
	r.part.DurationMs, r.part.Frames = r.file.durationMs(), r.file.frames
	r.parts = append(r.parts, r.part)
	r.file = nil
	return err
}

// fail stops the recording on an error (a full disk): what was written
// stays playable, the call goes on.
func (r *Recording) fail(err error) {
	if r.failed != nil {
		return
	}
	r.failed = err
	if r.file != nil {
		r.file.abort()
		r.part.DurationMs, r.part.Frames = r.file.durationMs(), r.file.frames
		r.parts = append(r.parts, r.part)
		r.file = nil
	}
	r.opts.Log.Warn("recording failed", "room", r.opts.Room, "uid", r.opts.UID, "err", err)
	if r.opts.OnFailed != nil {
		go r.opts.OnFailed(err)
	}
}

// Stop detaches the recording, writes out what its tracks hold and
// finalizes the file (cues, duration). It returns the parts written.
func (r *Recording) Stop() ([]Part, error) {
	for i, up := range r.ups {
		up.RemoveDownTrack(r.bufs[i])
		r.bufs[i].Finish() // the track writes out what it holds (UpTrackEnded → flush)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return r.parts, r.failed
	}
	r.writeQueued(true)
	r.stopped = true
	if r.failed == nil {
		if err := r.closePart(); err != nil {
			r.failed = err
		}
	}
	return r.parts, r.failed
}

// records reports whether the recording is attached to one of ups: the
// publication it records is still the participant's current one.
func (r *Recording) records(ups []sfu.UpTrack) bool {
	for _, u := range ups {
		for _, mine := range r.ups {
			if u == mine {
				return true
			}
		}
	}
	return false
}

// Stats counts what the recording's tracks kept and lost.
type Stats struct {
	Frames, Dropped, Gaps, Lost, Late, QueueDrops uint64
}

// Stats returns the recording's counters so far.
func (r *Recording) Stats() Stats {
	var s Stats
	for i, t := range r.tracks {
		t.mu.Lock()
		s.Frames += t.frames
		s.Dropped += t.dropped
		s.Gaps += t.gapCount
		t.mu.Unlock()
		s.Lost += t.jb.lost
		s.Late += t.jb.late
		s.QueueDrops += r.bufs[i].Dropped()
	}
	return s
}
