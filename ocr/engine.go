package ocr

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	ort "github.com/yalue/onnxruntime_go"
)

// Model files the engine loads from Options.ModelDir, with the sha256 each must
// have (the values of shared/models/README.md, also checked by ocr/install-models.sh).
const (
	detModelFile = "ch_PP-OCRv4_det_infer.onnx"
	recModelFile = "ch_PP-OCRv4_rec_infer.onnx"
	clsModelFile = "ch_ppocr_mobile_v2.0_cls_infer.onnx"
	keysFile     = "ppocr_keys_v1.txt"
	ortLibFile   = "libonnxruntime.so.1"
)

var modelSHA256 = map[string]string{
	detModelFile: "30a86f5731181461d08021402766601e4302a9b9b9666be8aff402696339cdff",
	recModelFile: "06b3e6af6c59a1ba5d53790ed8c2e4b2de389870b6cf5a97f349f3412cb269c0",
	clsModelFile: "491843a3c65de46295864c6815e41127eaa812c4dac1e19c6850ec49da9d3640",
	keysFile:     "28b2362ad4ab2dc38769aa72feb535e3a9ddb3fd2a7585a05920e6393b1dc7f7",
	ortLibFile:   "ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23",
}

// maxPixels is the largest image Read accepts: 40 megapixels, well above any phone
// camera frame or scanned page, and small enough that the working copy (3 bytes a
// pixel) stays near 120 MB.
const maxPixels = 40_000_000

var (
	// ErrModelsMissing means a model file or the ONNX Runtime library is not in the
	// model folder.
	ErrModelsMissing = errors.New("ocr models missing: run `make models` (or ocr/install-models.sh)")
	// ErrModelMismatch means a file in the model folder does not have the expected
	// sha256; the engine refuses to load it.
	ErrModelMismatch = errors.New("ocr model file has the wrong sha256: reinstall with `make models` (or ocr/install-models.sh)")
	// ErrImageTooLarge means the image has more than 40 megapixels; Read refuses it
	// before doing any work on it.
	ErrImageTooLarge = errors.New("ocr: image larger than 40 megapixels")
	// ErrEmptyImage means the image has zero width or height.
	ErrEmptyImage = errors.New("ocr: empty image")
	// ErrClosed means Read was called on a closed Engine.
	ErrClosed = errors.New("ocr: engine closed")
)

// Options says where the engine's models live and how it runs them. Zero fields
// take the defaults.
type Options struct {
	// ModelDir holds the four model files and libonnxruntime.so.1; default DefaultModelDir().
	ModelDir string
	// MaxSide is the longest side of the image given to text detection (PaddleOCR's
	// det_limit_side_len with limit_type "max"); default 960.
	MaxSide int
	// Threads is ONNX Runtime's intra-op thread count per model; default 2.
	Threads int
	// Logger receives the engine's few log lines; default slog.Default().
	Logger *slog.Logger
}

// DefaultModelDir is where the engine looks for its models when Options.ModelDir
// is empty: $STOA_MODELS/ocr when STOA_MODELS is set; otherwise .cache/models/ocr
// in the module root (found by walking up to go.mod from the working directory,
// then from the running binary's folder) or beside the running binary, whichever
// exists first. When none exists it names the first of them, so that the error
// says where `make models` puts the files.
func DefaultModelDir() string {
	if d := os.Getenv("STOA_MODELS"); d != "" {
		return filepath.Join(d, "ocr")
	}
	const rel = ".cache/models/ocr"
	var candidates []string
	if wd, err := os.Getwd(); err == nil {
		if root := moduleRoot(wd); root != "" {
			candidates = append(candidates, filepath.Join(root, rel))
		}
	}
	if exe, err := os.Executable(); err == nil {
		if root := moduleRoot(filepath.Dir(exe)); root != "" {
			candidates = append(candidates, filepath.Join(root, rel))
		}
		candidates = append(candidates, filepath.Join(filepath.Dir(exe), rel))
	}
	for _, c := range candidates {
		if fi, err := os.Stat(c); err == nil && fi.IsDir() {
			return c
		}
	}
	if len(candidates) > 0 {
		return candidates[0]
	}
	return rel
}

