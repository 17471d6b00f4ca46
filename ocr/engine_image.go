package ocr

import (
	"image"
	"image/color"
	"math"
)

// bgr is an 8-bit image in the byte order PaddleOCR's models were trained on:
// OpenCV's BGR, interleaved, stride 3*w.
type bgr struct {
	w, h int
	pix  []uint8
}

func newBGR(w, h int) *bgr { return &bgr{w: w, h: h, pix: make([]uint8, 3*w*h)} }

// toBGR copies img into a bgr. Transparent pixels are put on white, as a document
// would be; the common decoder types take a fast path without per-pixel interface calls.
func toBGR(img image.Image) *bgr {
	b := img.Bounds()
	dst := newBGR(b.Dx(), b.Dy())
	o := 0
	switch m := img.(type) {
	case *image.YCbCr: // video snapshots and JPEG photos
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				r, g, bl := color.YCbCrToRGB(m.Y[m.YOffset(x, y)], m.Cb[m.COffset(x, y)], m.Cr[m.COffset(x, y)])
				dst.pix[o], dst.pix[o+1], dst.pix[o+2] = bl, g, r
				o += 3
			}
		}
	case *image.RGBA: // premultiplied: c + (255-a) is c over white
		for y := b.Min.Y; y < b.Max.Y; y++ {
			p := m.Pix[m.PixOffset(b.Min.X, y):]
			for x := 0; x < b.Dx(); x++ {
				w := 255 - p[4*x+3]
				dst.pix[o], dst.pix[o+1], dst.pix[o+2] = p[4*x+2]+w, p[4*x+1]+w, p[4*x]+w
				o += 3
			}
		}
	case *image.NRGBA:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			p := m.Pix[m.PixOffset(b.Min.X, y):]
			for x := 0; x < b.Dx(); x++ {
				a := p[4*x+3]
				dst.pix[o], dst.pix[o+1], dst.pix[o+2] = overWhite(p[4*x+2], a), overWhite(p[4*x+1], a), overWhite(p[4*x], a)
				o += 3
			}
		}
	case *image.Gray:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			p := m.Pix[m.PixOffset(b.Min.X, y):]
			for x := 0; x < b.Dx(); x++ {
				dst.pix[o], dst.pix[o+1], dst.pix[o+2] = p[x], p[x], p[x]
				o += 3
			}
		}
	default:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				r, g, bl, a := img.At(x, y).RGBA() // premultiplied, 16 bits
				w := 0xffff - a
				dst.pix[o], dst.pix[o+1], dst.pix[o+2] = uint8((bl+w)>>8), uint8((g+w)>>8), uint8((r+w)>>8)
				o += 3
			}
		}
	}
	return dst
}

// overWhite composes a non-premultiplied colour value c of opacity a over white.
func overWhite(c, a uint8) uint8 {
	return uint8((uint32(c)*uint32(a) + 255*(255-uint32(a)) + 127) / 255)
}

// taps are the precomputed source contributions of each output index of a
// one-dimensional resize: output i reads n[i] pixels from first[i] on, with
// weights w[off[i]:off[i]+n[i]].
type taps struct {
	first, n, off []int
	w             []float32
}

// resizeTaps builds a triangle filter from src to dst samples with pixel centres
// at i+0.5. Upscaling it is exactly bilinear interpolation (OpenCV's INTER_LINEAR,
// which PaddleOCR uses); downscaling it widens to the scale factor, so that a
// large photo shrunk for detection is averaged rather than aliased.
func resizeTaps(src, dst int) taps {
	scale := float64(src) / float64(dst)
	support := math.Max(scale, 1)
	t := taps{first: make([]int, dst), n: make([]int, dst), off: make([]int, dst)}
	for i := 0; i < dst; i++ {
		c := (float64(i)+0.5)*scale - 0.5
		lo := int(math.Ceil(c - support))
		hi := int(math.Floor(c + support))
		if lo < 0 {
			lo = 0 // outside the image: renormalise over the pixels inside
		}
		if hi > src-1 {
			hi = src - 1
		}
		if hi < lo { // only when c lies outside: take the nearest pixel
			lo, hi = min(max(int(math.Round(c)), 0), src-1), min(max(int(math.Round(c)), 0), src-1)
		}
		t.first[i], t.n[i], t.off[i] = lo, hi-lo+1, len(t.w)
		var sum float64
		for j := lo; j <= hi; j++ {
			sum += math.Max(0, 1-math.Abs(float64(j)-c)/support)
		}
		for j := lo; j <= hi; j++ {
			wt := math.Max(0, 1-math.Abs(float64(j)-c)/support)
			if sum > 0 {
				wt /= sum
			} else {
				wt = 1 / float64(hi-lo+1)
			}
			t.w = append(t.w, float32(wt))
		}
	}
	return t
}

