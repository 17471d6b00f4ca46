package sfu

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// MaxFramePixels is the largest picture (width × height, 4096×2304) the server decodes for a
// snapshot, so that a publisher's forged header cannot make a decoder allocate hundreds of megabytes.
const MaxFramePixels = 4096 * 2304

// ErrFrameTooLarge reports a keyframe whose header claims more than MaxFramePixels, refused
// before any decoder runs so that callers can answer it as unprocessable input.
var ErrFrameTooLarge = errors.New("the frame's header claims a picture larger than the server decodes")

// CheckFrameSize refuses a picture size a decoder should not be asked to allocate: a wrapped
// ErrFrameTooLarge above MaxFramePixels, a plain error for an empty or negative size.
func CheckFrameSize(w, h int) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("frame size %dx%d is not a picture", w, h)
	}
	if w > MaxFramePixels/h { // w*h > MaxFramePixels, without overflow
		return fmt.Errorf("frame size %dx%d, limit %d pixels: %w", w, h, MaxFramePixels, ErrFrameTooLarge)
	}
	return nil
}

// Errors of the header parsers; package-level so that parsing a hostile header allocates nothing.
var (
	errVP8Truncated      = errors.New("vp8 frame header truncated")
	errVP8NotKeyframe    = errors.New("vp8 frame is not a keyframe")
	errVP8StartCode      = errors.New("vp8 keyframe has no start code")
	errVP8EmptyPicture   = errors.New("vp8 keyframe header claims an empty picture")
	errH264NoSPS         = errors.New("h264 access unit holds no sequence parameter set")
	errH264SPSTruncated  = errors.New("h264 sequence parameter set truncated")
	errH264SPSInvalid    = errors.New("h264 sequence parameter set has an out-of-range field")
	errH264SPSEmptyImage = errors.New("h264 sequence parameter set crops the picture to nothing")
	errH264SPSHuge       = fmt.Errorf("h264 sequence parameter set claims an implausible size: %w", ErrFrameTooLarge)
)

// VP8FrameSize reads the width and height a VP8 keyframe's header (RFC 6386 §9.1) claims,
// without decoding anything, so that the claim can be checked before a decoder allocates for it.
func VP8FrameSize(frame []byte) (w, h int, err error) {
	if len(frame) < 10 { // 3-byte frame tag, 3-byte start code, two 16-bit sizes
		return 0, 0, errVP8Truncated
	}
	if frame[0]&1 != 0 {
		return 0, 0, errVP8NotKeyframe
	}
	if frame[3] != 0x9d || frame[4] != 0x01 || frame[5] != 0x2a {
		return 0, 0, errVP8StartCode
	}
	// The top two bits of each are a display upscaling factor; the decoder allocates for the rest.
	w = int(binary.LittleEndian.Uint16(frame[6:8]) & 0x3fff)
	h = int(binary.LittleEndian.Uint16(frame[8:10]) & 0x3fff)
	if w == 0 || h == 0 {
		return 0, 0, errVP8EmptyPicture
	}
	return w, h, nil
}

// maxSPSBytes bounds the copy of an SPS payload: a real one is a few dozen bytes, a few hundred
// with explicit scaling matrices, and the copy lives on the stack.
const maxSPSBytes = 512

// maxSPSMacroblocks bounds pic_width_in_mbs and pic_height_in_map_units far above any level's
// limit (level 6.2 allows 139264 macroblocks per frame), so that sizes cannot overflow an int.
const maxSPSMacroblocks = 1 << 16

// H264FrameSize reads the width and height (after cropping) that the first sequence parameter
// set of an Annex-B access unit claims (ITU-T H.264 §7.3.2.1.1), without allocating, so that the
// claim can be checked before a decoder allocates for it.
func H264FrameSize(au []byte) (w, h int, err error) {
	nal := findSPS(au)
	if nal == nil {
		return 0, 0, errH264NoSPS
	}
	var rbsp [maxSPSBytes]byte
	r := bitReader{buf: unescapeRBSP(rbsp[:], nal[1:])} // nal[0] is the NAL unit header
	return parseSPSSize(&r)
}