// moduleRoot walks up from dir to the first folder holding go.mod, or returns "".
func moduleRoot(dir string) string {
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Engine reads text with PaddleOCR PP-OCRv4 through ONNX Runtime: detection,
// 0/180° direction classification, recognition. One Engine holds one session per
// model and is safe for concurrent Read calls, which take turns.
type Engine struct {
	maxSide int
	log     *slog.Logger
	det     *model
	cls     *model
	rec     *model
	chars   []string // CTC classes: blank, the dictionary, then a space

	mu     sync.RWMutex // held for reading by Read, for writing by Close
	closed bool
	// one makes reads take turns. ONNX Runtime already spreads one read over
	// Threads cores, so a second read at the same time would not finish
	// sooner, but would double the peak memory (≈ 250 MB a read at max side
	// 960): a burst of reads must not take the server's memory.
	one sync.Mutex
}

// model is one ONNX session with its single input and output names.
//
// onnxruntime_go's DynamicAdvancedSession.Run builds its argument arrays per call
// and only reads the session's fields, and ONNX Runtime documents
// OrtApi::Run as safe to call concurrently on one session, so Read needs no lock
// around Run.
type model struct {
	name    string
	session *ort.DynamicAdvancedSession
}

var (
	ortOnce sync.Once
	ortErr  error
	ortPath string
)

// initRuntime loads libonnxruntime.so.1 from path and creates the process-wide
// ONNX Runtime environment, once per process; later calls return the first
// outcome.
func initRuntime(path string, log *slog.Logger) error {
	ortOnce.Do(func() {
		ortPath = path
		if ort.IsInitialized() {
			return // someone else in this process set it up
		}
		ort.SetSharedLibraryPath(path)
		if err := ort.InitializeEnvironment(); err != nil {
			ortErr = fmt.Errorf("load onnx runtime %s: %w", path, err)
			return
		}
		log.Info("onnx runtime loaded", "path", path, "version", ort.GetVersion())
	})
	if ortErr == nil && ortPath != path {
		log.Debug("onnx runtime already loaded from another folder", "loaded", ortPath, "wanted", path)
	}
	return ortErr
}

// NewEngine checks the sha256 of every model file, loads ONNX Runtime (once per
// process) and opens one session per model. A missing file gives an error wrapping
// ErrModelsMissing, a wrong one ErrModelMismatch.
func NewEngine(o Options) (*Engine, error) {
	if o.ModelDir == "" {
		o.ModelDir = DefaultModelDir()
	}
	if o.MaxSide <= 0 {
		o.MaxSide = 960
	}
	if o.Threads <= 0 {
		o.Threads = 2
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	start := time.Now()
	for _, name := range []string{ortLibFile, detModelFile, clsModelFile, recModelFile, keysFile} {
		if err := verifyFile(filepath.Join(o.ModelDir, name), modelSHA256[name]); err != nil {
			return nil, fmt.Errorf("new ocr engine: %w", err)
		}
	}
	if err := initRuntime(filepath.Join(o.ModelDir, ortLibFile), o.Logger); err != nil {
		return nil, fmt.Errorf("new ocr engine: %w", err)
	}
	keys, err := os.ReadFile(filepath.Join(o.ModelDir, keysFile))
	if err != nil {
		return nil, fmt.Errorf("new ocr engine: read dictionary: %w", err)
	}
	e := &Engine{maxSide: o.MaxSide, log: o.Logger, chars: ctcClasses(string(keys))}

	tuneMalloc()
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("new ocr engine: session options: %w", err)
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(o.Threads); err != nil {
		return nil, fmt.Errorf("new ocr engine: intra-op threads: %w", err)
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("new ocr engine: inter-op threads: %w", err)
	}
	// Idle ORT worker threads spin by default; on a server that also forwards media
	// they would take CPU from it between calls.
	if err := opts.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"); err != nil {
		return nil, fmt.Errorf("new ocr engine: disable spinning: %w", err)
	}
	// ORT's arena would keep the peak of a burst of reads for the life of the
	// process; without it tensors go to malloc and ReleaseMemory returns them.
	if err := opts.SetCpuMemArena(false); err != nil {
		return nil, fmt.Errorf("new ocr engine: disable the CPU memory arena: %w", err)
	}
	if err := opts.SetMemPattern(false); err != nil {
		return nil, fmt.Errorf("new ocr engine: disable memory patterns: %w", err)
	}
	for _, m := range []struct {
		dst  **model
		file string
	}{{&e.det, detModelFile}, {&e.cls, clsModelFile}, {&e.rec, recModelFile}} {
		*m.dst, err = openModel(filepath.Join(o.ModelDir, m.file), opts)
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("new ocr engine: %w", err)
		}
	}
	// The recognizer's classes must be the dictionary plus blank and space.
	_, outs, err := ort.GetInputOutputInfo(filepath.Join(o.ModelDir, recModelFile))
	if err != nil || len(outs) != 1 || len(outs[0].Dimensions) != 3 {
		e.Close()
		return nil, fmt.Errorf("new ocr engine: recognizer output shape: %v (%v)", outs, err)
	}
	if c := outs[0].Dimensions[2]; c != int64(len(e.chars)) {
		e.Close()
		return nil, fmt.Errorf("new ocr engine: recognizer has %d classes, dictionary gives %d", c, len(e.chars))
	}
	e.log.Info("ocr engine ready", "dir", o.ModelDir, "max_side", o.MaxSide, "threads", o.Threads,
		"took", time.Since(start).Round(time.Millisecond))
	return e, nil
}

