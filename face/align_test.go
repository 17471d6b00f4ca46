package face

import (
	"image"
	"math"
	"path/filepath"
	"testing"
)

// syntheticLandmarks puts the six points of each eye on its centre and the twenty of the mouth on
// its centre: all that alignment reads.
func syntheticLandmarks(leftEye, rightEye, mouth Point) [68]Point {
	var lm [68]Point
	for i := 36; i < 42; i++ {
		lm[i] = leftEye
	}
	for i := 42; i < 48; i++ {
		lm[i] = rightEye
	}
	for i := 48; i < 68; i++ {
		lm[i] = mouth
	}
	return lm
}

// The eye-level chip keeps face-api's scale and placement and levels the eyes, whatever the tilt.
func TestEyeLevelChip(t *testing.T) {
	for _, deg := range []float64{0, 12, -12, 45, 170} {
		// A face with eyes 60 px apart and the mouth 70 px below them, turned by deg about (400, 300).
		th := deg * math.Pi / 180
		turn := func(x, y float64) Point {
			return Point{400 + x*math.Cos(th) - y*math.Sin(th), 300 + x*math.Sin(th) + y*math.Cos(th)}
		}
		leftEye, rightEye, mouth := turn(-30, 0), turn(30, 0), turn(0, 70)
		lm := syntheticLandmarks(leftEye, rightEye, mouth)
		c, ok := eyeLevelChip(lm)
		if !ok {
			t.Fatalf("%.0f°: no chip", deg)
		}
		size, ref := alignScale(lm)
		if got := math.Hypot(c.col.X, c.col.Y); math.Abs(got-float64(size)/alignedSize) > 1e-9 {
			t.Errorf("%.0f°: scale %v source px per output px, want %v", deg, got, float64(size)/alignedSize)
		}
		if p := c.at(0.5*alignedSize, 0.43*alignedSize); math.Hypot(p.X-ref.X, p.Y-ref.Y) > 1e-9 {
			t.Errorf("%.0f°: output (75, 64.5) samples %v, want the eye-and-mouth centroid %v", deg, p, ref)
		}
		// Back from the source to the output: the eyes land on one row, left eye on the left.
		inv := func(p Point) Point {
			dx, dy := p.X-c.origin.X, p.Y-c.origin.Y
			n := c.col.X*c.col.X + c.col.Y*c.col.Y
			return Point{(dx*c.col.X + dy*c.col.Y) / n, (-dx*c.col.Y + dy*c.col.X) / n}
		}
		l, r := inv(leftEye), inv(rightEye)
		if math.Abs(l.Y-r.Y) > 1e-9 || l.X >= r.X {
			t.Errorf("%.0f°: eyes at %v and %v in the output, want level, left first", deg, l, r)
		}
		if deg == 0 {
			if want := (Point{ref.X - 0.5*float64(size), ref.Y - 0.43*float64(size)}); math.Hypot(c.origin.X-want.X, c.origin.Y-want.Y) > 1e-9 {
				t.Errorf("0°: origin %v, want face-api's square at %v", c.origin, want)
			}
		}
	}
}

// rotateImage turns img counter-clockwise (as seen) by deg about its centre, bilinearly, into an
// image of the same size, grey where it has no source.
func rotateImage(img image.Image, deg float64) *image.RGBA {
	src := toRGB(img, img.Bounds())
	out := image.NewRGBA(image.Rect(0, 0, src.w, src.h))
	cx, cy := float64(src.w-1)/2, float64(src.h-1)/2
	cos, sin := math.Cos(deg*math.Pi/180), math.Sin(deg*math.Pi/180)
	for y := range src.h {
		for x := range src.w {
			dx, dy := float64(x)-cx, float64(y)-cy
			sx, sy := cx+cos*dx-sin*dy, cy+sin*dx+cos*dy
			x0, y0 := int(math.Floor(sx)), int(math.Floor(sy))
			fx, fy := sx-float64(x0), sy-float64(y0)
			o := out.Pix[out.PixOffset(x, y):]
			o[3] = 255
			for ch := range 3 {
				px := func(x, y int) float64 {
					if x < 0 || y < 0 || x >= src.w || y >= src.h {
						return 128
					}
					return float64(src.pix[3*(y*src.w+x)+ch])
				}
				top := px(x0, y0)*(1-fx) + px(x0+1, y0)*fx
				bot := px(x0, y0+1)*(1-fx) + px(x0+1, y0+1)*fx
				o[ch] = uint8(math.Round(top*(1-fy) + bot*fy))
			}
		}
	}
	return out
}

// eyeAngle is the tilt of the line between the eye centres, in degrees (positive: clockwise as seen).
func eyeAngle(lm [68]Point) float64 {
	l, r, _ := faceCentres(lm)
	return math.Atan2(r.Y-l.Y, r.X-l.X) * 180 / math.Pi
}

// A face turned 12° either way comes out of the rotating alignment level, and with nearly the
// descriptor of the face as it was.
func TestAlignRotatedFace(t *testing.T) {
	m := loadTestModels(t)
	rotate := AlignOptions{Rotate: true}
	landmarks := func(img image.Image) [68]Point {
		t.Helper()
		b := img.Bounds()
		lm, err := m.Landmarks(img, Box{float64(b.Min.X), float64(b.Min.Y), float64(b.Dx()), float64(b.Dy())})
		if err != nil {
			t.Fatal(err)
		}
		return lm
	}
	descriptor := func(aligned image.Image) [128]float32 {
		t.Helper()
		if aligned == nil {
			t.Fatal("Align gave nil")
		}
		d, err := m.DescriptorOf(aligned)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	face := loadImage(t, filepath.Join(refDir, "face1.png"))
	lm0 := landmarks(face)
	want := descriptor(AlignWith(face, lm0, rotate))
	t.Logf("face1.png: eyes at %.1f°", eyeAngle(lm0))
	for _, deg := range []float64{12, -12} {
		turned := rotateImage(face, deg)
		lm := landmarks(turned)
		// Sanity: the input really is turned (counter-clockwise as seen lifts the right eye).
		if got := eyeAngle(lm) - eyeAngle(lm0); math.Abs(got+deg) > 3 {
			t.Errorf("%+.0f°: turned face's eyes moved by %.1f°, want %+.0f° ± 3°", deg, got, -deg)
		}
		aligned := AlignWith(turned, lm, rotate)
		level := eyeAngle(landmarks(aligned))
		d := Distance(descriptor(aligned), want)
		upright := Distance(descriptor(Align(turned, lm)), want)
		t.Logf("%+.0f°: aligned eyes at %.2f°; descriptor %.3f from the unturned face's (upright alignment: %.3f)",
			deg, level, d, upright)
		if math.Abs(level) > 2 {
			t.Errorf("%+.0f°: aligned eyes at %.2f°, want level within 2°", deg, level)
		}
		if d >= 0.25 {
			t.Errorf("%+.0f°: descriptor %.3f from the unturned face's, want < 0.25", deg, d)
		}
	}
}