// resize scales src to dw×dh with the separable filter of resizeTaps.
func (src *bgr) resize(dw, dh int) *bgr {
	if dw == src.w && dh == src.h {
		return src
	}
	tx, ty := resizeTaps(src.w, dw), resizeTaps(src.h, dh)
	// Horizontal pass into float rows, then vertical pass into bytes.
	tmp := make([]float32, 3*dw*src.h)
	for y := 0; y < src.h; y++ {
		row := src.pix[3*src.w*y : 3*src.w*(y+1)]
		out := tmp[3*dw*y : 3*dw*(y+1)]
		for x := 0; x < dw; x++ {
			var b, g, r float32
			ws := tx.w[tx.off[x] : tx.off[x]+tx.n[x]]
			p := row[3*tx.first[x]:]
			for k, wt := range ws {
				b += wt * float32(p[3*k])
				g += wt * float32(p[3*k+1])
				r += wt * float32(p[3*k+2])
			}
			out[3*x], out[3*x+1], out[3*x+2] = b, g, r
		}
	}
	dst := newBGR(dw, dh)
	acc := make([]float32, 3*dw)
	for y := 0; y < dh; y++ {
		clear(acc)
		for k, wt := range ty.w[ty.off[y] : ty.off[y]+ty.n[y]] {
			row := tmp[3*dw*(ty.first[y]+k) : 3*dw*(ty.first[y]+k+1)]
			for i, v := range row {
				acc[i] += wt * v
			}
		}
		out := dst.pix[3*dw*y : 3*dw*(y+1)]
		for i, v := range acc {
			out[i] = clampByte(v)
		}
	}
	return dst
}

func clampByte(v float32) uint8 {
	if v <= 0 {
		return 0
	}
	if v >= 255 {
		return 255
	}
	return uint8(v + 0.5)
}

// fillCHW writes img into one image of an NCHW float tensor whose planes are
// planeW×planeH (img may be narrower: the rest stays as the caller left it,
// zero), as v*scale[c] + bias[c] per BGR channel c.
func fillCHW(dst []float32, planeW, planeH int, img *bgr, scale, bias [3]float32) {
	plane := planeW * planeH
	for y := 0; y < img.h; y++ {
		row := img.pix[3*img.w*y : 3*img.w*(y+1)]
		b := dst[y*planeW : y*planeW+img.w]
		g := dst[plane+y*planeW : plane+y*planeW+img.w]
		r := dst[2*plane+y*planeW : 2*plane+y*planeW+img.w]
		for x := range b {
			b[x] = float32(row[3*x])*scale[0] + bias[0]
			g[x] = float32(row[3*x+1])*scale[1] + bias[1]
			r[x] = float32(row[3*x+2])*scale[2] + bias[2]
		}
	}
}

// pt is a point in image coordinates, pixel centres at integers.
type pt struct{ x, y float64 }

// quad is a text box: top-left, top-right, bottom-right, bottom-left.
type quad [4]pt

func dist(a, b pt) float64 { return math.Hypot(a.x-b.x, a.y-b.y) }

