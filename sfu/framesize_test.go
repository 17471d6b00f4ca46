package sfu

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/bits"
	"os/exec"
	"runtime"
	"testing"
)

// vp8Keyframe returns a VP8 keyframe of n bytes whose header claims w×h (RFC 6386 §9.1): a
// frame tag (key frame, version 0, shown, first partition running to the end), the start code,
// the two sizes, and zeros.
func vp8Keyframe(w, h uint16, n int) []byte {
	f := make([]byte, n)
	tag := uint32(1<<4 | (n-10)<<5)
	f[0], f[1], f[2] = byte(tag), byte(tag>>8), byte(tag>>16)
	copy(f[3:], []byte{0x9d, 0x01, 0x2a})
	binary.LittleEndian.PutUint16(f[6:], w)
	binary.LittleEndian.PutUint16(f[8:], h)
	return f
}

// forgedVP8 is the 37-byte keyframe that made golang.org/x/image/vp8 allocate about 390 MB.
func forgedVP8() []byte { return vp8Keyframe(16383, 16383, 37) }

func TestCheckFrameSize(t *testing.T) {
	tests := []struct {
		w, h         int
		wantErr      bool
		wantTooLarge bool
	}{
		{640, 360, false, false},
		{4096, 2304, false, false},
		{2304, 4096, false, false},
		{MaxFramePixels, 1, false, false},
		{4097, 2304, true, true},
		{MaxFramePixels + 1, 1, true, true},
		{16383, 16383, true, true},
		{1 << 62, 1 << 62, true, true}, // no overflow
		{0, 360, true, false},
		{640, 0, true, false},
		{-640, 360, true, false},
		{640, -1 << 62, true, false},
	}
	for _, tc := range tests {
		err := CheckFrameSize(tc.w, tc.h)
		if (err != nil) != tc.wantErr || errors.Is(err, ErrFrameTooLarge) != tc.wantTooLarge {
			t.Errorf("CheckFrameSize(%d, %d) = %v, want error %v, ErrFrameTooLarge %v", tc.w, tc.h, err, tc.wantErr, tc.wantTooLarge)
		}
	}
}

func TestVP8FrameSize(t *testing.T) {
	interframe := vp8Keyframe(640, 360, 40)
	interframe[0] |= 1
	badStart := vp8Keyframe(640, 360, 40)
	badStart[4] = 0x02
	scaled := vp8Keyframe(640|2<<14, 360|1<<14, 40) // upscaling bits are not part of the size

	tests := []struct {
		name         string
		frame        []byte
		wantW, wantH int
		wantErr      bool
		wantTooLarge bool // from CheckFrameSize
	}{
		{"640x360", vp8Keyframe(640, 360, 40), 640, 360, false, false},
		{"header only", vp8Keyframe(640, 360, 10), 640, 360, false, false},
		{"scaling bits ignored", scaled, 640, 360, false, false},
		{"forged 16383x16383", forgedVP8(), 16383, 16383, false, true},
		{"4097x2304", vp8Keyframe(4097, 2304, 40), 4097, 2304, false, true},
		{"truncated", vp8Keyframe(640, 360, 40)[:9], 0, 0, true, false},
		{"empty", nil, 0, 0, true, false},
		{"not a keyframe", interframe, 0, 0, true, false},
		{"bad start code", badStart, 0, 0, true, false},
		{"zero width", vp8Keyframe(0, 360, 40), 0, 0, true, false},
		{"zero height", vp8Keyframe(640, 1<<14, 40), 0, 0, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, h, err := VP8FrameSize(tc.frame)
			if (err != nil) != tc.wantErr || w != tc.wantW || h != tc.wantH {
				t.Fatalf("VP8FrameSize = %d×%d, %v; want %d×%d, error %v", w, h, err, tc.wantW, tc.wantH, tc.wantErr)
			}
			if err != nil {
				return
			}
			if err := CheckFrameSize(w, h); errors.Is(err, ErrFrameTooLarge) != tc.wantTooLarge {
				t.Fatalf("CheckFrameSize(%d, %d) = %v, want ErrFrameTooLarge %v", w, h, err, tc.wantTooLarge)
			}
		})
	}
}

// bitWriter writes an RBSP most significant bit first, for hand-built parameter sets.
type bitWriter struct {
	buf  []byte
	bits int
}

