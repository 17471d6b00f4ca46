package face

import (
	"cmp"
	"math"
	"path/filepath"
	"slices"
	"testing"
)

var referenceFaces = []struct{ image, descriptor, landmarks string }{
	{"face1.png", "faceDescriptor1.json", "faceLandmarkPositions1.json"},
	{"face2.png", "faceDescriptor2.json", "faceLandmarkPositions2.json"},
	{"face_rectangular.png", "faceDescriptorRect.json", "faceLandmarkPositionsRect.json"},
}

// The descriptors of face-api.js's test images are within its own tolerance (0.1) of the ones the
// JavaScript implementation computes.
func TestDescriptorMatchesReference(t *testing.T) {
	m := loadTestModels(t)
	for _, rf := range referenceFaces {
		img := loadImage(t, filepath.Join(refDir, rf.image))
		var want [128]float32
		loadJSON(t, filepath.Join(refDir, rf.descriptor), &want)
		got, err := m.DescriptorOf(img)
		if err != nil {
			t.Fatalf("%s: %v", rf.image, err)
		}
		d := Distance(got, want)
		t.Logf("%s (%v): descriptor distance to reference %.4f", rf.image, img.Bounds().Size(), d)
		if d >= 0.1 {
			t.Errorf("%s: descriptor distance %.4f to reference, want < 0.1", rf.image, d)
		}
	}
}

// The 68 landmarks, computed with the whole image as the face box (as face-api.js's tests do),
// are each within 3 px of the reference.
func TestLandmarksMatchReference(t *testing.T) {
	m := loadTestModels(t)
	for _, rf := range referenceFaces {
		img := loadImage(t, filepath.Join(refDir, rf.image))
		var want [68]struct{ X, Y float64 }
		loadJSON(t, filepath.Join(refDir, rf.landmarks), &want)
		b := img.Bounds()
		got, err := m.Landmarks(img, Box{0, 0, float64(b.Dx()), float64(b.Dy())})
		if err != nil {
			t.Fatalf("%s: %v", rf.image, err)
		}
		worst := 0.0
		for i, p := range got {
			worst = math.Max(worst, math.Max(math.Abs(p.X-want[i].X), math.Abs(p.Y-want[i].Y)))
		}
		t.Logf("%s: landmarks max error %.2f px", rf.image, worst)
		if worst > 3 {
			t.Errorf("%s: a landmark is %.2f px from the reference, want ≤ 3", rf.image, worst)
		}
	}
}

// SSD MobileNet v1 finds the six faces of faces.jpg where face-api.js's tests expect them.
func TestDetectMatchesReference(t *testing.T) {
	m := loadTestModels(t)
	img := loadImage(t, filepath.Join(refDir, "faces.jpg"))
	got, err := m.Detect(img)
	if err != nil {
		t.Fatal(err)
	}
	want := []Box{{48, 253, 104, 129}, {260, 227, 76, 117}, {466, 165, 88, 130},
		{234, 36, 84, 119}, {577, 65, 84, 105}, {84, 14, 79, 132}}
	if len(got) != len(want) {
		t.Fatalf("found %d faces, want %d: %+v", len(got), len(want), got)
	}
	byCorner := func(b []Box) {
		slices.SortFunc(b, func(p, q Box) int { return cmp.Compare(math.Hypot(p.X, p.Y), math.Hypot(q.X, q.Y)) })
	}
	boxes := make([]Box, len(got))
	for i, d := range got {
		boxes[i] = d.Box
	}
	byCorner(boxes)
	byCorner(want)
	worst := 0.0
	for i, b := range boxes {
		w := want[i]
		for _, d := range []float64{b.X - w.X, b.Y - w.Y, b.W - w.W, b.H - w.H} {
			worst = math.Max(worst, math.Abs(d))
		}
	}
	t.Logf("faces.jpg: 6 faces, boxes max error %.2f px", worst)
	if worst > 5 {
		t.Errorf("boxes %v, want %v within 5 px", boxes, want)
	}
}

// The whole pipeline on faces.jpg lands near face-api.js's results for it (its tests allow 10 px
// on landmarks and 0.2 on descriptors; theirs start from the tiny detector's boxes, ours from
// SSD's, so faces are paired by the centre of their landmarks).
func TestAnalyzeMatchesReference(t *testing.T) {
	m := loadTestModels(t)
	img := loadImage(t, filepath.Join(refDir, "faces.jpg"))
	var wantLm [][68]struct{ X, Y float64 }
	var wantDesc [][128]float32
	loadJSON(t, filepath.Join(refDir, "facesFaceLandmarkPositions.json"), &wantLm)
	loadJSON(t, filepath.Join(refDir, "facesFaceDescriptors.json"), &wantDesc)
	// face-api.js does not rotate faces before the descriptor: compare with its upright crop.
	faces, err := m.AnalyzeWith(img, AlignOptions{Rotate: false})
	if err != nil {
		t.Fatal(err)
	}
	if len(faces) != len(wantLm) {
		t.Fatalf("found %d faces, want %d", len(faces), len(wantLm))
	}
	centre := func(pts []Point) Point {
		var c Point
		for _, p := range pts {
			c.X, c.Y = c.X+p.X/68, c.Y+p.Y/68
		}
		return c
	}
	worstLm, worstDesc := 0.0, 0.0
	for i, want := range wantLm {
		var wp [68]Point
		for j, p := range want {
			wp[j] = Point{p.X, p.Y}
		}
		wc := centre(wp[:])
		best := slices.MinFunc(faces, func(a, b Face) int {
			ca, cb := centre(a.Landmarks[:]), centre(b.Landmarks[:])
			return cmp.Compare(math.Hypot(ca.X-wc.X, ca.Y-wc.Y), math.Hypot(cb.X-wc.X, cb.Y-wc.Y))
		})
		for j, p := range best.Landmarks {
			worstLm = math.Max(worstLm, math.Max(math.Abs(p.X-wp[j].X), math.Abs(p.Y-wp[j].Y)))
		}
		worstDesc = math.Max(worstDesc, Distance(best.Descriptor, wantDesc[i]))
	}
	t.Logf("faces.jpg pipeline: landmarks max error %.2f px, descriptors max distance %.3f", worstLm, worstDesc)
	if worstLm > 10 || worstDesc > 0.2 {
		t.Errorf("landmarks max error %.2f px (want ≤ 10), descriptor max distance %.3f (want ≤ 0.2)", worstLm, worstDesc)
	}
}
