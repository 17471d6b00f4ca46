package ocr

import (
	"math"
	"testing"
)

// Unit tests of the engine's pre- and post-processing, without models.

func TestEngineCTCDecode(t *testing.T) {
	chars := []string{"", "a", "b", " "}
	// step returns a probability row with p on class c and the rest spread evenly.
	step := func(c int, p float32) []float32 {
		row := make([]float32, len(chars))
		for i := range row {
			row[i] = (1 - p) / float32(len(chars)-1)
		}
		row[c] = p
		return row
	}
	tests := []struct {
		name      string
		steps     [][]float32
		wantText  string
		wantScore float32
	}{
		{"empty", nil, "", 0},
		{"only blanks", [][]float32{step(0, .9), step(0, .9)}, "", 0},
		{"repeats collapse", [][]float32{step(1, .8), step(1, .6), step(2, 1)}, "ab", 0.9},
		{"blank separates repeats", [][]float32{step(1, 1), step(0, 1), step(1, .5)}, "aa", 0.75},
		{"space kept inside, trimmed outside", [][]float32{step(3, 1), step(1, 1), step(3, 1), step(2, 1), step(3, 1)}, "a b", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var probs []float32
			for _, s := range tt.steps {
				probs = append(probs, s...)
			}
			got := ctcDecode(probs, len(tt.steps), len(chars), chars)
			if got.text != tt.wantText || math.Abs(float64(got.score-tt.wantScore)) > 1e-6 {
				t.Fatalf("got %q %.3f, want %q %.3f", got.text, got.score, tt.wantText, tt.wantScore)
			}
		})
	}
}

func TestEngineCTCClasses(t *testing.T) {
	tests := []struct {
		keys string
		want []string
	}{
		{"a\nb\nc", []string{"", "a", "b", "c", " "}},
		{"a\r\nb\n", []string{"", "a", "b", " "}},
	}
	for _, tt := range tests {
		got := ctcClasses(tt.keys)
		if len(got) != len(tt.want) {
			t.Fatalf("%q: %q, want %q", tt.keys, got, tt.want)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Fatalf("%q: %q, want %q", tt.keys, got, tt.want)
			}
		}
	}
}

func near(a, b pt) bool { return math.Abs(a.x-b.x) < 1e-6 && math.Abs(a.y-b.y) < 1e-6 }

