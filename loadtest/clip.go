package loadtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/h264reader"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
)

// Frame is one encoded unit of a clip: a VP8 frame, an H264 access unit in
// Annex-B form, or an Opus packet, with how long it lasts.
type Frame struct {
	Data     []byte
	Duration time.Duration
	Keyframe bool
}

// Track is one elementary stream of a clip, held in memory so that every
// publisher can loop it without touching the disk while it is measured.
type Track struct {
	Codec  webrtc.RTPCodecCapability
	Frames []Frame
}

// Duration is the length of one pass through the track.
func (t *Track) Duration() time.Duration {
	var d time.Duration
	for _, f := range t.Frames {
		d += f.Duration
	}
	return d
}

// Bitrate is the track's average payload bitrate in bits per second.
func (t *Track) Bitrate() float64 {
	var n int
	for _, f := range t.Frames {
		n += len(f.Data)
	}
	d := t.Duration().Seconds()
	if d == 0 {
		return 0
	}
	return float64(n) * 8 / d
}

// nextKeyframe returns the index of the first keyframe at or after i,
// wrapping around; i itself if the track has no keyframe.
func (t *Track) nextKeyframe(i int) int {
	for k := range len(t.Frames) {
		j := (i + k) % len(t.Frames)
		if t.Frames[j].Keyframe {
			return j
		}
	}
	return i
}

// LoadVideo reads a VP8 clip (.ivf) or an H264 clip (.h264, .264: Annex-B,
// which carries no timestamps, hence fps).
func LoadVideo(path string, fps float64) (*Track, error) {
	var parse func([]byte) (*Track, error)
	switch strings.ToLower(filepath.Ext(path)) {
	case ".ivf":
		parse = parseIVF
	case ".h264", ".264":
		parse = func(b []byte) (*Track, error) { return parseH264(b, fps) }
	default:
		return nil, fmt.Errorf("video clip %s: want .ivf (VP8) or .h264 (Annex-B H264)", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read video clip: %w", err)
	}
	t, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("video clip %s: %w", path, err)
	}
	if !t.Frames[0].Keyframe {
		return nil, fmt.Errorf("video clip %s: the first frame is not a keyframe", path)
	}
	return t, nil
}

// LoadAudio reads an Opus clip in Ogg (.ogg, .opus) made with one packet per
// page (ffmpeg's -page_duration 20000, as docs/benchmarks.md shows).
func LoadAudio(path string) (*Track, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read audio clip: %w", err)
	}
	t, err := parseOgg(data)
	if err != nil {
		return nil, fmt.Errorf("audio clip %s: %w", path, err)
	}
	return t, nil
}

func parseIVF(data []byte) (*Track, error) {
	r, hdr, err := ivfreader.NewWith(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("parse IVF header: %w", err)
	}
	if hdr.FourCC != "VP80" {
		return nil, fmt.Errorf("IVF carries %q, only VP8 (VP80) is supported", hdr.FourCC)
	}
	if hdr.TimebaseDenominator == 0 || hdr.TimebaseNumerator == 0 {
		return nil, errors.New("IVF has a zero timebase")
	}
	// The file's time base is TimebaseNumerator/TimebaseDenominator seconds
	// (1/30 from ffmpeg at 30 fps), and ivfreader hands out each frame's pts
	// multiplied by Denominator/Numerator: undo that to count in time base units.
	num, den := uint64(hdr.TimebaseNumerator), uint64(hdr.TimebaseDenominator)
	tick := time.Duration(float64(time.Second) * float64(num) / float64(den))
	var frames []Frame
	var pts []uint64
	for {
		f, fh, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse IVF frame %d: %w", len(frames), err)
		}
		if len(f) == 0 {
			continue
		}
		// VP8 frame tag, RFC 6386 9.1: bit 0 is 0 for a key frame.
		frames = append(frames, Frame{Data: f, Keyframe: f[0]&0x01 == 0})
		pts = append(pts, fh.Timestamp*num/den)
	}
	if len(frames) == 0 {
		return nil, errors.New("IVF has no frames")
	}
	for i := range frames {
		if i+1 < len(frames) && pts[i+1] > pts[i] {
			frames[i].Duration = time.Duration(pts[i+1]-pts[i]) * tick
		} else if i > 0 {
			frames[i].Duration = frames[i-1].Duration
		} else {
			frames[i].Duration = tick
		}
	}
	return &Track{Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, Frames: frames}, nil
}

// H264 NAL unit types the access-unit splitter needs (ITU-T H.264 table 7-1).
const (
	nalSlice = 1
	nalIDR   = 5
	nalSEI   = 6
	nalSPS   = 7
	nalPPS   = 8
	nalAUD   = 9
)

