package face

import (
	"encoding/json"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

const refDir = "../../shared/testdata/faces/reference"

var (
	testModelsOnce sync.Once
	testModels     *Models
	testModelsErr  error
)

// loadTestModels loads the real weights, installing them with install-models.sh first if the
// model directory is missing. It never skips: without the weights the tests fail.
func loadTestModels(t testing.TB) *Models {
	t.Helper()
	testModelsOnce.Do(func() {
		dir := DefaultModelDir()
		if _, err := os.Stat(filepath.Join(dir, "face_recognition_model.bin")); err != nil {
			cmd := exec.Command("bash", "install-models.sh", dir)
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				testModelsErr = err
				return
			}
		}
		testModels, testModelsErr = LoadModels(dir)
	})
	if testModelsErr != nil {
		t.Fatalf("face models: %v", testModelsErr)
	}
	return testModels
}

func loadImage(t testing.TB, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return img
}

func loadJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
}
