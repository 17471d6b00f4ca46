package sfu

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"testing"
)

// FuzzVP8FrameSize: VP8FrameSize never panics, and a size it returns is what the header's 14-bit
// fields say, never 0.
func FuzzVP8FrameSize(f *testing.F) {
	interframe := vp8Keyframe(640, 360, 40)
	interframe[0] |= 1
	for _, seed := range [][]byte{
		vp8Keyframe(640, 360, 40),
		vp8Keyframe(640, 360, 10),
		forgedVP8(),
		vp8Keyframe(0, 0, 10),
		vp8Keyframe(640, 360, 40)[:9],
		interframe,
		{},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		w, h, err := VP8FrameSize(frame)
		if err != nil {
			if w != 0 || h != 0 {
				t.Fatalf("error %v with size %d×%d", err, w, h)
			}
			return
		}
		if w <= 0 || h <= 0 || w > 0x3fff || h > 0x3fff {
			t.Fatalf("size %d×%d outside 1..16383", w, h)
		}
		if len(frame) < 10 || w != int(binary.LittleEndian.Uint16(frame[6:])&0x3fff) ||
			h != int(binary.LittleEndian.Uint16(frame[8:])&0x3fff) {
			t.Fatalf("size %d×%d is not the header's (%x)", w, h, frame[:min(len(frame), 10)])
		}
		checkFuzzedSize(t, w, h)
	})
}

// FuzzH264FrameSize: H264FrameSize never panics, and a size it returns is positive and within
// what pic_width_in_mbs and pic_height_in_map_units may claim.
func FuzzH264FrameSize(f *testing.F) {
	for _, sps := range realSPS {
		b, err := hex.DecodeString(sps.hex)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(annexB(b, testPPS, testIDR))
		f.Add(annexB(b[:len(b)/2], testPPS))
	}
	for _, s := range []testSPS{
		{widthMBs: 39, mapUnits: 22, crop: []uint64{0, 0, 0, 4}},
		{widthMBs: 1023, mapUnits: 1023},
		{widthMBs: 1<<16 - 1, mapUnits: 1<<16 - 1, interlaced: true},
		{profile: 100, chromaFormat: 1, widthMBs: 119, mapUnits: 67, crop: []uint64{0, 0, 0, 4},
			scaling: [][]int64{scalingFlat(16), scalingDefault, nil, nil, nil, nil, scalingVaried(64)}},
		{profile: 244, chromaFormat: 3, separatePlanes: true, widthMBs: 119, mapUnits: 67},
		{pocType: 1, pocCycle: []int64{-(1 << 30), 1 << 30, 0}, widthMBs: 39, mapUnits: 22},
		{widthMBs: 1, crop: []uint64{8, 8, 0, 0}},
	} {
		f.Add(s.keyframe())
	}
	f.Add([]byte{0, 0, 1, 0x67})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, au []byte) {
		w, h, err := H264FrameSize(au)
		if err != nil {
			if w != 0 || h != 0 {
				t.Fatalf("error %v with size %d×%d", err, w, h)
			}
			return
		}
		if w <= 0 || h <= 0 || w > maxSPSMacroblocks*16 || h > 2*maxSPSMacroblocks*16 {
			t.Fatalf("size %d×%d outside 1..%d × 1..%d", w, h, maxSPSMacroblocks*16, 2*maxSPSMacroblocks*16)
		}
		checkFuzzedSize(t, w, h)
	})
}

// checkFuzzedSize holds CheckFrameSize to its contract for a parsed size.
func checkFuzzedSize(t *testing.T, w, h int) {
	t.Helper()
	err := CheckFrameSize(w, h)
	if tooLarge := int64(w)*int64(h) > MaxFramePixels; errors.Is(err, ErrFrameTooLarge) != tooLarge || (err == nil) == tooLarge {
		t.Fatalf("CheckFrameSize(%d, %d) = %v for %d pixels", w, h, err, int64(w)*int64(h))
	}
}