// ctcClasses turns the dictionary file into the recognizer's classes: index 0 is
// the CTC blank, then one class per dictionary line, then a space
// (PaddleOCR's use_space_char=True).
func ctcClasses(keys string) []string {
	keys = strings.TrimSuffix(strings.ReplaceAll(keys, "\r\n", "\n"), "\n")
	lines := strings.Split(keys, "\n")
	chars := make([]string, 0, len(lines)+2)
	chars = append(chars, "")
	chars = append(chars, lines...)
	return append(chars, " ")
}

// verifyFile checks that path exists and has the given sha256.
func verifyFile(path, want string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: %w", path, ErrModelsMissing)
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("hash %s: %w", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%s: sha256 %s, want %s: %w", path, got, want, ErrModelMismatch)
	}
	return nil
}

// openModel opens one ONNX session whose single input and output take any size.
func openModel(path string, opts *ort.SessionOptions) (*model, error) {
	ins, outs, err := ort.GetInputOutputInfo(path)
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", path, err)
	}
	if len(ins) != 1 || len(outs) != 1 {
		return nil, fmt.Errorf("%s: want one input and one output, have %d and %d", path, len(ins), len(outs))
	}
	s, err := ort.NewDynamicAdvancedSession(path, []string{ins[0].Name}, []string{outs[0].Name}, opts)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &model{name: filepath.Base(path), session: s}, nil
}

// run feeds one float32 NCHW tensor to the model and returns its output data and
// shape. The output is a Go-owned copy.
func (m *model) run(shape []int64, data []float32) ([]float32, []int64, error) {
	in, err := ort.NewTensor(ort.NewShape(shape...), data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: input tensor %v: %w", m.name, shape, err)
	}
	defer in.Destroy()
	outs := []ort.Value{nil}
	if err := m.session.Run([]ort.Value{in}, outs); err != nil {
		return nil, nil, fmt.Errorf("%s: run on %v: %w", m.name, shape, err)
	}
	defer outs[0].Destroy()
	t, ok := outs[0].(*ort.Tensor[float32])
	if !ok {
		return nil, nil, fmt.Errorf("%s: output is %T, want float32 tensor", m.name, outs[0])
	}
	return t.GetData(), t.GetShape(), nil
}

// Close releases the ONNX sessions; Read calls in flight finish first. The ONNX
// Runtime library stays loaded for the process. Close is idempotent.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	var errs []error
	for _, m := range []*model{e.det, e.cls, e.rec} {
		if m != nil {
			if err := m.session.Destroy(); err != nil {
				errs = append(errs, fmt.Errorf("close %s: %w", m.name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Read returns every line of text in img in reading order (top to bottom, then
// left to right within a row), one Line per detected box; the structured readers
// merge them. An image without text gives an empty slice. Images above 40
// megapixels are refused with ErrImageTooLarge, empty ones with ErrEmptyImage.
func (e *Engine) Read(ctx context.Context, img image.Image) ([]Line, error) {
	b := img.Bounds()
	if b.Empty() {
		return nil, fmt.Errorf("ocr read %v: %w", b, ErrEmptyImage)
	}
	if int64(b.Dx())*int64(b.Dy()) > maxPixels {
		return nil, fmt.Errorf("ocr read %dx%d: %w", b.Dx(), b.Dy(), ErrImageTooLarge)
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, ErrClosed
	}
	e.one.Lock()
	defer e.one.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("ocr read: %w", err)
	}
	src := toBGR(img)
	boxes, err := e.detect(src)
	if err != nil {
		return nil, fmt.Errorf("ocr read: detect: %w", err)
	}
	lines := []Line{}
	if len(boxes) == 0 {
		return lines, nil
	}
	sortBoxes(boxes)
	crops := make([]*bgr, len(boxes))
	for i, q := range boxes {
		crops[i] = cropQuad(src, q)
	}
	if err := e.orient(ctx, crops); err != nil {
		return nil, fmt.Errorf("ocr read: classify direction: %w", err)
	}
	texts, err := e.recognize(ctx, crops)
	if err != nil {
		return nil, fmt.Errorf("ocr read: recognize: %w", err)
	}
	for i, t := range texts {
		if t.text == "" || t.score < recMinScore {
			continue
		}
		l := Line{Text: t.text, Score: t.score}
		for k, p := range boxes[i] {
			l.Box[k] = image.Pt(b.Min.X+int(p.x+0.5), b.Min.Y+int(p.y+0.5))
		}
		lines = append(lines, l)
	}
	return lines, nil
}
