package face

import (
	"image"
	"math"
)

// alignedSize is the descriptor net's input side.
const alignedSize = 150

// alignRect is face-api's FaceLandmarks.alignDlib, the rectangle its pipeline cuts out for the
// descriptor: a square of side (mean eye-to-mouth distance)/0.45, placed so the centroid of
// the eye and mouth centres sits at 50 % across and 43 % down. Like face-api it does not rotate:
// the descriptors then stay comparable with the ones face-api computes for the same photo.
func alignRect(lm [68]Point) (x, y, size int) {
	centre := func(pts []Point) Point {
		var c Point
		for _, p := range pts {
			c.X += p.X
			c.Y += p.Y
		}
		return Point{c.X / float64(len(pts)), c.Y / float64(len(pts))}
	}
	leftEye, rightEye, mouth := centre(lm[36:42]), centre(lm[42:48]), centre(lm[48:68])
	dist := func(a, b Point) float64 { return math.Hypot(a.X-b.X, a.Y-b.Y) }
	eyeToMouth := (dist(mouth, leftEye) + dist(mouth, rightEye)) / 2
	size = int(math.Floor(eyeToMouth / 0.45))
	ref := centre([]Point{leftEye, rightEye, mouth})
	x = int(math.Floor(math.Max(0, ref.X-0.5*float64(size))))
	y = int(math.Floor(math.Max(0, ref.Y-0.43*float64(size))))
	return x, y, size
}

// Align cuts out the face that lm (points in img's coordinates) locates, as face-api's pipeline does
// before computing a descriptor: the alignment square (see alignRect), clipped to the image,
// padded with black to a square around its centre and resized bilinearly to 150×150.
// It returns nil when the square falls outside the image.
func Align(img image.Image, lm [68]Point) image.Image {
	b := img.Bounds()
	for i := range lm {
		lm[i] = Point{lm[i].X - float64(b.Min.X), lm[i].Y - float64(b.Min.Y)}
	}
	crop := alignedCrop(toRGB(img, alignBounds(lm, b.Dx(), b.Dy()).Add(b.Min)))
	if crop == nil {
		return nil
	}
	return crop
}

// alignBounds is the alignment square clipped to a w×h image, in the image's own coordinates.
func alignBounds(lm [68]Point, w, h int) image.Rectangle {
	x, y, size := alignRect(lm)
	return clipBox(Box{float64(x), float64(y), float64(size), float64(size)}, w, h)
}

// alignedCrop pads a face crop to a square and resizes it to 150×150.
func alignedCrop(face *rgb) *image.RGBA {
	if face.w == 0 || face.h == 0 {
		return nil
	}
	v := make([]float32, alignedSize*alignedSize*3)
	face.squareInput(v, alignedSize, true)
	return toImage(v, alignedSize)
}
