package face

import (
	"fmt"
	"image"
	"slices"
)

// Analyze finds every face in img and computes its landmarks and descriptor (detect, landmarks
// on the detection box, align, descriptor: face-api's detectAllFaces().withFaceLandmarks()
// .withFaceDescriptors()), largest face first. Coordinates are in img's.
//
// The detector misses faces that fill the whole frame, so when it finds none in an image that
// looks like a tight crop (at most 2:1 either way), Analyze pads the image with neutral grey,
// half its width on the left and right and half its height above and below, and tries again.
//
// Faces are aligned with their eyes level (AlignOptions.Rotate), as the dlib chips the descriptor
// net was trained on; AnalyzeWith with Rotate false reproduces face-api.js's upright crop.
func (m *Models) Analyze(img image.Image) ([]Face, error) {
	return m.AnalyzeWith(img, AlignOptions{Rotate: true})
}

// AnalyzeWith is Analyze with the faces aligned as o says.
func (m *Models) AnalyzeWith(img image.Image, o AlignOptions) ([]Face, error) {
	if err := checkSize(img); err != nil {
		return nil, err
	}
	b := img.Bounds()
	if b.Empty() {
		return nil, fmt.Errorf("analyze empty image: %w", ErrNoFace)
	}
	// A face the detector can find in a picture wider than maxAnalyzeSide
	// (it sees 512×512) is hundreds of pixels across: analysing a 40 MP
	// photo at a quarter of its pixels loses nothing and copies a quarter.
	scale := (max(b.Dx(), b.Dy()) + maxAnalyzeSide - 1) / maxAnalyzeSide
	src := toRGBShrunk(img, b, scale)
	faces := m.analyze(src, o)
	if len(faces) == 0 && tightCrop(src.w, src.h) {
		// A face that fills a large frame is large: shrink before padding
		// (the detector sees 512×512 anyway), so a 40 MP image is not padded
		// to 160 MP.
		k := max(1, max(src.w, src.h)/padMaxSide)
		small := src.shrink(k)
		px, py := small.w/2, small.h/2
		faces = m.analyze(small.pad(px, py, 128), o)
		fk := float64(k)
		for i := range faces {
			f := &faces[i]
			f.Detection.Box = clipToImage(Box{(f.Detection.Box.X - float64(px)) * fk, (f.Detection.Box.Y - float64(py)) * fk,
				f.Detection.Box.W * fk, f.Detection.Box.H * fk}, src.w, src.h)
			for j := range f.Landmarks {
				f.Landmarks[j].X = (f.Landmarks[j].X - float64(px)) * fk
				f.Landmarks[j].Y = (f.Landmarks[j].Y - float64(py)) * fk
			}
		}
	}
	if len(faces) == 0 {
		return nil, ErrNoFace
	}
	fs := float64(max(scale, 1))
	for i := range faces {
		f := &faces[i]
		bx := &f.Detection.Box
		bx.X, bx.Y, bx.W, bx.H = bx.X*fs+float64(b.Min.X), bx.Y*fs+float64(b.Min.Y), bx.W*fs, bx.H*fs
		for j := range f.Landmarks {
			f.Landmarks[j].X = f.Landmarks[j].X*fs + float64(b.Min.X)
			f.Landmarks[j].Y = f.Landmarks[j].Y*fs + float64(b.Min.Y)
		}
	}
	slices.SortStableFunc(faces, func(a, b Face) int {
		aa, ba := a.Detection.Box.W*a.Detection.Box.H, b.Detection.Box.W*b.Detection.Box.H
		switch {
		case aa > ba:
			return -1
		case aa < ba:
			return 1
		}
		return 0
	})
	return faces, nil
}

// analyze runs the whole pipeline on src, in src's pixels.
func (m *Models) analyze(src *rgb, o AlignOptions) []Face {
	var faces []Face
	for _, det := range m.detector.forward(m.workers, src) {
		r := clipBox(det.Box, src.w, src.h)
		if r.Empty() {
			continue
		}
		lm := m.landmarksOf(src.crop(r), r.Min)
		aligned := o.align(src, lm)
		if aligned == nil {
			continue
		}
		desc := m.recognition.forward(m.workers, aligned)
		faces = append(faces, Face{Detection: det, Landmarks: lm, Descriptor: desc})
	}
	return faces
}

// tightCrop tells whether a w×h image may be a crop around a head, where a face the detector
// missed may fill the frame.
func tightCrop(w, h int) bool { return w <= 2*h && h <= 2*w }

// maxAnalyzeSide is the longest side Analyze works at; larger images are
// shrunk by a whole factor to fit.
const maxAnalyzeSide = 4096

// padMaxSide is the longest side an image is padded at when the detector
// is retried on a tight crop; larger images are shrunk to it first.
const padMaxSide = 1024

// shrink returns src scaled down by the integer factor k (each output pixel
// the mean of a k×k block), or src itself when k ≤ 1.
func (src *rgb) shrink(k int) *rgb {
	if k <= 1 {
		return src
	}
	out := &rgb{w: src.w / k, h: src.h / k}
	out.pix = make([]uint8, 3*out.w*out.h)
	sum := make([]int, 3*out.w)
	for oy := 0; oy < out.h; oy++ {
		src.shrinkRow(k, oy, out.pix[3*oy*out.w:3*(oy+1)*out.w], sum)
	}
	return out
}

// shrinkRow writes output row oy of shrink(k) into dst (3 × src.w/k bytes),
// with sum (as long as dst) as scratch.
func (src *rgb) shrinkRow(k, oy int, dst []uint8, sum []int) {
	clear(sum)
	w := len(dst) / 3
	for y := oy * k; y < (oy+1)*k; y++ {
		row := src.pix[3*y*src.w:]
		for ox := 0; ox < w; ox++ {
			for x := ox * k; x < (ox+1)*k; x++ {
				sum[3*ox] += int(row[3*x])
				sum[3*ox+1] += int(row[3*x+1])
				sum[3*ox+2] += int(row[3*x+2])
			}
		}
	}
	n := k * k
	for i, v := range sum {
		dst[i] = uint8((v + n/2) / n)
	}
}

// pad returns src with px columns of grey v on the left and right and py rows above and below.
func (src *rgb) pad(px, py int, v uint8) *rgb {
	out := &rgb{w: src.w + 2*px, h: src.h + 2*py}
	out.pix = make([]uint8, 3*out.w*out.h)
	for i := range out.pix {
		out.pix[i] = v
	}
	for y := 0; y < src.h; y++ {
		copy(out.pix[3*((y+py)*out.w+px):], src.pix[3*y*src.w:3*(y+1)*src.w])
	}
	return out
}

// clipToImage clips b to a w×h image.
func clipToImage(b Box, w, h int) Box {
	x0, y0 := max(b.X, 0), max(b.Y, 0)
	x1, y1 := min(b.X+b.W, float64(w)), min(b.Y+b.H, float64(h))
	return Box{x0, y0, max(x1-x0, 0), max(y1-y0, 0)}
}
