package face

import (
	"image"
	"runtime"
	"testing"
)

func TestShrinkAveragesBlocks(t *testing.T) {
	src := &rgb{w: 5, h: 4, pix: make([]uint8, 3*5*4)}
	for y := range 4 {
		for x := range 5 {
			v := uint8(10*y + x)
			copy(src.pix[3*(y*5+x):], []uint8{v, 2 * v, 255 - v})
		}
	}
	tests := []struct {
		k, w, h    int
		sameAsSelf bool
	}{
		{k: 0, w: 5, h: 4, sameAsSelf: true},
		{k: 1, w: 5, h: 4, sameAsSelf: true},
		{k: 2, w: 2, h: 2},
		{k: 3, w: 1, h: 1},
	}
	for _, tc := range tests {
		out := src.shrink(tc.k)
		if out.w != tc.w || out.h != tc.h {
			t.Fatalf("k=%d: %d×%d, want %d×%d", tc.k, out.w, out.h, tc.w, tc.h)
		}
		if (out == src) != tc.sameAsSelf {
			t.Errorf("k=%d: returned the source itself = %v", tc.k, out == src)
		}
		// Red of the first block: (0+1+10+11)/4 = 5.5 → 6; green of the last
		// block (k=2): 2×(22+23+32+33)/4 = 55; red of the one 3×3 block: 11.
		want := map[int][2]uint8{2: {6, 55}, 3: {11, 22}}[tc.k]
		if tc.k >= 2 && (out.pix[0] != want[0] || out.pix[len(out.pix)-2] != want[1]) {
			t.Errorf("k=%d: first red %d, last green %d; want %v (block means, rounded)", tc.k, out.pix[0], out.pix[len(out.pix)-2], want)
		}
	}
}

// A large blank image is a tight crop with no face, so the detector is
// retried on a padded copy: that copy must be made from a shrunk image, or a
// 36 MP upload costs 4 × its size again (the OOM of issue 14).
func TestAnalyzeLargeBlankImageMemory(t *testing.T) {
	m := loadTestModels(t)
	const side = 6000
	img := image.NewGray(image.Rect(0, 0, side, side))
	for i := range img.Pix {
		img.Pix[i] = 200
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if _, err := m.Analyze(img); err == nil {
		t.Fatal("found a face in a blank image")
	}
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	rgbBytes := uint64(3 * side * side)
	t.Logf("Analyze of a blank %d×%d image allocated %d MB (its RGB copy is %d MB)", side, side, alloc>>20, rgbBytes>>20)
	// The RGB copy plus the nets' tensors; the unshrunk padded copy alone would be 4 × rgbBytes.
	if alloc > 2*rgbBytes {
		t.Errorf("allocated %d MB, more than twice the %d MB RGB copy", alloc>>20, rgbBytes>>20)
	}
}

// toRGBShrunk gives what toRGB then shrink give, without the full copy.
func TestToRGBShrunkMatchesShrink(t *testing.T) {
	img := image.NewNRGBA(image.Rect(3, 5, 3+37, 5+23))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	for _, k := range []int{1, 2, 3, 5} {
		want := toRGB(img, img.Bounds()).shrink(k)
		got := toRGBShrunk(img, img.Bounds(), k)
		if got.w != want.w || got.h != want.h || string(got.pix) != string(want.pix) {
			t.Errorf("k=%d: %d×%d differs from toRGB+shrink's %d×%d", k, got.w, got.h, want.w, want.h)
		}
	}
}
