package recorder

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
	"github.com/stoa-video/stoa/internal/mediatest"
	"github.com/stoa-video/stoa/sfu"
)

// The clips are made by ffmpeg from its test sources; a test that needs them
// skips with one line when ffmpeg is absent.
func needFFmpeg(t *testing.T) { t.Helper(); mediatest.NeedTools(t, "ffmpeg", "ffprobe") }

func ffmpeg(t *testing.T, args ...string) { t.Helper(); mediatest.FFmpeg(t, args...) }

// clip is known media: VP8 frames (a keyframe every 2 s) and Opus packets
// (20 ms each), seconds long.
type clip struct {
	h264  bool // video is H264 access units (Annex-B), else VP8 frames
	video [][]byte
	keys  []bool
	audio [][]byte
}

func makeClip(t *testing.T, seconds int) clip {
	t.Helper()
	dir := t.TempDir()
	ivf, ogg := filepath.Join(dir, "v.ivf"), filepath.Join(dir, "a.ogg")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=15", "-t", strconv.Itoa(seconds),
		"-c:v", "libvpx", "-b:v", "300k", "-g", "30", "-deadline", "realtime", "-cpu-used", "8", "-auto-alt-ref", "0", ivf)
	ffmpeg(t, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", strconv.Itoa(seconds), "-ac", "2",
		"-c:a", "libopus", "-b:a", "32k", "-frame_duration", "20", "-page_duration", "20000", ogg)
	var c clip
	c.video = mediatest.IVFFrames(t, ivf)
	for _, fr := range c.video {
		c.keys = append(c.keys, fr[0]&1 == 0)
	}
	af, err := os.Open(ogg)
	if err != nil {
		t.Fatal(err)
	}
	defer af.Close()
	or, _, err := oggreader.NewWith(af)
	if err != nil {
		t.Fatal(err)
	}
	for {
		page, hdr, err := or.ParseNextPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, isHeader := hdr.HeaderType(page); isHeader || len(page) == 0 {
			continue
		}
		c.audio = append(c.audio, page)
	}
	return c
}

// feeder plays a clip into two up tracks as a publisher's RTP would arrive,
// dropping a share of the packets (loss between publisher and SFU).
type feeder struct {
	video, audio *sfu.LocalUpTrack
	loss         float64
	rng          *rand.Rand
	sent         int
}

func newFeeder(loss float64, h264 bool) *feeder {
	vc := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}
	if h264 {
		vc = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, PayloadType: 102}
	}
	ac := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111}
	return &feeder{
		video: sfu.NewUpTrack("video", webrtc.RTPCodecTypeVideo, vc, 1111, nil),
		audio: sfu.NewUpTrack("audio", webrtc.RTPCodecTypeAudio, ac, 2222, nil),
		loss:  loss, rng: rand.New(rand.NewSource(7)),
	}
}

func (f *feeder) send(t *testing.T, up *sfu.LocalUpTrack, p *rtp.Packet) {
	if f.loss > 0 && f.rng.Float64() < f.loss {
		return
	}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	up.Forward(b)
	f.sent++
}

// senderReports gives both tracks the publisher's clock: video's RTP 0 was
// captured at base, audio's at base + audioDelay (the ground truth the
// recording's timeline is checked against).
func (f *feeder) senderReports(base time.Time, audioDelay time.Duration) {
	f.video.HandleRTCP([]rtcp.Packet{&rtcp.SenderReport{SSRC: 1111, NTPTime: toNTPTime(base)}})
	f.audio.HandleRTCP([]rtcp.Packet{&rtcp.SenderReport{SSRC: 2222, NTPTime: toNTPTime(base.Add(audioDelay))}})
}

func toNTPTime(t time.Time) uint64 {
	secs := uint64(t.Unix() + 2208988800)
	return secs<<32 | uint64(t.Nanosecond())<<32/uint64(time.Second)
}

