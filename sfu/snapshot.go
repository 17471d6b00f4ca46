package sfu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"golang.org/x/image/vp8"
)

// Snapshot errors callers map to API errors.
var (
	ErrNoVideo         = errors.New("the participant publishes no video")
	ErrVideoMuted      = errors.New("the participant's video is muted")
	ErrSnapshotTimeout = errors.New("no complete keyframe arrived in time")
	ErrNoDecoder       = errors.New("no decoder for this codec")
)

// keyframeRetry is how often a waiting snapshot repeats its keyframe request,
// in case the first PLI or the keyframe itself was lost.
const keyframeRetry = 500 * time.Millisecond

// maxFrameSize bounds one assembled keyframe (a 1080p keyframe is ~200 KB).
const maxFrameSize = 4 << 20

// Snapshot asks the publisher of a video track for a keyframe, takes the next
// complete one (every packet present, in order: a frame with a gap is thrown
// away, never decoded) and decodes it to an image. VP8 is decoded in Go; H264
// by an ffmpeg process fed the Annex-B access unit.
func Snapshot(ctx context.Context, up UpTrack) (image.Image, error) {
	if up.Kind() != webrtc.RTPCodecTypeVideo {
		return nil, ErrNoVideo
	}
	mime := up.Codec().MimeType
	c := &frameCollector{mime: strings.ToLower(mime), done: make(chan []byte, 1)}
	up.AddDownTrack(c)
	defer up.RemoveDownTrack(c)
	up.RequestKeyframe()
	t := time.NewTicker(keyframeRetry)
	defer t.Stop()
	for {
		select {
		case frame := <-c.done:
			return decodeKeyframe(ctx, c.mime, frame)
		case <-t.C:
			up.RequestKeyframe()
		case <-ctx.Done():
			return nil, fmt.Errorf("snapshot of %s: %w (%v)", up.ID(), ErrSnapshotTimeout, ctx.Err())
		}
	}
}

// frameCollector is a DownTrack that assembles one keyframe. WriteRTP runs
// on the up track's reader goroutine only.
type frameCollector struct {
	mime       string
	done       chan []byte
	finished   atomic.Bool
	collecting bool
	ts         uint32
	nextSeq    uint16
	buf        []byte
	h264       codecs.H264Packet
	vp8        codecs.VP8Packet
}

// SetTimeMapping is not needed for a still image.
func (c *frameCollector) SetTimeMapping(TimeMapping) {}

// UpTrackEnded needs nothing: Snapshot's context bounds the wait.
func (c *frameCollector) UpTrackEnded() {}

func (c *frameCollector) WriteRTP(p *Packet) error {
	if c.finished.Load() {
		return nil
	}
	if c.collecting && (p.Timestamp != c.ts || p.SequenceNumber != c.nextSeq) {
		c.collecting = false // a gap or a new frame before the marker: this frame is incomplete
	}
	if !c.collecting {
		if !p.Keyframe {
			return nil
		}
		c.collecting, c.ts, c.buf = true, p.Timestamp, c.buf[:0]
		c.h264 = codecs.H264Packet{}
	}
	c.nextSeq = p.SequenceNumber + 1
	var data []byte
	var err error
	switch c.mime {
	case "video/vp8":
		data, err = c.vp8.Unmarshal(p.Payload)
	case "video/h264":
		data, err = c.h264.Unmarshal(p.Payload)
	default:
		err = ErrNoDecoder
	}
	if err != nil || len(c.buf)+len(data) > maxFrameSize {
		c.collecting = false
		return nil
	}
	c.buf = append(c.buf, data...)
	if !p.Marker {
		return nil
	}
	c.collecting = false
	if c.mime == "video/h264" && !hasIDR(c.buf) {
		return nil // SPS/PPS without a picture: wait for the next one
	}
	c.finished.Store(true)
	c.done <- bytes.Clone(c.buf)
	return nil
}

