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
	src := toRGB(img, b)
	faces := m.analyze(src, o)
	if len(faces) == 0 && tightCrop(src.w, src.h) {
		px, py := src.w/2, src.h/2
		faces = m.analyze(src.pad(px, py, 128), o)
		for i := range faces {
			f := &faces[i]
			f.Detection.Box = clipToImage(Box{f.Detection.Box.X - float64(px), f.Detection.Box.Y - float64(py),
				f.Detection.Box.W, f.Detection.Box.H}, src.w, src.h)
			for j := range f.Landmarks {
				f.Landmarks[j].X -= float64(px)
				f.Landmarks[j].Y -= float64(py)
			}
		}
	}
	if len(faces) == 0 {
		return nil, ErrNoFace
	}
	for i := range faces {
		f := &faces[i]
		f.Detection.Box.X += float64(b.Min.X)
		f.Detection.Box.Y += float64(b.Min.Y)
		for j := range f.Landmarks {
			f.Landmarks[j].X += float64(b.Min.X)
			f.Landmarks[j].Y += float64(b.Min.Y)
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