// play sends the clip: video at 15 fps, audio at 50 packets/s, audio
// starting audioDelay after video and silent (no packets, as with DTX) for
// the span [silenceFrom, silenceTo). speed > 1 plays faster than real time
// (the timestamps carry the timeline, not the pace).
func (f *feeder) play(t *testing.T, c clip, audioDelay, silenceFrom, silenceTo time.Duration, speed float64) {
	var payloader rtp.Payloader = &codecs.VP8Payloader{}
	if c.h264 {
		payloader = &codecs.H264Payloader{}
	}
	vp := rtp.NewPacketizer(1200, 96, 1111, payloader, rtp.NewRandomSequencer(), 90000)
	ap := rtp.NewPacketizer(1200, 111, 2222, &codecs.OpusPayloader{}, rtp.NewRandomSequencer(), 48000)
	start := time.Now()
	vi, ai := 0, 0
	for vi < len(c.video) || ai < len(c.audio) {
		vt := time.Duration(vi) * time.Second / 15
		at := audioDelay + time.Duration(ai)*20*time.Millisecond
		if vi < len(c.video) && (ai >= len(c.audio) || vt <= at) {
			for _, p := range vp.Packetize(c.video[vi], 6000) {
				p.Timestamp = uint32(vi * 6000)
				f.send(t, f.video, p)
			}
			vi++
		} else {
			if at < silenceFrom || at >= silenceTo {
				for _, p := range ap.Packetize(c.audio[ai], 960) {
					p.Timestamp = uint32(ai * 960)
					f.send(t, f.audio, p)
				}
			}
			ai++
		}
		next := time.Duration(float64(min(vt, at)) / speed)
		if d := time.Until(start.Add(next)); d > 0 {
			time.Sleep(d)
		}
	}
	f.video.Flush()
	f.audio.Flush()
}

