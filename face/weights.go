package face

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
)

// ErrModelsMissing says the weight files are not where LoadModels looked; install them first.
var ErrModelsMissing = errors.New("face models missing: run `make models` (or face/install-models.sh)")

// modelSHA256 pins each weight shard (npm @vladmandic/face-api@1.7.15, folder model/):
// a shard that does not match is refused, never loaded.
var modelSHA256 = map[string]string{
	"face_recognition_model":   "b413e420d6840b2775fba32008db6f3cddb07d485967fb42cfcf379c16a8c589",
	"face_landmark_68_model":   "4611ef65c87d836d03d684b30eec4d195d8b219fa1dd58fc58945831c6b9299b",
	"ssd_mobilenetv1_model":    "2835640602d53718aa6ae9a42896327eaa21beefed056c218d32ca7d79e1e2f8",
	"tiny_face_detector_model": "b7503ce7df31039b1c43316a9b865cab6a70dd748cc602d3fa28b551503c3871",
}

// DefaultModelDir is $STOA_MODELS/face when STOA_MODELS is set, else .cache/models/face under the
// module root (found by walking up from the working directory to go.mod) or, failing that, under
// the running binary's directory.
func DefaultModelDir() string {
	if d := os.Getenv("STOA_MODELS"); d != "" {
		return filepath.Join(d, "face")
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				return filepath.Join(d, ".cache", "models", "face")
			}
			parent := filepath.Dir(d)
			if parent == d {
				break
			}
			d = parent
		}
	}
	if exe, err := os.Executable(); err == nil {
		return filepath.Join(filepath.Dir(exe), ".cache", "models", "face")
	}
	return filepath.Join(".cache", "models", "face")
}

// weightMap holds one net's tensors by name, dequantized to float32.
type weightMap struct {
	name    string
	tensors map[string]weightTensor
}

type weightTensor struct {
	shape []int
	data  []float32
}

type manifestGroup struct {
	Paths   []string `json:"paths"`
	Weights []struct {
		Name         string `json:"name"`
		Shape        []int  `json:"shape"`
		Dtype        string `json:"dtype"`
		Quantization *struct {
			Dtype string  `json:"dtype"`
			Min   float64 `json:"min"`
			Scale float64 `json:"scale"`
		} `json:"quantization"`
	} `json:"weights"`
}

// loadWeightMap reads NAME-weights_manifest.json and its shards from dir, checks the shards'
// sha256 and dequantizes every tensor (value = q*scale + min).
func loadWeightMap(dir, name string) (*weightMap, error) {
	raw, err := os.ReadFile(filepath.Join(dir, name+"-weights_manifest.json"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("load %s from %s: %w", name, dir, ErrModelsMissing)
		}
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	var groups []manifestGroup
	if err := json.Unmarshal(raw, &groups); err != nil {
		return nil, fmt.Errorf("parse %s manifest: %w", name, err)
	}
	var buf []byte
	for _, g := range groups {
		for _, p := range g.Paths {
			b, err := os.ReadFile(filepath.Join(dir, p))
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil, fmt.Errorf("load %s shard %s: %w", name, p, ErrModelsMissing)
				}
				return nil, fmt.Errorf("load %s shard %s: %w", name, p, err)
			}
			buf = append(buf, b...)
		}
	}
	sum := sha256.Sum256(buf)
	if want := modelSHA256[name]; want == "" || hex.EncodeToString(sum[:]) != want {
		return nil, fmt.Errorf("load %s: weights sha256 %x does not match the pinned %s", name, sum, want)
	}

	wm := &weightMap{name: name, tensors: map[string]weightTensor{}}
	off := 0
	for _, g := range groups {
		for _, w := range g.Weights {
			n := 1
			for _, d := range w.Shape {
				n *= d
			}
			data := make([]float32, n)
			switch {
			case w.Quantization != nil:
				q := w.Quantization
				size := map[string]int{"uint8": 1, "uint16": 2}[q.Dtype]
				if size == 0 {
					return nil, fmt.Errorf("load %s: %s has unsupported quantization %q", name, w.Name, q.Dtype)
				}
				if off+n*size > len(buf) {
					return nil, fmt.Errorf("load %s: shard too short at %s", name, w.Name)
				}
				for i := range data {
					var v uint16
					if size == 1 {
						v = uint16(buf[off+i])
					} else {
						v = binary.LittleEndian.Uint16(buf[off+2*i:])
					}
					data[i] = float32(float64(v)*q.Scale + q.Min)
				}
				off += n * size
			case w.Dtype == "float32" || w.Dtype == "int32":
				if off+4*n > len(buf) {
					return nil, fmt.Errorf("load %s: shard too short at %s", name, w.Name)
				}
				for i := range data {
					bits := binary.LittleEndian.Uint32(buf[off+4*i:])
					if w.Dtype == "float32" {
						data[i] = math.Float32frombits(bits)
					} else {
						data[i] = float32(int32(bits))
					}
				}
				off += 4 * n
			default:
				return nil, fmt.Errorf("load %s: %s has unsupported dtype %q", name, w.Name, w.Dtype)
			}
			wm.tensors[w.Name] = weightTensor{shape: w.Shape, data: data}
		}
	}
	if off != len(buf) {
		return nil, fmt.Errorf("load %s: manifest describes %d bytes, shards hold %d", name, off, len(buf))
	}
	return wm, nil
}

// get returns the named tensor, checking its element count against the product of want.
func (wm *weightMap) get(key string, want ...int) ([]float32, error) {
	t, ok := wm.tensors[key]
	if !ok {
		return nil, fmt.Errorf("%s: no tensor %q", wm.name, key)
	}
	n := 1
	for _, d := range want {
		n *= d
	}
	if len(want) > 0 && n != len(t.data) {
		return nil, fmt.Errorf("%s: tensor %q has shape %v, want %v", wm.name, key, t.shape, want)
	}
	return t.data, nil
}

// loader collects the first error of a sequence of get calls, so a net's construction reads as a
// list of layers rather than a list of error checks.
type loader struct {
	wm  *weightMap
	err error
}

func (l *loader) get(key string, shape ...int) []float32 {
	if l.err != nil {
		return nil
	}
	d, err := l.wm.get(key, shape...)
	if err != nil {
		l.err = err
		return make([]float32, prod(shape))
	}
	return d
}

func prod(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}
