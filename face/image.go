package face

import (
	"image"
	"image/color"
	"math"
)

// rgb is an 8-bit RGB raster, 3 bytes a pixel: what TensorFlow.js's image decoders give the nets
// (alpha dropped, colours not premultiplied).
type rgb struct {
	w, h int
	pix  []uint8
}

// toRGB copies the part r of img (in img's coordinates, clipped to its bounds) into an rgb whose
// origin is r.Min.
func toRGB(img image.Image, r image.Rectangle) *rgb {
	r = r.Intersect(img.Bounds())
	return toRGBInto(img, r, make([]uint8, 3*r.Dx()*r.Dy()))
}

// toRGBInto is toRGB into pix (3 × the area of r, r within img's bounds), so
// a caller converting strip after strip reuses one buffer.
func toRGBInto(img image.Image, r image.Rectangle, pix []uint8) *rgb {
	out := &rgb{w: r.Dx(), h: r.Dy(), pix: pix}
	i := 0
	switch m := img.(type) {
	case *image.YCbCr:
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				yi, ci := m.YOffset(x, y), m.COffset(x, y)
				out.pix[i], out.pix[i+1], out.pix[i+2] = color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				i += 3
			}
		}
	case *image.NRGBA:
		for y := r.Min.Y; y < r.Max.Y; y++ {
			row := m.Pix[m.PixOffset(r.Min.X, y):]
			for x := 0; x < r.Dx(); x++ {
				copy(out.pix[i:i+3], row[4*x:4*x+3])
				i += 3
			}
		}
	case *image.RGBA:
		for y := r.Min.Y; y < r.Max.Y; y++ {
			row := m.Pix[m.PixOffset(r.Min.X, y):]
			for x := 0; x < r.Dx(); x++ {
				p := row[4*x : 4*x+4]
				if a := p[3]; a == 255 || a == 0 {
					copy(out.pix[i:i+3], p[:3])
				} else { // un-premultiply, as a decoder that drops alpha would have seen it
					for j := range 3 {
						out.pix[i+j] = uint8(min(255, (int(p[j])*255+int(a)/2)/int(a)))
					}
				}
				i += 3
			}
		}
	case *image.Gray:
		for y := r.Min.Y; y < r.Max.Y; y++ {
			row := m.Pix[m.PixOffset(r.Min.X, y):]
			for x := 0; x < r.Dx(); x++ {
				v := row[x]
				out.pix[i], out.pix[i+1], out.pix[i+2] = v, v, v
				i += 3
			}
		}
	default:
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
				out.pix[i], out.pix[i+1], out.pix[i+2] = c.R, c.G, c.B
				i += 3
			}
		}
	}
	return out
}

// toRGBShrunk is toRGB of r scaled down by the whole factor k (each pixel
// the mean of a k×k block). It converts k rows at a time, so a large image
// is never copied whole.
func toRGBShrunk(img image.Image, r image.Rectangle, k int) *rgb {
	if k <= 1 {
		return toRGB(img, r)
	}
	r = r.Intersect(img.Bounds())
	out := &rgb{w: r.Dx() / k, h: r.Dy() / k}
	out.pix = make([]uint8, 3*out.w*out.h)
	strip := make([]uint8, 3*out.w*k*k)
	sum := make([]int, 3*out.w)
	for oy := 0; oy < out.h; oy++ {
		y := r.Min.Y + oy*k
		toRGBInto(img, image.Rect(r.Min.X, y, r.Min.X+out.w*k, y+k), strip).shrinkRow(k, 0, out.pix[3*oy*out.w:3*(oy+1)*out.w], sum)
	}
	return out
}

// crop returns the pixels of rectangle r (relative to src's origin, clipped to it).
func (src *rgb) crop(r image.Rectangle) *rgb {
	r = r.Intersect(image.Rect(0, 0, src.w, src.h))
	out := &rgb{w: r.Dx(), h: r.Dy(), pix: make([]uint8, 3*r.Dx()*r.Dy())}
	for y := 0; y < out.h; y++ {
		copy(out.pix[3*y*out.w:3*(y+1)*out.w], src.pix[3*((r.Min.Y+y)*src.w+r.Min.X):])
	}
	return out
}

// squareInput fills dst (size×size×3) as face-api's NetInput.toBatchTensor does for a tensor:
// pad the image with black to a square (all padding after the image, or split around it when
// centre is set, the larger half after), then resize bilinearly (TensorFlow's resizeBilinear
// without align-corners or half-pixel centres) to size×size. Values stay 0…255.
func (src *rgb) squareInput(dst []float32, size int, centre bool) {
	side := max(src.w, src.h)
	offX, offY := 0, 0
	if centre {
		diff := side - min(src.w, src.h)
		before := diff - int(math.Floor(float64(diff)*0.5+0.5)) // JS Math.round for the part after
		if src.w < src.h {
			offX = before
		} else {
			offY = before
		}
	}
	// Source columns and rows (-1 in the padding) and weights of every output column and row.
	type tap struct {
		i0, i1 int
		f      float32
	}
	taps := func(off, limit int) []tap {
		t := make([]tap, size)
		scale := float64(side) / float64(size)
		for o := range t {
			p := float64(o) * scale
			i0 := int(p)
			i1 := min(i0+1, side-1)
			t[o] = tap{i0 - off, i1 - off, float32(p - float64(i0))}
			if t[o].i0 < 0 || t[o].i0 >= limit {
				t[o].i0 = -1
			}
			if t[o].i1 < 0 || t[o].i1 >= limit {
				t[o].i1 = -1
			}
		}
		return t
	}
	xs, ys := taps(offX, src.w), taps(offY, src.h)
	var zero [3]uint8
	at := func(x, y int) []uint8 {
		if x < 0 || y < 0 {
			return zero[:]
		}
		i := 3 * (y*src.w + x)
		return src.pix[i : i+3]
	}
	for oy, ty := range ys {
		out := dst[3*oy*size : 3*(oy+1)*size]
		for ox, tx := range xs {
			tl, tr := at(tx.i0, ty.i0), at(tx.i1, ty.i0)
			bl, br := at(tx.i0, ty.i1), at(tx.i1, ty.i1)
			for ch := range 3 {
				top := float32(tl[ch]) + (float32(tr[ch])-float32(tl[ch]))*tx.f
				bot := float32(bl[ch]) + (float32(br[ch])-float32(bl[ch]))*tx.f
				out[3*ox+ch] = top + (bot-top)*ty.f
			}
		}
	}
}

// toImage converts a size×size×3 raster of 0…255 values to an image, rounding to 8 bits.
func toImage(v []float32, size int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	for i := 0; i < size*size; i++ {
		for ch := range 3 {
			img.Pix[4*i+ch] = uint8(min(255, max(0, math.Round(float64(v[3*i+ch])))))
		}
		img.Pix[4*i+3] = 255
	}
	return img
}