// findSPS returns the Annex-B stream from the first NAL unit of type 7 on (header byte
// included), or nil; unescapeRBSP finds the unit's end.
func findSPS(au []byte) []byte {
	startCode := []byte{0, 0, 1}
	for {
		i := bytes.Index(au, startCode)
		if i < 0 {
			return nil
		}
		au = au[i+3:]
		if len(au) > 0 && au[0]&0x1f == 7 {
			return au
		}
	}
}

// unescapeRBSP copies the payload of a NAL unit into dst without its emulation prevention bytes
// (the 03 of each 00 00 03) and returns the filled part of dst. It stops at the unit's end,
// 00 00 00, 00 00 01 or 00 00 02, which never occur inside one, dropping the zeros before it (an
// RBSP ends in a stop bit, so they are trailing_zero_8bits or a start code's); or when dst is
// full, and then a parse needing more fails as truncated.
func unescapeRBSP(dst, nal []byte) []byte {
	n, zeros := 0, 0
	for _, b := range nal {
		if zeros >= 2 && b <= 2 {
			return dst[:n-zeros]
		}
		if n == len(dst) {
			break
		}
		if zeros >= 2 && b == 3 {
			zeros = 0
			continue
		}
		dst[n] = b
		n++
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return dst[:n]
}

// parseSPSSize reads a sequence parameter set up to frame_cropping and returns the cropped size.
func parseSPSSize(r *bitReader) (w, h int, err error) {
	profile := r.u(8)
	r.u(8) // constraint_set0..5 flags and reserved_zero_2bits
	r.u(8) // level_idc
	if r.ue() > 31 {
		return 0, 0, r.invalidField() // seq_parameter_set_id
	}
	chromaFormat, separateColourPlane := uint32(1), false // 4:2:0 unless a high profile says otherwise
	switch profile {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		if chromaFormat = r.ue(); chromaFormat > 3 {
			return 0, 0, r.invalidField()
		}
		if chromaFormat == 3 {
			separateColourPlane = r.u(1) == 1
		}
		lumaDepth := r.ue()   // bit_depth_luma_minus8
		chromaDepth := r.ue() // bit_depth_chroma_minus8
		if lumaDepth > 6 || chromaDepth > 6 {
			return 0, 0, r.invalidField()
		}
		r.u(1) // qpprime_y_zero_transform_bypass_flag
		// seq_scaling_matrix_present_flag, then for each list its present flag and the list.
		if r.u(1) == 1 {
			lists := 8
			if chromaFormat == 3 {
				lists = 12
			}
			for i := 0; i < lists && !r.failed(); i++ {
				if r.u(1) == 1 {
					size := 16
					if i >= 6 {
						size = 64
					}
					if err := r.skipScalingList(size); err != nil {
						return 0, 0, err
					}
				}
			}
		}
	}
	if r.ue() > 12 {
		return 0, 0, r.invalidField() // log2_max_frame_num_minus4
	}
	switch r.ue() { // pic_order_cnt_type
	case 0:
		if r.ue() > 12 {
			return 0, 0, r.invalidField() // log2_max_pic_order_cnt_lsb_minus4
		}
	case 1:
		r.u(1)      // delta_pic_order_always_zero_flag
		r.se()      // offset_for_non_ref_pic
		r.se()      // offset_for_top_to_bottom_field
		n := r.ue() // num_ref_frames_in_pic_order_cnt_cycle
		if n > 255 {
			return 0, 0, r.invalidField()
		}
		for i := uint32(0); i < n && !r.failed(); i++ {
			r.se() // offset_for_ref_frame[i]
		}
	case 2: // nothing more
	default:
		return 0, 0, r.invalidField()
	}
	r.ue() // max_num_ref_frames
	r.u(1) // gaps_in_frame_num_value_allowed_flag
	widthMBs := int64(r.ue()) + 1
	mapUnits := int64(r.ue()) + 1
	frameMBsOnly := int64(r.u(1))
	if frameMBsOnly == 0 {
		r.u(1) // mb_adaptive_frame_field_flag
	}
	r.u(1) // direct_8x8_inference_flag
	var cropLeft, cropRight, cropTop, cropBottom int64
	if r.u(1) == 1 { // frame_cropping_flag
		cropLeft, cropRight, cropTop, cropBottom = int64(r.ue()), int64(r.ue()), int64(r.ue()), int64(r.ue())
	}
	if r.failed() {
		return 0, 0, r.err()
	}
	if widthMBs > maxSPSMacroblocks || mapUnits > maxSPSMacroblocks {
		return 0, 0, errH264SPSHuge
	}

	// Crop units (§7.4.2.1.1): samples of luma per unit of frame_crop_*_offset.
	cropUnitX, cropUnitY := int64(1), 2-frameMBsOnly
	if !separateColourPlane && chromaFormat != 0 { // ChromaArrayType != 0: SubWidthC, SubHeightC
		if chromaFormat != 3 {
			cropUnitX = 2
		}
		if chromaFormat == 1 {
			cropUnitY *= 2
		}
	}
	width := widthMBs * 16
	height := (2 - frameMBsOnly) * mapUnits * 16
	width -= cropUnitX * (cropLeft + cropRight) // each offset < 2^32: no overflow
	height -= cropUnitY * (cropTop + cropBottom)
	if width <= 0 || height <= 0 {
		return 0, 0, errH264SPSEmptyImage
	}
	return int(width), int(height), nil
}

// bitReader reads an RBSP most significant bit first. Its first failure sticks: later reads
// return 0, so a parse checks it once at its end and in any loop. The failure is kept as flags,
// not an error value, so that returning it does not make the buffer escape to the heap.
type bitReader struct {
	buf       []byte
	pos       int // in bits
	truncated bool
	invalid   bool
}

func (r *bitReader) failed() bool { return r.truncated || r.invalid }

// err returns the reader's failure, or nil.
func (r *bitReader) err() error {
	switch {
	case r.truncated:
		return errH264SPSTruncated
	case r.invalid:
		return errH264SPSInvalid
	}
	return nil
}

// invalidField records an out-of-range field unless an earlier failure (usually truncation,
// the cause) is already recorded, and returns the failure.
func (r *bitReader) invalidField() error {
	if !r.failed() {
		r.invalid = true
	}
	return r.err()
}

// u reads an n-bit unsigned integer, n <= 32.
func (r *bitReader) u(n int) uint32 {
	if r.failed() {
		return 0
	}
	if n > len(r.buf)*8-r.pos {
		r.truncated = true
		return 0
	}
	var v uint32
	for range n {
		v = v<<1 | uint32(r.buf[r.pos>>3]>>(7-r.pos&7)&1)
		r.pos++
	}
	return v
}

// ue reads an unsigned exp-Golomb code (§9.1), refusing more than 31 leading zeros (values
// of 2^32 - 1 and above).
func (r *bitReader) ue() uint32 {
	zeros := 0
	for !r.failed() && r.u(1) == 0 {
		if zeros++; zeros > 31 {
			r.invalidField()
		}
	}
	v := r.u(zeros)
	if r.failed() {
		return 0
	}
	return 1<<zeros - 1 + v
}

// se reads a signed exp-Golomb code (§9.1.1).
func (r *bitReader) se() int64 {
	k := int64(r.ue())
	if k&1 == 1 {
		return (k + 1) / 2
	}
	return -k / 2
}

// skipScalingList reads past one scaling_list() of size coefficients (§7.3.2.1.1.1).
func (r *bitReader) skipScalingList(size int) error {
	last, next := int64(8), int64(8)
	for range size {
		if next != 0 {
			delta := r.se() // delta_scale
			if r.failed() {
				return r.err()
			}
			if delta < -128 || delta > 127 {
				return r.invalidField()
			}
			next = (last + delta + 256) % 256
		}
		if next != 0 {
			last = next
		}
	}
	return r.err()
}
