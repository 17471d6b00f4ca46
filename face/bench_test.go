package face

import (
	"image"
	"image/color"
	"path/filepath"
	"testing"
)

// scaleImage resizes img to w×h by averaging the source pixels under each target pixel, then
// crops nothing: the caller picks w×h with img's aspect ratio, or crops afterwards.
func scaleImage(img image.Image, w, h int) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		y0, y1 := b.Min.Y+y*b.Dy()/h, b.Min.Y+max((y+1)*b.Dy()/h, y*b.Dy()/h+1)
		for x := 0; x < w; x++ {
			x0, x1 := b.Min.X+x*b.Dx()/w, b.Min.X+max((x+1)*b.Dx()/w, x*b.Dx()/w+1)
			var r, g, bl, n uint32
			for sy := y0; sy < y1; sy++ {
				for sx := x0; sx < x1; sx++ {
					cr, cg, cb, _ := img.At(sx, sy).RGBA()
					r, g, bl, n = r+cr>>8, g+cg>>8, bl+cb>>8, n+1
				}
			}
			out.SetRGBA(x, y, color.RGBA{uint8(r / n), uint8(g / n), uint8(bl / n), 255})
		}
	}
	return out
}

// frame640x360 scales a photo to 640 pixels wide and keeps its top 360 rows: a video snapshot.
func frame640x360(t testing.TB, path string) image.Image {
	img := loadImage(t, path)
	b := img.Bounds()
	s := scaleImage(img, 640, b.Dy()*640/b.Dx())
	return s.SubImage(image.Rect(0, 0, 640, 360))
}

func BenchmarkDetect640x360(b *testing.B) {
	m := loadTestModels(b)
	img := frame640x360(b, "../../shared/testdata/faces/groups/bbt1.jpg")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Detect(img); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLandmarks(b *testing.B) {
	m := loadTestModels(b)
	img := loadImage(b, filepath.Join(refDir, "face1.png"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Landmarks(img, Box{0, 0, 150, 150}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDescriptor(b *testing.B) {
	m := loadTestModels(b)
	img := loadImage(b, filepath.Join(refDir, "face1.png"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.DescriptorOf(img); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAnalyzeOneFace640x360(b *testing.B) {
	m := loadTestModels(b)
	img := frame640x360(b, "../../shared/testdata/faces/people/elkie/1.jpg")
	faces, err := m.Analyze(img)
	if err != nil || len(faces) != 1 {
		b.Fatalf("Analyze: %d faces, %v; want one", len(faces), err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Analyze(img); err != nil {
			b.Fatal(err)
		}
	}
}