// probe is what ffprobe says of a file.
type probe struct {
	Streams []struct {
		CodecType    string `json:"codec_type"`
		CodecName    string `json:"codec_name"`
		NbReadFrames string `json:"nb_read_frames"`
		Width        int    `json:"width"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

func ffprobe(t *testing.T, path string) probe {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-show_streams", "-show_format", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p probe
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// decodeErrors is what `ffmpeg -v error -i FILE -f null -` prints.
func decodeErrors(t *testing.T, path string) string {
	t.Helper()
	out, _ := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput()
	return strings.TrimSpace(string(out))
}

func record(t *testing.T, c clip, loss float64, audioDelay, silenceFrom, silenceTo time.Duration) (Part, Stats) {
	t.Helper()
	f := newFeeder(loss, c.h264)
	base := time.Now()
	f.senderReports(base, audioDelay)
	rec, err := Start([]sfu.UpTrack{f.video, f.audio}, Options{ID: "rec", Dir: t.TempDir(), Room: "r", UID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	f.play(t, c, audioDelay, silenceFrom, silenceTo, 2)
	parts, err := rec.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 1 {
		t.Fatalf("%d parts, want 1", len(parts))
	}
	return parts[0], rec.Stats()
}

// A 10 s recording of VP8 + Opus: one video and one audio stream, 10 s long,
// decoding without an error, every frame sent kept.
func TestRecordTenSeconds(t *testing.T) {
	needFFmpeg(t)
	c := makeClip(t, 10)
	part, st := record(t, c, 0, 0, 0, 0)
	p := ffprobe(t, part.Path)
	var video, audio int
	var frames int
	for _, s := range p.Streams {
		switch s.CodecType {
		case "video":
			video++
			frames, _ = strconv.Atoi(s.NbReadFrames)
			if s.CodecName != "vp8" || s.Width != 320 {
				t.Errorf("video stream %+v", s)
			}
		case "audio":
			audio++
			if s.CodecName != "opus" {
				t.Errorf("audio stream %+v", s)
			}
		}
	}
	if video != 1 || audio != 1 {
		t.Fatalf("%d video and %d audio streams, want one each", video, audio)
	}
	dur, _ := strconv.ParseFloat(p.Format.Duration, 64)
	if dur < 9.8 || dur > 10.2 {
		t.Errorf("duration %.3f s, want 10 ± 0.2", dur)
	}
	if e := decodeErrors(t, part.Path); e != "" {
		t.Errorf("ffmpeg decoding the file says:\n%s", e)
	}
	if frames != len(c.video) {
		t.Errorf("%d video frames in the file, %d sent", frames, len(c.video))
	}
	t.Logf("%s: %.3f s, %d/%d video frames; stats %+v", filepath.Base(part.Path), dur, frames, len(c.video), st)
}

// Loss between publisher and SFU that no retransmission repairs: the file
// still decodes without an error (frames are dropped to the next keyframe
// after a gap, never written with holes).
func TestRecordWithLoss(t *testing.T) {
	needFFmpeg(t)
	c := makeClip(t, 10)
	for _, loss := range []float64{0.05, 0.20} {
		t.Run(strconv.Itoa(int(loss*100))+"%", func(t *testing.T) {
			part, st := record(t, c, loss, 0, 0, 0)
			if e := decodeErrors(t, part.Path); e != "" {
				t.Errorf("ffmpeg decoding the file says:\n%s", e)
			}
			p := ffprobe(t, part.Path)
			kept := 0
			for _, s := range p.Streams {
				if s.CodecType == "video" {
					kept, _ = strconv.Atoi(s.NbReadFrames)
				}
			}
			if kept == 0 || kept > len(c.video) {
				t.Errorf("%d video frames kept of %d sent", kept, len(c.video))
			}
			if st.Gaps == 0 {
				t.Error("no gap was counted although packets were lost")
			}
			t.Logf("%.0f%% loss: %d of %d video frames kept; stats %+v", loss*100, kept, len(c.video), st)
		})
	}
}

// packetTimes lists the pts (seconds) of one stream's packets.
func packetTimes(t *testing.T, path, stream string) []float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", stream, "-show_entries", "packet=pts_time", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe packets: %v", err)
	}
	var ts []float64
	for _, line := range strings.Fields(string(out)) {
		if v, err := strconv.ParseFloat(strings.Trim(line, ","), 64); err == nil {
			ts = append(ts, v)
		}
	}
	return ts
}

// A/V sync: audio starting 1.5 s after video and 3 s of silence (no
// packets, as with DTX or a muted microphone) in the middle land where the
// publisher captured them, from its sender reports, not from counting
// frames.
func TestRecordKeepsAudioAndVideoInSync(t *testing.T) {
	needFFmpeg(t)
	c := makeClip(t, 10)
	const delay, silenceFrom, silenceTo = 1500 * time.Millisecond, 4 * time.Second, 7 * time.Second
	part, _ := record(t, c, 0, delay, silenceFrom, silenceTo)
	video, audio := packetTimes(t, part.Path, "v:0"), packetTimes(t, part.Path, "a:0")
	if len(video) == 0 || len(audio) == 0 {
		t.Fatalf("%d video and %d audio packets", len(video), len(audio))
	}
	const tol = 0.040
	if d := audio[0] - video[0]; d < delay.Seconds()-tol || d > delay.Seconds()+tol {
		t.Errorf("audio starts %.3f s after video, want %.3f ± %.3f", d, delay.Seconds(), tol)
	}
	resumed := -1.0
	for i := 1; i < len(audio); i++ {
		if audio[i]-audio[i-1] > 1 {
			resumed = audio[i] - video[0]
			break
		}
	}
	// The first packet at or after silenceTo on the sender's 20 ms grid.
	want := silenceTo.Seconds()
	if resumed < want-tol || resumed > want+tol {
		t.Errorf("audio resumes %.3f s into the video after the silence, want %.3f ± %.3f", resumed, want, tol)
	}
	t.Logf("audio starts at +%.3f s, resumes at %.3f s (truth %.3f, %.3f)", audio[0]-video[0], resumed, delay.Seconds(), want)
}

// makeH264Clip is the same test pattern as H264 (constrained baseline, an
// IDR every 2 s, access unit delimiters so access units can be told apart).
func makeH264Clip(t *testing.T, seconds int) clip {
	t.Helper()
	c := makeClip(t, seconds) // for the audio
	path := filepath.Join(t.TempDir(), "v.h264")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=15", "-t", strconv.Itoa(seconds),
		"-c:v", "libx264", "-profile:v", "baseline", "-preset", "veryfast", "-b:v", "300k", "-g", "30", "-bf", "0",
		"-x264-params", "aud=1", "-bsf:v", "h264_mp4toannexb", "-f", "h264", path)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c.h264, c.video, c.keys = true, nil, nil
	// Split at the access unit delimiters (NAL type 9).
	var starts []int
	for i := 0; i+4 < len(data); i++ {
		if data[i] == 0 && data[i+1] == 0 && data[i+2] == 0 && data[i+3] == 1 && data[i+4]&0x1f == 9 {
			starts = append(starts, i)
		}
	}
	for k, st := range starts {
		end := len(data)
		if k+1 < len(starts) {
			end = starts[k+1]
		}
		au := data[st:end]
		c.video = append(c.video, au)
		c.keys = append(c.keys, bytes.Contains(au, []byte{0, 0, 1, 0x65}))
	}
	if len(c.video) < seconds*15-2 {
		t.Fatalf("%d access units in %d s of H264", len(c.video), seconds)
	}
	return c
}

// H264 + Opus goes into Matroska, with the same checks.
func TestRecordH264(t *testing.T) {
	needFFmpeg(t)
	c := makeH264Clip(t, 10)
	part, st := record(t, c, 0, 0, 0, 0)
	if filepath.Ext(part.Path) != ".mkv" {
		t.Errorf("H264 recorded into %s, want .mkv", part.Path)
	}
	p := ffprobe(t, part.Path)
	frames := 0
	for _, s := range p.Streams {
		if s.CodecType == "video" {
			frames, _ = strconv.Atoi(s.NbReadFrames)
			if s.CodecName != "h264" || s.Width != 320 {
				t.Errorf("video stream %+v", s)
			}
		}
	}
	dur, _ := strconv.ParseFloat(p.Format.Duration, 64)
	if dur < 9.8 || dur > 10.2 {
		t.Errorf("duration %.3f s, want 10 ± 0.2", dur)
	}
	if e := decodeErrors(t, part.Path); e != "" {
		t.Errorf("ffmpeg decoding the file says:\n%s", e)
	}
	if frames != len(c.video) {
		t.Errorf("%d video frames in the file, %d sent", frames, len(c.video))
	}
	t.Logf("%s: %.3f s, %d/%d frames; stats %+v", filepath.Base(part.Path), dur, frames, len(c.video), st)
}

// smallDisk is a file on a disk with little room left: a write past it
// writes what fits and fails with ENOSPC, as a full disk does.
type smallDisk struct {
	*os.File
	left int64
	size int64
}

func (d *smallDisk) Write(b []byte) (int, error) {
	if int64(len(b)) > d.left {
		n, _ := d.File.Write(b[:d.left])
		d.left -= int64(n)
		d.size += int64(n)
		return n, &os.PathError{Op: "write", Path: d.Name(), Err: syscall.ENOSPC}
	}
	n, err := d.File.Write(b)
	d.left -= int64(n)
	d.size += int64(n)
	return n, err
}

func (d *smallDisk) Truncate(size int64) error {
	if err := d.File.Truncate(size); err != nil {
		return err
	}
	if _, err := d.File.Seek(size, io.SeekStart); err != nil {
		return err
	}
	d.left += d.size - size
	d.size = size
	return nil
}

// A full disk stops the recording with an error the service turns into
// recording-failed; what was written stays playable.
func TestRecordOnAFullDisk(t *testing.T) {
	needFFmpeg(t)
	c := makeClip(t, 10)
	old := createFile
	defer func() { createFile = old }()
	createFile = func(path string) (mkvFile, error) {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
		if err != nil {
			return nil, err
		}
		return &smallDisk{File: f, left: 120 << 10}, nil
	}
	f := newFeeder(0, false)
	f.senderReports(time.Now(), 0)
	failed := make(chan error, 1)
	rec, err := Start([]sfu.UpTrack{f.video, f.audio}, Options{ID: "full", Dir: t.TempDir(), OnFailed: func(err error) { failed <- err }})
	if err != nil {
		t.Fatal(err)
	}
	f.play(t, c, 0, 0, 0, 2)
	parts, err := rec.Stop()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Stop: %v, want the disk-full error", err)
	}
	select {
	case ferr := <-failed:
		if !errors.Is(ferr, syscall.ENOSPC) {
			t.Errorf("OnFailed got %v", ferr)
		}
	case <-time.After(10 * time.Second): // OnFailed runs on a goroutine of its own; a bound only a missing call trips
		t.Error("OnFailed was not called")
	}
	if len(parts) != 1 {
		t.Fatalf("%d parts", len(parts))
	}
	if e := decodeErrors(t, parts[0].Path); e != "" {
		t.Errorf("the part written before the disk filled does not decode cleanly:\n%s", e)
	}
	p := ffprobe(t, parts[0].Path)
	dur, _ := strconv.ParseFloat(p.Format.Duration, 64)
	if dur <= 0.5 || dur >= 10 {
		t.Errorf("the kept part lasts %.2f s, want some of the 10 s", dur)
	}
	t.Logf("disk full after 120 KB: kept %.2f s that play", dur)
}