var annexBStart = []byte{0, 0, 0, 1}

// parseH264 groups the NAL units of an Annex-B stream into access units (one
// per frame) and makes every IDR access unit carry SPS and PPS, so that a
// publisher may start from, or jump to, any keyframe of the clip.
func parseH264(data []byte, fps float64) (*Track, error) {
	if fps <= 0 {
		return nil, fmt.Errorf("H264 needs a frame rate, got %v", fps)
	}
	r, err := h264reader.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("parse H264: %w", err)
	}
	dur := time.Duration(float64(time.Second) / fps)
	var (
		frames           []Frame
		cur              []byte
		curVCL, curKey   bool
		curParams        bool // cur carries an SPS
		lastSPS, lastPPS []byte
	)
	flush := func() {
		if curVCL {
			if curKey && !curParams && lastSPS != nil && lastPPS != nil {
				head := append(append(append(append([]byte{}, annexBStart...), lastSPS...), annexBStart...), lastPPS...)
				cur = append(head, cur...)
			}
			frames = append(frames, Frame{Data: cur, Duration: dur, Keyframe: curKey})
		}
		cur, curVCL, curKey, curParams = nil, false, false, false
	}
	for {
		nal, err := r.NextNAL()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse H264 NAL after frame %d: %w", len(frames), err)
		}
		if nal == nil || len(nal.Data) == 0 {
			break
		}
		typ := nal.Data[0] & 0x1f
		switch typ {
		case nalAUD, nalSPS, nalPPS, nalSEI:
			if curVCL {
				flush()
			}
		case nalSlice, nalIDR:
			// first_mb_in_slice is ue(v): a leading 1 bit codes 0, the first slice of a picture.
			if curVCL && len(nal.Data) > 1 && nal.Data[1]&0x80 != 0 {
				flush()
			}
		}
		switch typ {
		case nalSPS:
			lastSPS, curParams = nal.Data, true
		case nalPPS:
			lastPPS = nal.Data
		case nalSlice:
			curVCL = true
		case nalIDR:
			curVCL, curKey = true, true
		}
		cur = append(append(cur, annexBStart...), nal.Data...)
	}
	flush()
	if len(frames) == 0 {
		return nil, errors.New("H264 stream has no frames")
	}
	return &Track{Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, Frames: frames}, nil
}

func parseOgg(data []byte) (*Track, error) {
	r, _, err := oggreader.NewWith(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("parse Ogg/Opus header: %w", err)
	}
	var frames []Frame
	var lastGranule uint64
	for {
		page, ph, err := r.ParseNextPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse Ogg page after packet %d: %w", len(frames), err)
		}
		if _, isHeader := ph.HeaderType(page); isHeader || len(page) == 0 {
			continue
		}
		d, err := opusDuration(page)
		if err != nil {
			return nil, fmt.Errorf("opus packet %d: %w", len(frames), err)
		}
		// A page whose granule advances by more than its first packet's
		// duration holds several packets, which the page reader cannot split.
		if step := ph.GranulePosition - lastGranule; len(frames) > 0 && ph.GranulePosition > lastGranule &&
			time.Duration(step)*time.Second/48000 > d {
			return nil, errors.New("an Ogg page holds several Opus packets: make the file with ffmpeg's -page_duration 20000 (docs/benchmarks.md)")
		}
		lastGranule = ph.GranulePosition
		frames = append(frames, Frame{Data: page, Duration: d})
	}
	if len(frames) == 0 {
		return nil, errors.New("the ogg file has no opus packets")
	}
	return &Track{Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
		SDPFmtpLine: "minptime=10;useinbandfec=1"}, Frames: frames}, nil
}

// opusDuration reads an Opus packet's duration from its TOC byte (RFC 6716 3.1).
func opusDuration(p []byte) (time.Duration, error) {
	if len(p) == 0 {
		return 0, errors.New("empty packet")
	}
	toc := p[0]
	config := toc >> 3
	var frame time.Duration
	switch {
	case config < 12: // SILK: 10, 20, 40, 60 ms
		frame = []time.Duration{10, 20, 40, 60}[config%4] * time.Millisecond
	case config < 16: // hybrid: 10, 20 ms
		frame = []time.Duration{10, 20}[config%2] * time.Millisecond
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = []time.Duration{2500, 5000, 10000, 20000}[config%4] * time.Microsecond
	}
	n := 1
	switch toc & 0x03 {
	case 1, 2:
		n = 2
	case 3:
		if len(p) < 2 {
			return 0, errors.New("code-3 packet without a frame count")
		}
		n = int(p[1] & 0x3f)
	}
	if n == 0 {
		return 0, errors.New("packet with no frames")
	}
	return frame * time.Duration(n), nil
}
