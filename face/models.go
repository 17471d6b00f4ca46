// Package face finds faces in an image and tells whether two faces are the same person, with
// face-api.js's networks (npm @vladmandic/face-api@1.7.15 weights) ported to Go: SSD MobileNet v1
// for detection, a 68-point landmark net, and dlib's ResNet face descriptor (128 floats; the same
// person when the Euclidean distance is below DefaultThreshold).
//
// Images in, results out: the package knows nothing of calls or tracks.
package face

import (
	"errors"
	"fmt"
	"image"
	"math"
	"runtime"
)

// DefaultThreshold is the descriptor distance under which two faces are taken as one person
// (dlib's threshold for this descriptor space).
const DefaultThreshold = 0.6

// MaxPixels is the largest image accepted: a larger one is refused before any work is done.
const MaxPixels = 40_000_000

var (
	// ErrNoFace is returned when an image has no face the detector is confident about.
	ErrNoFace = errors.New("no face found")
	// ErrImageTooLarge is returned for images over MaxPixels.
	ErrImageTooLarge = errors.New("image too large (over 40 megapixels)")
)

// Box is a rectangle in image pixels.
type Box struct{ X, Y, W, H float64 }

// Point is a position in image pixels.
type Point struct{ X, Y float64 }

// Detection is a face found by the detector, with its confidence in [0, 1].
type Detection struct {
	Box   Box
	Score float64
}

// Face is everything Analyze finds about one face.
type Face struct {
	Detection  Detection
	Landmarks  [68]Point
	Descriptor [128]float32
}

// Models holds the three nets. It is immutable once loaded and safe for concurrent use; each
// forward pass spreads its larger layers over GOMAXPROCS cores.
type Models struct {
	detector    *ssdNet
	landmarks   *landmarkNet
	recognition *recognitionNet
	workers     *workerPool
}

// LoadModels reads the nets' weights from dir (see DefaultModelDir and face/install-models.sh),
// refusing any shard whose sha256 is not the pinned one.
func LoadModels(dir string) (*Models, error) {
	load := func(name string) (*weightMap, error) { return loadWeightMap(dir, name) }
	wm, err := load("ssd_mobilenetv1_model")
	if err != nil {
		return nil, err
	}
	det, err := newSSDNet(wm)
	if err != nil {
		return nil, fmt.Errorf("build detector: %w", err)
	}
	if wm, err = load("face_landmark_68_model"); err != nil {
		return nil, err
	}
	lm, err := newLandmarkNet(wm)
	if err != nil {
		return nil, fmt.Errorf("build landmark net: %w", err)
	}
	if wm, err = load("face_recognition_model"); err != nil {
		return nil, err
	}
	rec, err := newRecognitionNet(wm)
	if err != nil {
		return nil, fmt.Errorf("build recognition net: %w", err)
	}
	m := &Models{detector: det, landmarks: lm, recognition: rec, workers: newWorkerPool()}
	// The workers hold no reference to m, so an unclosed Models still lets them go.
	runtime.AddCleanup(m, func(wp *workerPool) { wp.close() }, m.workers)
	return m, nil
}

// Close stops the goroutines that share out each layer's work. Later calls run on the calling
// goroutine alone. Close is idempotent.
func (m *Models) Close() { m.workers.close() }

// Distance is the Euclidean distance between two descriptors.
func Distance(a, b [128]float32) float64 {
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return math.Sqrt(s)
}

func checkSize(img image.Image) error {
	b := img.Bounds()
	if int64(b.Dx())*int64(b.Dy()) > MaxPixels {
		return fmt.Errorf("%dx%d: %w", b.Dx(), b.Dy(), ErrImageTooLarge)
	}
	return nil
}
