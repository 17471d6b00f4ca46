package sfu

import "strings"

// IsKeyframeStart reports whether an RTP payload of the given codec (MIME type
// such as "video/VP8") starts a keyframe. Subscribers are fed from a keyframe
// on, so they never try to decode a delta frame without its reference.
func IsKeyframeStart(mime string, payload []byte) bool {
	switch strings.ToLower(mime) {
	case "video/vp8":
		return vp8KeyframeStart(payload)
	case "video/h264":
		return h264KeyframeStart(payload)
	}
	return false
}

// vp8KeyframeStart parses the VP8 payload descriptor (RFC 7741 §4.2) and the
// first byte of the frame header (RFC 6386 §9.1, bit 0 clear = key frame).
func vp8KeyframeStart(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	i := 1
	x, s, pid := p[0]&0x80 != 0, p[0]&0x10 != 0, p[0]&0x07
	if !s || pid != 0 {
		return false
	}
	if x {
		if len(p) < 2 {
			return false
		}
		ext := p[1]
		i = 2
		if ext&0x80 != 0 { // I: picture id
			if len(p) <= i {
				return false
			}
			if p[i]&0x80 != 0 {
				i += 2
			} else {
				i++
			}
		}
		if ext&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if ext&0x30 != 0 { // T or K: TID/KEYIDX byte
			i++
		}
	}
	if len(p) <= i {
		return false
	}
	return p[i]&0x01 == 0
}

// h264KeyframeStart looks for an IDR slice or SPS at the start of a single NAL
// unit, inside a STAP-A aggregate, or in the first fragment of an FU-A.
func h264KeyframeStart(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	switch nal := p[0] & 0x1f; nal {
	case 5, 7:
		return true
	case 24: // STAP-A: 2-byte size, then a NAL unit, repeated
		for i := 1; i+2 < len(p); {
			size := int(p[i])<<8 | int(p[i+1])
			if size == 0 || i+2+size > len(p) {
				return false
			}
			if t := p[i+2] & 0x1f; t == 5 || t == 7 {
				return true
			}
			i += 2 + size
		}
	case 28: // FU-A: start bit and the fragmented NAL's type
		if len(p) < 2 {
			return false
		}
		if p[1]&0x80 != 0 {
			t := p[1] & 0x1f
			return t == 5 || t == 7
		}
	}
	return false
}

// keyframeDetector returns the keyframe test for a codec's MIME type, chosen
// once per track so the per-packet check does no string work.
func keyframeDetector(mime string) func([]byte) bool {
	switch strings.ToLower(mime) {
	case "video/vp8":
		return vp8KeyframeStart
	case "video/h264":
		return h264KeyframeStart
	}
	return func([]byte) bool { return false }
}
