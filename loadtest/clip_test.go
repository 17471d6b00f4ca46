package loadtest

import (
	"testing"
	"time"
)

func TestOpusDuration(t *testing.T) {
	for _, tc := range []struct {
		p    []byte
		want time.Duration
	}{
		{[]byte{0xfc}, 20 * time.Millisecond},         // config 31 (CELT FB 20 ms), code 0: one frame
		{[]byte{0xf9}, 40 * time.Millisecond},         // config 31, code 1: two frames
		{[]byte{0x08}, 20 * time.Millisecond},         // config 1 (SILK NB 20 ms)
		{[]byte{0x18}, 60 * time.Millisecond},         // config 3 (SILK NB 60 ms)
		{[]byte{0x78}, 20 * time.Millisecond},         // config 15 (hybrid FB 20 ms)
		{[]byte{0xe3, 0x03}, 7500 * time.Microsecond}, // config 28 (CELT 2.5 ms), code 3 with 3 frames
	} {
		got, err := opusDuration(tc.p)
		if err != nil || got != tc.want {
			t.Errorf("TOC % x: %v %v, want %v", tc.p, got, err, tc.want)
		}
	}
	for _, bad := range [][]byte{nil, {0x03}, {0x03, 0x00}} {
		if _, err := opusDuration(bad); err == nil {
			t.Errorf("TOC % x parsed", bad)
		}
	}
}

// TestLoadClips reads clips ffmpeg makes as docs/benchmarks.md says: frame
// timing from IVF, access units and keyframes from H264, packets from Ogg.
func TestLoadClips(t *testing.T) {
	for _, format := range []string{"ivf", "h264"} {
		t.Run(format, func(t *testing.T) {
			videoPath, audioPath := makeClip(t, format)
			v, err := LoadVideo(videoPath, 30)
			if err != nil {
				t.Fatal(err)
			}
			keys := 0
			for _, f := range v.Frames {
				if f.Keyframe {
					keys++
				}
			}
			// 2 s at 30 fps with a keyframe every 30 frames.
			if len(v.Frames) != 60 || keys != 2 {
				t.Errorf("%d frames and %d keyframes, want 60 and 2", len(v.Frames), keys)
			}
			// The clip's own timeline (frame timestamps), not a clock.
			if length := v.Duration(); length < 1990*time.Millisecond || length > 2010*time.Millisecond {
				t.Errorf("clip lasts %v, want 2 s", length)
			}
			if format == "h264" {
				for i, f := range v.Frames {
					if f.Keyframe && !containsNAL(f.Data, nalSPS) {
						t.Errorf("keyframe %d carries no SPS: a publisher jumping to it would send an undecodable frame", i)
					}
				}
			}
			a, err := LoadAudio(audioPath)
			if err != nil {
				t.Fatal(err)
			}
			if len(a.Frames) < 99 || a.Frames[0].Duration != 20*time.Millisecond {
				t.Errorf("audio: %d packets, the first of %v; want about 100 of 20 ms", len(a.Frames), a.Frames[0].Duration)
			}
		})
	}
}

// containsNAL reports whether an Annex-B access unit holds a NAL of type typ.
func containsNAL(au []byte, typ byte) bool {
	for i := 0; i+4 < len(au); i++ {
		if au[i] == 0 && au[i+1] == 0 && au[i+2] == 0 && au[i+3] == 1 && au[i+4]&0x1f == typ {
			return true
		}
	}
	return false
}