func (w *bitWriter) u(n int, v uint64) {
	for i := n - 1; i >= 0; i-- {
		if w.bits%8 == 0 {
			w.buf = append(w.buf, 0)
		}
		if v>>i&1 == 1 {
			w.buf[len(w.buf)-1] |= 0x80 >> (w.bits % 8)
		}
		w.bits++
	}
}

func (w *bitWriter) ue(v uint64) {
	n := bits.Len64(v + 1)
	w.u(n-1, 0)
	w.u(n, v+1)
}

func (w *bitWriter) se(v int64) {
	if v > 0 {
		w.ue(uint64(2*v - 1))
	} else {
		w.ue(uint64(-2 * v))
	}
}

// trailing writes rbsp_trailing_bits.
func (w *bitWriter) trailing() {
	w.u(1, 1)
	for w.bits%8 != 0 {
		w.u(1, 0)
	}
}

// escapeRBSP inserts the emulation prevention bytes a NAL unit's payload needs.
func escapeRBSP(rbsp []byte) []byte {
	var out []byte
	zeros := 0
	for _, b := range rbsp {
		if zeros >= 2 && b <= 3 {
			out = append(out, 3)
			zeros = 0
		}
		out = append(out, b)
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

// annexB joins NAL units behind four-byte start codes.
func annexB(nals ...[]byte) []byte {
	var out []byte
	for _, n := range nals {
		out = append(append(out, 0, 0, 0, 1), n...)
	}
	return out
}

// Stand-ins for the other NAL units of a keyframe: a PPS and the start of an IDR slice.
var (
	testPPS = []byte{0x68, 0xce, 0x3c, 0x80}
	testIDR = []byte{0x65, 0x88, 0x84, 0x00, 0x33, 0xff}
)

// testSPS describes a hand-built sequence parameter set; zero values give a 16×16 baseline one.
type testSPS struct {
	profile        uint64 // profile_idc; 0 means 66 (baseline)
	chromaFormat   uint64 // chroma_format_idc, written for high profiles only
	separatePlanes bool   // separate_colour_plane_flag, written when chromaFormat is 3
	bitDepth       uint64 // bit_depth_luma_minus8 and bit_depth_chroma_minus8
	scaling        [][]int64
	pocType        uint64
	pocCycle       []int64 // offset_for_ref_frame, for pocType 1
	pocCycleLen    uint64  // num_ref_frames_in_pic_order_cnt_cycle if not len(pocCycle)
	widthMBs       uint64  // pic_width_in_mbs_minus1
	mapUnits       uint64  // pic_height_in_map_units_minus1
	interlaced     bool    // frame_mbs_only_flag 0
	crop           []uint64
}

// scalingFlat is a scaling list of size entries whose deltas are all 0; scalingDefault is the
// one-delta list that selects the default matrix.
func scalingFlat(size int) []int64 { return make([]int64, size) }

var scalingDefault = []int64{-8}

// scalingVaried is a scaling list of size entries whose deltas span their whole range but never
// bring the scale to 0, which would end the list early.
func scalingVaried(size int) []int64 {
	deltas := make([]int64, size)
	last := int64(8)
	for i := range deltas {
		d := []int64{7, -3, 100, -100, 127, -128, 1, 50}[i%8]
		if (last+d+256)%256 == 0 {
			d++
		}
		deltas[i] = d
		last = (last + d + 256) % 256
	}
	return deltas
}

// rbsp writes the parameter set's payload and returns it with the number of bits the size
// parser needs (all but rbsp_trailing_bits).
func (s testSPS) rbsp() ([]byte, int) {
	var w bitWriter
	profile := s.profile
	if profile == 0 {
		profile = 66
	}
	w.u(8, profile)
	w.u(8, 0)  // constraint flags
	w.u(8, 40) // level_idc
	w.ue(0)    // seq_parameter_set_id
	if profile == 100 || profile == 122 || profile == 244 {
		w.ue(s.chromaFormat)
		if s.chromaFormat == 3 {
			w.u(1, boolBit(s.separatePlanes))
		}
		w.ue(s.bitDepth)
		w.ue(s.bitDepth)
		w.u(1, 0) // qpprime_y_zero_transform_bypass_flag
		w.u(1, boolBit(len(s.scaling) > 0))
		if len(s.scaling) > 0 {
			lists := 8
			if s.chromaFormat == 3 {
				lists = 12
			}
			for i := range lists {
				if i >= len(s.scaling) || s.scaling[i] == nil {
					w.u(1, 0)
					continue
				}
				w.u(1, 1)
				for _, d := range s.scaling[i] {
					w.se(d)
				}
			}
		}
	}
	w.ue(0) // log2_max_frame_num_minus4
	w.ue(s.pocType)
	switch s.pocType {
	case 0:
		w.ue(2) // log2_max_pic_order_cnt_lsb_minus4
	case 1:
		w.u(1, 0) // delta_pic_order_always_zero_flag
		w.se(-3)
		w.se(5)
		n := s.pocCycleLen
		if n == 0 {
			n = uint64(len(s.pocCycle))
		}
		w.ue(n)
		for _, o := range s.pocCycle {
			w.se(o)
		}
	}
	w.ue(1)   // max_num_ref_frames
	w.u(1, 0) // gaps_in_frame_num_value_allowed_flag
	w.ue(s.widthMBs)
	w.ue(s.mapUnits)
	w.u(1, boolBit(!s.interlaced))
	if s.interlaced {
		w.u(1, 1) // mb_adaptive_frame_field_flag
	}
	w.u(1, 1) // direct_8x8_inference_flag
	w.u(1, boolBit(s.crop != nil))
	for _, c := range s.crop {
		w.ue(c)
	}
	needed := w.bits
	w.u(1, 0) // vui_parameters_present_flag
	w.trailing()
	return w.buf, needed
}

// nal returns the parameter set as a NAL unit: header byte and escaped payload.
func (s testSPS) nal() []byte {
	rbsp, _ := s.rbsp()
	return append([]byte{0x67}, escapeRBSP(rbsp)...)
}

// keyframe returns an access unit of the parameter set, a PPS and an IDR slice.
func (s testSPS) keyframe() []byte { return annexB(s.nal(), testPPS, testIDR) }

func boolBit(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// realSPS are SPS NAL units libx264 wrote for ffmpeg's testsrc, keyed by what was asked for.
var realSPS = map[string]struct {
	hex          string
	wantW, wantH int
}{
	"640x360 baseline":      {"6742c016d900a02ff97011000003000100000300020f162e4800", 640, 360},
	"1920x1080 high":        {"67640028acd940780227e5c044000003000400000300083c60c65800", 1920, 1080},
	"642x362 yuv444p":       {"67f40016919b281485fc7cf80880000003008000000301078b16cb00", 642, 362},
	"642x362 yuv422p":       {"677a0016bcd940a42fe227c044000003000400000300083c58b65800", 642, 362},
	"642x362 gray":          {"67640016f3650290bf8f9f016c80000003008000000301078b16cb00", 642, 362},
	"642x362 yuv420p10le":   {"676e0016a6cd940a42fe224c044000000300400000030083c58b658000", 642, 362},
	"1280x720 high default": {"6764001facd9405005bb011000000300100000030020f183196000", 1280, 720},
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}

func TestH264FrameSize(t *testing.T) {
	fields := func(f func(*testSPS)) []byte { // a 1920×1080 high profile SPS, modified by f
		s := testSPS{profile: 100, chromaFormat: 1, widthMBs: 119, mapUnits: 67, crop: []uint64{0, 0, 0, 4}}
		f(&s)
		return s.keyframe()
	}
	allScaling := make([][]int64, 12)
	for i := range allScaling {
		allScaling[i] = scalingFlat(16)
		if i >= 6 {
			allScaling[i] = scalingFlat(64)
		}
	}
	varied := scalingVaried(64)
	// Long runs of zero bits (2^30 is 31 of them in exp-Golomb) need emulation prevention bytes.
	epb := testSPS{pocType: 1, pocCycle: []int64{-(1 << 30), 1 << 30, 0}, widthMBs: 39, mapUnits: 22, crop: []uint64{0, 0, 0, 4}}
	epbRBSP, _ := epb.rbsp()
	if bytes.Equal(escapeRBSP(epbRBSP), epbRBSP) {
		t.Fatalf("the emulation prevention case needs no escaping: %x", epbRBSP)
	}

	tests := []struct {
		name         string
		au           []byte
		wantW, wantH int
		wantErr      bool
		wantTooLarge bool // from H264FrameSize, or else from CheckFrameSize
	}{
		{"baseline 640x360", testSPS{widthMBs: 39, mapUnits: 22, crop: []uint64{0, 0, 0, 4}}.keyframe(), 640, 360, false, false},
		{"baseline uncropped", testSPS{widthMBs: 39, mapUnits: 22}.keyframe(), 640, 368, false, false},
		{"3-byte start code", append([]byte{0, 0, 1}, testSPS{widthMBs: 39, mapUnits: 22}.nal()...), 640, 368, false, false},
		{"after other NAL units", annexB([]byte{0x09, 0xf0}, testPPS, testSPS{widthMBs: 39, mapUnits: 22}.nal()), 640, 368, false, false},
		{"high 1920x1080", fields(func(*testSPS) {}), 1920, 1080, false, false},
		{"high crop all sides", fields(func(s *testSPS) { s.crop = []uint64{1, 2, 3, 4} }), 1920 - 6, 1088 - 14, false, false},
		{"scaling lists", fields(func(s *testSPS) {
			s.scaling = [][]int64{scalingFlat(16), scalingDefault, nil, varied[:16], nil, nil, varied, scalingDefault}
		}), 1920, 1080, false, false},
		{"4:4:4 twelve scaling lists", fields(func(s *testSPS) {
			s.profile, s.chromaFormat, s.scaling, s.crop = 244, 3, allScaling, []uint64{1, 1, 1, 7}
		}), 1918, 1080, false, false},
		{"4:4:4 separate planes", fields(func(s *testSPS) {
			s.profile, s.chromaFormat, s.separatePlanes, s.crop = 244, 3, true, []uint64{1, 1, 1, 7}
		}), 1918, 1080, false, false},
		{"4:2:2", fields(func(s *testSPS) { s.profile, s.chromaFormat, s.crop = 122, 2, []uint64{1, 0, 0, 8} }), 1918, 1080, false, false},
		{"monochrome", fields(func(s *testSPS) { s.chromaFormat, s.crop = 0, []uint64{1, 0, 0, 8} }), 1919, 1080, false, false},
		{"10 bit", fields(func(s *testSPS) { s.bitDepth = 2 }), 1920, 1080, false, false},
		{"interlaced", fields(func(s *testSPS) { s.interlaced, s.mapUnits, s.crop = true, 33, []uint64{0, 0, 0, 2} }), 1920, 1080, false, false},
		{"interlaced monochrome", fields(func(s *testSPS) {
			s.interlaced, s.chromaFormat, s.mapUnits, s.crop = true, 0, 33, []uint64{0, 0, 0, 4}
		}), 1920, 1080, false, false},
		{"poc type 1", fields(func(s *testSPS) { s.pocType, s.pocCycle = 1, []int64{2, -1, 4} }), 1920, 1080, false, false},
		{"poc type 1, 255 offsets", fields(func(s *testSPS) { s.pocType, s.pocCycle = 1, make([]int64, 255) }), 1920, 1080, false, false},
		{"poc type 2", fields(func(s *testSPS) { s.pocType = 2 }), 1920, 1080, false, false},
		{"emulation prevention", epb.keyframe(), 640, 360, false, false},
		{"16384x16384", testSPS{widthMBs: 1023, mapUnits: 1023}.keyframe(), 16384, 16384, false, true},
		{"4112x2304", testSPS{widthMBs: 256, mapUnits: 143}.keyframe(), 4112, 2304, false, true},
		{"4096x2304", testSPS{widthMBs: 255, mapUnits: 143}.keyframe(), 4096, 2304, false, false},
		{"implausible width", testSPS{widthMBs: 1 << 16, mapUnits: 1}.keyframe(), 0, 0, true, true},
		{"implausible height", testSPS{widthMBs: 1, mapUnits: 1 << 20}.keyframe(), 0, 0, true, true},
		{"cropped to nothing", testSPS{widthMBs: 1, crop: []uint64{8, 8, 0, 0}}.keyframe(), 0, 0, true, false},
		{"crop beyond the picture", testSPS{crop: []uint64{0, 0, 1 << 31, 1 << 31}}.keyframe(), 0, 0, true, false},
		{"chroma_format_idc 4", fields(func(s *testSPS) { s.chromaFormat = 4 }), 0, 0, true, false},
		{"bit depth 15", fields(func(s *testSPS) { s.bitDepth = 7 }), 0, 0, true, false},
		{"poc type 3", fields(func(s *testSPS) { s.pocType = 3 }), 0, 0, true, false},
		{"poc cycle of 256", fields(func(s *testSPS) { s.pocType, s.pocCycleLen = 1, 256 }), 0, 0, true, false},
		{"poc cycle longer than the data", fields(func(s *testSPS) { s.pocType, s.pocCycleLen = 1, 200 }), 0, 0, true, false},
		{"scaling delta out of range", fields(func(s *testSPS) { s.scaling = [][]int64{{200}} }), 0, 0, true, false},
		{"no SPS", annexB(testPPS, testIDR), 0, 0, true, false},
		{"SPS header only", annexB([]byte{0x67}), 0, 0, true, false},
		{"start code at the end", []byte{0, 0, 1}, 0, 0, true, false},
		{"empty", nil, 0, 0, true, false},
	}
	for name, sps := range realSPS {
		tests = append(tests, struct {
			name         string
			au           []byte
			wantW, wantH int
			wantErr      bool
			wantTooLarge bool
		}{"libx264 " + name, annexB(mustHex(t, sps.hex), testPPS, testIDR), sps.wantW, sps.wantH, false, false})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, h, err := H264FrameSize(tc.au)
			if (err != nil) != tc.wantErr || w != tc.wantW || h != tc.wantH {
				t.Fatalf("H264FrameSize = %d×%d, %v; want %d×%d, error %v", w, h, err, tc.wantW, tc.wantH, tc.wantErr)
			}
			if err == nil {
				err = CheckFrameSize(w, h)
			}
			if errors.Is(err, ErrFrameTooLarge) != tc.wantTooLarge {
				t.Fatalf("got %v, want ErrFrameTooLarge %v", err, tc.wantTooLarge)
			}
		})
	}
}

// TestH264FrameSizeTruncated cuts parameter sets at every byte before their last needed bit.
func TestH264FrameSizeTruncated(t *testing.T) {
	for name, s := range map[string]testSPS{
		"baseline": {widthMBs: 39, mapUnits: 22, crop: []uint64{0, 0, 0, 4}},
		"high with scaling lists": {profile: 100, chromaFormat: 1, widthMBs: 119, mapUnits: 67,
			scaling: [][]int64{scalingFlat(16), scalingDefault, nil, nil, nil, nil, scalingFlat(64)}, crop: []uint64{0, 0, 0, 4}},
		"poc type 1": {pocType: 1, pocCycle: []int64{1, 2, 3}, widthMBs: 10, mapUnits: 10, interlaced: true},
	} {
		rbsp, needed := s.rbsp()
		if !bytes.Equal(escapeRBSP(rbsp), rbsp) {
			t.Fatalf("%s: needs emulation prevention; cut points would not match the RBSP", name)
		}
		for n := range (needed + 7) / 8 {
			nal := append([]byte{0x67}, rbsp[:n]...)
			for _, au := range [][]byte{annexB(nal), annexB(nal, testPPS, testIDR)} {
				if w, h, err := H264FrameSize(au); err == nil {
					t.Errorf("%s cut to %d of %d bytes (%x): %d×%d, want an error", name, n, len(rbsp), au, w, h)
				}
			}
		}
		if _, _, err := H264FrameSize(annexB(append([]byte{0x67}, rbsp...))); err != nil {
			t.Errorf("%s whole: %v", name, err)
		}
	}
}

// TestH264FrameSizeAllocs holds the parser to its promise of no allocation.
func TestH264FrameSizeAllocs(t *testing.T) {
	au := annexB(mustHex(t, realSPS["1920x1080 high"].hex), testPPS, testIDR)
	huge := testSPS{widthMBs: 1023, mapUnits: 1023}.keyframe()
	vp8 := forgedVP8()
	allocs := testing.AllocsPerRun(100, func() {
		_, _, _ = H264FrameSize(au)
		_, _, _ = H264FrameSize(huge)
		_, _, _ = H264FrameSize(au[:12])
		_, _, _ = VP8FrameSize(vp8)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per run, want 0", allocs)
	}
}

// TestH264FrameSizeExpGolomb checks the bounds of the exp-Golomb reader: 31 leading zeros at
// most, truncation anywhere is an error.
func TestH264FrameSizeExpGolomb(t *testing.T) {
	tests := []struct {
		name          string
		write         func(w *bitWriter)
		want          uint32
		wantTruncated bool
		wantInvalid   bool
	}{
		{"0", func(w *bitWriter) { w.ue(0) }, 0, false, false},
		{"1", func(w *bitWriter) { w.ue(1) }, 1, false, false},
		{"2^31", func(w *bitWriter) { w.ue(1 << 31) }, 1 << 31, false, false},
		{"2^32-2, 31 leading zeros", func(w *bitWriter) { w.ue(1<<32 - 2) }, 1<<32 - 2, false, false},
		{"32 leading zeros", func(w *bitWriter) { w.u(32, 0); w.u(1, 1); w.u(32, 0) }, 0, false, true},
		{"64 leading zeros", func(w *bitWriter) { w.u(64, 0); w.u(8, 0xff) }, 0, false, true},
		{"only zeros", func(w *bitWriter) { w.u(16, 0) }, 0, true, false},
		{"suffix cut", func(w *bitWriter) { w.u(10, 0); w.u(6, 0x3f) }, 0, true, false},
		{"nothing", func(*bitWriter) {}, 0, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var w bitWriter
			tc.write(&w)
			r := bitReader{buf: w.buf}
			got := r.ue()
			if got != tc.want || r.truncated != tc.wantTruncated || r.invalid != tc.wantInvalid {
				t.Fatalf("ue() of %x = %d, truncated %v, invalid %v; want %d, %v, %v",
					w.buf, got, r.truncated, r.invalid, tc.want, tc.wantTruncated, tc.wantInvalid)
			}
			if r.failed() != (r.err() != nil) {
				t.Fatalf("failed() %v but err() %v", r.failed(), r.err())
			}
		})
	}
	// Reads after a failure return 0 and keep the first failure.
	r := bitReader{buf: []byte{0x00}}
	r.u(9)
	if r.u(1) != 0 || r.ue() != 0 || r.invalidField() != errH264SPSTruncated {
		t.Fatalf("after truncation: %v", r.err())
	}
}

// haveFFmpeg skips the test when no working ffmpeg is installed.
func haveFFmpeg(t *testing.T) {
	t.Helper()
	if err := exec.Command("ffmpeg", "-hide_banner", "-version").Run(); err != nil {
		t.Skipf("no working ffmpeg on PATH (%v): skipping the real-stream checks", err)
	}
}

// encodeTestsrc encodes one frame of ffmpeg's test pattern with extra output options.
func encodeTestsrc(t *testing.T, size string, args ...string) []byte {
	t.Helper()
	full := append([]string{"-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=" + size + ":rate=1",
		"-frames:v", "1"}, args...)
	out, err := exec.Command("ffmpeg", append(full, "pipe:1")...).Output()
	if err != nil {
		var stderr []byte
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("ffmpeg %v: %v\n%s", full, err, stderr)
	}
	return out
}

// TestH264FrameSizeFFmpeg checks the parser against streams libx264 writes now.
func TestH264FrameSizeFFmpeg(t *testing.T) {
	haveFFmpeg(t)
	tests := []struct {
		name, size   string
		wantW, wantH int
		args         []string
	}{
		{"640x360 baseline", "640x360", 640, 360, []string{"-pix_fmt", "yuv420p", "-profile:v", "baseline"}},
		{"640x360 high", "640x360", 640, 360, []string{"-pix_fmt", "yuv420p"}},
		{"1920x1080 high", "1920x1080", 1920, 1080, []string{"-pix_fmt", "yuv420p"}},
		{"1920x1080 interlaced", "1920x1080", 1920, 1080, []string{"-pix_fmt", "yuv420p", "-x264-params", "interlaced=1"}},
		{"642x362 4:4:4", "642x362", 642, 362, []string{"-pix_fmt", "yuv444p"}},
		{"642x362 4:2:2", "642x362", 642, 362, []string{"-pix_fmt", "yuv422p"}},
		{"642x362 monochrome", "642x362", 642, 362, []string{"-pix_fmt", "gray"}},
		{"642x362 10 bit", "642x362", 642, 362, []string{"-pix_fmt", "yuv420p10le"}},
		{"4096x2304 at the limit", "4096x2304", 4096, 2304, []string{"-pix_fmt", "yuv420p", "-preset", "ultrafast"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			au := encodeTestsrc(t, tc.size, append([]string{"-c:v", "libx264"}, append(tc.args, "-f", "h264")...)...)
			w, h, err := H264FrameSize(au)
			if err != nil || w != tc.wantW || h != tc.wantH {
				t.Fatalf("H264FrameSize = %d×%d, %v; want %d×%d", w, h, err, tc.wantW, tc.wantH)
			}
		})
	}
}

// TestSnapshotRefusesForgedFrameSize feeds decodeKeyframe keyframes whose headers claim huge
// pictures: it must refuse them with ErrFrameTooLarge before a decoder allocates for them.
func TestSnapshotRefusesForgedFrameSize(t *testing.T) {
	ctx := context.Background()
	t.Run("vp8", func(t *testing.T) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		img, err := decodeKeyframe(ctx, "video/vp8", forgedVP8())
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrFrameTooLarge) || img != nil {
			t.Fatalf("decodeKeyframe = %v, %v; want ErrFrameTooLarge", img, err)
		}
		// The decoder would allocate about 390 MB; the check itself a few hundred bytes.
		if n := after.TotalAlloc - before.TotalAlloc; n >= 1<<20 {
			t.Fatalf("decodeKeyframe allocated %d bytes refusing a 37-byte frame, want < 1 MB", n)
		}
	})
	t.Run("h264", func(t *testing.T) {
		// Without ffmpeg on PATH, reaching the decoder would fail with ErrNoDecoder instead.
		t.Setenv("PATH", t.TempDir())
		for _, au := range [][]byte{
			testSPS{widthMBs: 1023, mapUnits: 1023}.keyframe(),
			testSPS{widthMBs: 1 << 20, mapUnits: 1 << 20}.keyframe(),
		} {
			img, err := decodeKeyframe(ctx, "video/h264", au)
			if !errors.Is(err, ErrFrameTooLarge) || img != nil {
				t.Fatalf("decodeKeyframe = %v, %v; want ErrFrameTooLarge", img, err)
			}
		}
		// An access unit with no SPS cannot be checked, so it is not decoded either.
		if _, err := decodeKeyframe(ctx, "video/h264", annexB(testPPS, testIDR)); err == nil || errors.Is(err, ErrNoDecoder) {
			t.Fatalf("decodeKeyframe without SPS = %v, want a parse error", err)
		}
	})
}