func TestEngineMinAreaRect(t *testing.T) {
	// A 10x4 rectangle turned by 30° about (50, 50), sampled at its corners and edge midpoints.
	rot := func(x, y float64) pt {
		s, c := math.Sincos(math.Pi / 6)
		return pt{50 + x*c - y*s, 50 + x*s + y*c}
	}
	tests := []struct {
		name   string
		pts    []pt
		w, h   float64
		corner quad
	}{
		{"axis aligned", []pt{{0, 0}, {9, 0}, {9, 3}, {0, 3}, {4, 1}, {5, 0}}, 9, 3,
			quad{{0, 0}, {9, 0}, {9, 3}, {0, 3}}},
		{"rotated 30°", []pt{rot(-5, -2), rot(5, -2), rot(5, 2), rot(-5, 2), rot(0, -2), rot(0, 2), rot(1, 0)}, 10, 4,
			quad{rot(-5, -2), rot(5, -2), rot(5, 2), rot(-5, 2)}},
		{"one point", []pt{{3, 3}}, 0, 0, quad{{3, 3}, {3, 3}, {3, 3}, {3, 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, w, h := minAreaRect(convexHull(tt.pts))
			if math.Abs(max(w, h)-max(tt.w, tt.h)) > 1e-6 || math.Abs(min(w, h)-min(tt.w, tt.h)) > 1e-6 {
				t.Fatalf("sides %.3f x %.3f, want %.3f x %.3f", w, h, tt.w, tt.h)
			}
			for i := range q {
				if !near(q[i], tt.corner[i]) {
					t.Fatalf("corners %v, want %v", q, tt.corner)
				}
			}
		})
	}
}

func TestEngineUnclip(t *testing.T) {
	q := quad{{10, 10}, {110, 10}, {110, 30}, {10, 30}}
	got, w, h := unclip(q, 100, 20, 1.5)
	d := 100.0 * 20 * 1.5 / 240 // area*ratio/perimeter = 12.5
	want := quad{{10 - d, 10 - d}, {110 + d, 10 - d}, {110 + d, 30 + d}, {10 - d, 30 + d}}
	for i := range got {
		if !near(got[i], want[i]) {
			t.Fatalf("unclip %v, want %v", got, want)
		}
	}
	if math.Abs(w-(100+2*d)) > 1e-9 || math.Abs(h-(20+2*d)) > 1e-9 {
		t.Fatalf("sides %v x %v", w, h)
	}
}

func TestEngineSortBoxes(t *testing.T) {
	box := func(x, y, w, h float64) quad { return quad{{x, y}, {x + w, y}, {x + w, y + h}, {x, y + h}} }
	tests := []struct {
		name string
		in   []quad
		want []float64 // x of each box in the expected order
	}{
		{"one row, slightly uneven tops", []quad{box(300, 100, 80, 30), box(10, 104, 80, 30), box(150, 98, 80, 30)}, []float64{10, 150, 300}},
		{"two rows", []quad{box(200, 150, 80, 30), box(10, 100, 80, 30), box(10, 152, 80, 30), box(200, 101, 80, 30)}, []float64{10, 200, 10, 200}},
		{"small text just below is a new row", []quad{box(200, 100, 80, 12), box(10, 108, 80, 12)}, []float64{200, 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sortBoxes(tt.in)
			for i, q := range tt.in {
				if q[0].x != tt.want[i] {
					t.Fatalf("order %v, want x %v", tt.in, tt.want)
				}
			}
		})
	}
}

func TestEngineResize(t *testing.T) {
	tests := []struct{ src, dst int }{{100, 50}, {50, 100}, {960, 37}, {7, 7}, {1, 32}, {33, 1}}
	for _, tt := range tests {
		tp := resizeTaps(tt.src, tt.dst)
		for i := range tt.dst {
			var sum float32
			for _, w := range tp.w[tp.off[i] : tp.off[i]+tp.n[i]] {
				sum += w
			}
			if math.Abs(float64(sum-1)) > 1e-5 || tp.first[i] < 0 || tp.first[i]+tp.n[i] > tt.src {
				t.Fatalf("%d->%d: output %d weights sum %v, range %d+%d", tt.src, tt.dst, i, sum, tp.first[i], tp.n[i])
			}
		}
	}
	// A flat image stays flat at any size.
	img := newBGR(13, 7)
	for i := range img.pix {
		img.pix[i] = 77
	}
	for _, r := range [][2]int{{4, 3}, {40, 21}, {1, 1}} {
		for _, v := range img.resize(r[0], r[1]).pix {
			if v != 77 {
				t.Fatalf("resize to %v: value %d", r, v)
			}
		}
	}
}

func TestEngineCropQuad(t *testing.T) {
	// Left half black, right half white; a tall crop is turned counter-clockwise.
	img := newBGR(20, 40)
	for y := range 40 {
		for x := 10; x < 20; x++ {
			copy(img.pix[3*(y*20+x):], []uint8{255, 255, 255})
		}
	}
	tests := []struct {
		name       string
		q          quad
		w, h       int
		firstPixel uint8
	}{
		{"wide", quad{{0, 0}, {19, 0}, {19, 9}, {0, 9}}, 19, 9, 0},
		// 19 wide, 39 tall: rotated to 39x19, whose top row is the old right column (white).
		{"tall", quad{{0, 0}, {19, 0}, {19, 39}, {0, 39}}, 39, 19, 255},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cropQuad(img, tt.q)
			if c.w != tt.w || c.h != tt.h || c.pix[0] != tt.firstPixel {
				t.Fatalf("crop %dx%d first %d, want %dx%d first %d", c.w, c.h, c.pix[0], tt.w, tt.h, tt.firstPixel)
			}
		})
	}
}

func TestEngineCERMetric(t *testing.T) {
	tests := []struct {
		want, got string
		cer       float64
	}{
		{"abc", "abc", 0},
		{"a b c", "abc", 0},
		{"中华人民", "中华入民", 0.25},
		{"abcd", "", 1},
		{"ab", "abxy", 1},
	}
	for _, tt := range tests {
		if c := cer(tt.want, tt.got); math.Abs(c-tt.cer) > 1e-9 {
			t.Errorf("cer(%q, %q) = %v, want %v", tt.want, tt.got, c, tt.cer)
		}
	}
}
