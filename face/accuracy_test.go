package face

import (
	"errors"
	"image"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

const peopleDir = "../../shared/testdata/faces/people"

// Same-person and different-person pairs over the people/ photos, with the largest face of each.
// Nothing here is tuned on these pairs: the threshold is dlib's 0.6, the rest is reported.
func TestAccuracyPeople(t *testing.T) {
	m := loadTestModels(t)
	type sample struct {
		person, file string
		desc         [128]float32
	}
	var samples []sample
	people, err := os.ReadDir(peopleDir)
	if err != nil {
		t.Fatal(err)
	}
	photos := 0
	for _, p := range people {
		files, err := os.ReadDir(filepath.Join(peopleDir, p.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			photos++
			path := filepath.Join(peopleDir, p.Name(), f.Name())
			faces, err := m.Analyze(loadImage(t, path))
			if errors.Is(err, ErrNoFace) {
				t.Logf("%s/%s: no face", p.Name(), f.Name())
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			samples = append(samples, sample{p.Name(), f.Name(), faces[0].Descriptor})
		}
	}
	type pair struct {
		d    float64
		same bool
	}
	var pairs []pair
	nSame, nDiff := 0, 0
	for i := range samples {
		for j := i + 1; j < len(samples); j++ {
			same := samples[i].person == samples[j].person
			pairs = append(pairs, pair{Distance(samples[i].desc, samples[j].desc), same})
			if same {
				nSame++
			} else {
				nDiff++
			}
		}
	}
	rates := func(th float64) (accepted, rejected float64) {
		a, r := 0, 0
		for _, p := range pairs {
			if p.same && p.d < th {
				a++
			}
			if !p.same && p.d >= th {
				r++
			}
		}
		return float64(a) / float64(nSame), float64(r) / float64(nDiff)
	}
	acc, rej := rates(DefaultThreshold)
	balanced := (acc + rej) / 2
	bestTh, bestBal := 0.0, 0.0
	for i := 0; i <= 150; i++ {
		th := float64(i) / 100
		a, r := rates(th)
		if (a+r)/2 > bestBal {
			bestTh, bestBal = th, (a+r)/2
		}
	}
	// Rank-1: each photo's nearest other photo is the same person (photos with a mate only).
	probes, hits := 0, 0
	for i, s := range samples {
		hasMate := slices.ContainsFunc(samples, func(o sample) bool { return o.person == s.person && o.file != s.file })
		if !hasMate {
			continue
		}
		best, bestD := -1, 0.0
		for j, o := range samples {
			if j == i {
				continue
			}
			if d := Distance(s.desc, o.desc); best < 0 || d < bestD {
				best, bestD = j, d
			}
		}
		probes++
		if samples[best].person == s.person {
			hits++
		}
	}
	t.Logf("%d photos, %d with a face; %d same-person pairs, %d different-person pairs", photos, len(samples), nSame, nDiff)
	t.Logf("at %.2f: same accepted %.3f, different rejected %.3f, balanced accuracy %.3f", DefaultThreshold, acc, rej, balanced)
	t.Logf("best threshold %.2f: balanced accuracy %.3f", bestTh, bestBal)
	t.Logf("rank-1 identification: %d/%d = %.3f", hits, probes, float64(hits)/float64(probes))
	if balanced < 0.86 {
		t.Errorf("balanced accuracy %.3f at %.2f, want ≥ 0.86", balanced, DefaultThreshold)
	}
}

// A blank image has no face: Detect finds nothing and Analyze says ErrNoFace.
func TestWhiteHasNoFace(t *testing.T) {
	m := loadTestModels(t)
	img := loadImage(t, filepath.Join(refDir, "white.png"))
	dets, err := m.Detect(img)
	if err != nil || len(dets) != 0 {
		t.Errorf("Detect(white.png) = %v, %v; want none", dets, err)
	}
	if _, err := m.Analyze(img); !errors.Is(err, ErrNoFace) {
		t.Errorf("Analyze(white.png) error %v, want ErrNoFace", err)
	}
}

// Images over 40 megapixels are refused before any work.
func TestTooLarge(t *testing.T) {
	m := loadTestModels(t)
	img := image.NewGray(image.Rect(0, 0, 8000, 5001))
	if _, err := m.Analyze(img); !errors.Is(err, ErrImageTooLarge) {
		t.Errorf("Analyze(8000x5001) error %v, want ErrImageTooLarge", err)
	}
	if _, err := m.Detect(img); !errors.Is(err, ErrImageTooLarge) {
		t.Errorf("Detect(8000x5001) error %v, want ErrImageTooLarge", err)
	}
}