// cropQuad warps the quadrilateral q of src onto an upright rectangle as wide as
// its longer horizontal edge and as tall as its longer vertical edge, sampling
// bilinearly with replicated borders; a crop at least 1.5 times taller than wide is
// turned 90° counter-clockwise, as PaddleOCR's get_rotate_crop_image does, since
// it is most likely vertical text.
func cropQuad(src *bgr, q quad) *bgr {
	w := max(int(math.Max(dist(q[0], q[1]), dist(q[2], q[3]))), 1)
	h := max(int(math.Max(dist(q[0], q[3]), dist(q[1], q[2]))), 1)
	hm := squareToQuad(q)
	dst := newBGR(w, h)
	o := 0
	for v := 0; v < h; v++ {
		t := float64(v) / float64(h)
		for u := 0; u < w; u++ {
			s := float64(u) / float64(w)
			x, y := hm.apply(s, t)
			src.sample(x, y, dst.pix[o:o+3])
			o += 3
		}
	}
	if float64(h)/float64(w) >= 1.5 {
		return dst.rot90()
	}
	return dst
}

// homography maps the unit square onto a quadrilateral (Heckbert's square-to-quad).
type homography struct{ a, b, c, d, e, f, g, h float64 }

func squareToQuad(q quad) homography {
	sx := q[0].x - q[1].x + q[2].x - q[3].x
	sy := q[0].y - q[1].y + q[2].y - q[3].y
	dx1, dx2 := q[1].x-q[2].x, q[3].x-q[2].x
	dy1, dy2 := q[1].y-q[2].y, q[3].y-q[2].y
	den := dx1*dy2 - dx2*dy1
	var g, h float64
	if math.Abs(den) > 1e-12 && (sx != 0 || sy != 0) {
		g = (sx*dy2 - dx2*sy) / den
		h = (dx1*sy - sx*dy1) / den
	}
	return homography{
		a: q[1].x - q[0].x + g*q[1].x, b: q[3].x - q[0].x + h*q[3].x, c: q[0].x,
		d: q[1].y - q[0].y + g*q[1].y, e: q[3].y - q[0].y + h*q[3].y, f: q[0].y,
		g: g, h: h,
	}
}

func (m homography) apply(s, t float64) (float64, float64) {
	z := m.g*s + m.h*t + 1
	return (m.a*s + m.b*t + m.c) / z, (m.d*s + m.e*t + m.f) / z
}

// sample writes the bilinear interpolation of src at (x, y) into out[0:3],
// clamping to the border.
func (src *bgr) sample(x, y float64, out []uint8) {
	x = math.Min(math.Max(x, 0), float64(src.w-1))
	y = math.Min(math.Max(y, 0), float64(src.h-1))
	x0, y0 := int(x), int(y)
	x1, y1 := min(x0+1, src.w-1), min(y0+1, src.h-1)
	fx, fy := float32(x-float64(x0)), float32(y-float64(y0))
	p00 := src.pix[3*(y0*src.w+x0):]
	p01 := src.pix[3*(y0*src.w+x1):]
	p10 := src.pix[3*(y1*src.w+x0):]
	p11 := src.pix[3*(y1*src.w+x1):]
	for c := 0; c < 3; c++ {
		top := float32(p00[c]) + fx*(float32(p01[c])-float32(p00[c]))
		bot := float32(p10[c]) + fx*(float32(p11[c])-float32(p10[c]))
		out[c] = clampByte(top + fy*(bot-top))
	}
}

// rot90 returns src turned 90° counter-clockwise (numpy's rot90).
func (src *bgr) rot90() *bgr {
	dst := newBGR(src.h, src.w)
	for i := 0; i < dst.h; i++ {
		for j := 0; j < dst.w; j++ {
			s := 3 * (j*src.w + src.w - 1 - i)
			copy(dst.pix[3*(i*dst.w+j):3*(i*dst.w+j)+3], src.pix[s:s+3])
		}
	}
	return dst
}

// rotate180 turns src upside down in place.
func (src *bgr) rotate180() {
	p := src.pix
	for i, j := 0, len(p)-3; i < j; i, j = i+3, j-3 {
		p[i], p[i+1], p[i+2], p[j], p[j+1], p[j+2] = p[j], p[j+1], p[j+2], p[i], p[i+1], p[i+2]
	}
}