// TestSnapshotDecodesRealKeyframes checks that keyframes within the limit still decode.
func TestSnapshotDecodesRealKeyframes(t *testing.T) {
	haveFFmpeg(t)
	ctx := context.Background()
	t.Run("vp8", func(t *testing.T) {
		ivf := encodeTestsrc(t, "640x360", "-c:v", "libvpx", "-f", "ivf")
		if len(ivf) < 32+12 {
			t.Fatalf("ivf of %d bytes", len(ivf))
		}
		n := int(binary.LittleEndian.Uint32(ivf[32:])) // after the file header, the first frame's size
		frame := ivf[44:min(len(ivf), 44+n)]
		img, err := decodeKeyframe(ctx, "video/vp8", frame)
		if err != nil || img.Bounds().Dx() != 640 || img.Bounds().Dy() != 360 {
			t.Fatalf("decodeKeyframe = %v, %v; want a 640×360 image", img, err)
		}
	})
	t.Run("h264", func(t *testing.T) {
		for _, tc := range []struct {
			size         string
			wantW, wantH int
		}{{"640x360", 640, 360}, {"4096x2304", 4096, 2304}} {
			au := encodeTestsrc(t, tc.size, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "ultrafast", "-f", "h264")
			img, err := decodeKeyframe(ctx, "video/h264", au)
			if err != nil || img.Bounds().Dx() != tc.wantW || img.Bounds().Dy() != tc.wantH {
				t.Fatalf("decodeKeyframe %s = %v, %v; want a %d×%d image", tc.size, img, err, tc.wantW, tc.wantH)
			}
		}
	})
}