// hasIDR reports whether an Annex-B access unit holds an IDR slice.
func hasIDR(au []byte) bool {
	for i := 0; i+3 < len(au); i++ {
		if au[i] == 0 && au[i+1] == 0 && au[i+2] == 1 && au[i+3]&0x1f == 5 {
			return true
		}
	}
	return false
}

func decodeKeyframe(ctx context.Context, mime string, frame []byte) (image.Image, error) {
	switch mime {
	case "video/vp8":
		// The decoder allocates for whatever size the header claims: check the claim first.
		w, h, err := VP8FrameSize(frame)
		if err != nil {
			return nil, fmt.Errorf("decode VP8 keyframe: %w", err)
		}
		if err := CheckFrameSize(w, h); err != nil {
			return nil, fmt.Errorf("decode VP8 keyframe: %w", err)
		}
		d := vp8.NewDecoder()
		d.Init(bytes.NewReader(frame), len(frame))
		fh, err := d.DecodeFrameHeader()
		if err != nil {
			return nil, fmt.Errorf("decode VP8 keyframe header: %w", err)
		}
		if !fh.KeyFrame {
			return nil, fmt.Errorf("decode VP8: not a keyframe")
		}
		img, err := d.DecodeFrame()
		if err != nil {
			return nil, fmt.Errorf("decode VP8 keyframe: %w", err)
		}
		return img, nil
	case "video/h264":
		w, h, err := H264FrameSize(frame)
		if err != nil {
			return nil, fmt.Errorf("decode H264 keyframe: %w", err)
		}
		if err := CheckFrameSize(w, h); err != nil {
			return nil, fmt.Errorf("decode H264 keyframe: %w", err)
		}
		return decodeH264(ctx, frame)
	}
	return nil, fmt.Errorf("%w: %s", ErrNoDecoder, mime)
}

// decodeH264 runs ffmpeg on one Annex-B access unit and reads back a PNG. The caller has
// checked the SPS's size; ffmpeg's decoder and the PNG's header are held to the same limit in
// case ffmpeg reads the stream differently.
func decodeH264(ctx context.Context, au []byte) (image.Image, error) {
	path, err := exec.LookPath("ffmpeg")
	if err != nil {
		return nil, fmt.Errorf("%w: H264 snapshots need ffmpeg (apt-get install ffmpeg)", ErrNoDecoder)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "-hide_banner", "-loglevel", "error",
		"-max_pixels", strconv.Itoa(MaxFramePixels), "-f", "h264", "-i", "pipe:0",
		"-frames:v", "1", "-f", "image2pipe", "-c:v", "png", "pipe:1")
	cmd.Stdin = bytes.NewReader(au)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("decode H264 keyframe with ffmpeg: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(out.Bytes()))
	if err != nil {
		return nil, fmt.Errorf("read ffmpeg's decoded H264 keyframe: %w", err)
	}
	if err := CheckFrameSize(cfg.Width, cfg.Height); err != nil {
		return nil, fmt.Errorf("read ffmpeg's decoded H264 keyframe: %w", err)
	}
	img, err := png.Decode(&out)
	if err != nil {
		return nil, fmt.Errorf("read ffmpeg's decoded H264 keyframe: %w", err)
	}
	return img, nil
}

// Snapshot takes a still of the participant's published video.
func (p *Participant) Snapshot(ctx context.Context) (image.Image, error) {
	p.mu.Lock()
	var video UpTrack
	muted := p.videoMuted
	if p.pub != nil {
		for _, t := range p.pub.tracks {
			if t.Kind() == webrtc.RTPCodecTypeVideo {
				video = t
			}
		}
	}
	p.mu.Unlock()
	if video == nil {
		return nil, fmt.Errorf("snapshot of %s: %w", p.uid, ErrNoVideo)
	}
	if muted {
		return nil, fmt.Errorf("snapshot of %s: %w", p.uid, ErrVideoMuted)
	}
	return Snapshot(ctx, video)
}
