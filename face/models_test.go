package face

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestLoadModelsMissing(t *testing.T) {
	_, err := LoadModels(t.TempDir())
	if !errors.Is(err, ErrModelsMissing) {
		t.Fatalf("LoadModels(empty dir) error %v, want ErrModelsMissing", err)
	}
}

// A shard whose sha256 is not the pinned one is refused.
func TestLoadModelsTampered(t *testing.T) {
	loadTestModels(t)
	src, dir := DefaultModelDir(), t.TempDir()
	for _, f := range []string{"ssd_mobilenetv1_model-weights_manifest.json", "ssd_mobilenetv1_model.bin"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Ext(f) == ".bin" {
			b[len(b)/2] ^= 1
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := LoadModels(dir); err == nil || errors.Is(err, ErrModelsMissing) {
		t.Fatalf("LoadModels(tampered) error %v, want a sha256 mismatch", err)
	}
}

func TestDefaultModelDir(t *testing.T) {
	t.Setenv("STOA_MODELS", "/srv/models")
	if got := DefaultModelDir(); got != "/srv/models/face" {
		t.Errorf("with STOA_MODELS: %s", got)
	}
	t.Setenv("STOA_MODELS", "")
	wd, _ := os.Getwd()
	if got, want := DefaultModelDir(), filepath.Join(filepath.Dir(wd), ".cache", "models", "face"); got != want {
		t.Errorf("DefaultModelDir() = %s, want %s", got, want)
	}
}

// Concurrent Analyze calls on one Models give the same results as one at a time, and Close
// stops the worker goroutines.
func TestConcurrentAndClose(t *testing.T) {
	loadTestModels(t)
	before := runtime.NumGoroutine()
	m, err := LoadModels(DefaultModelDir())
	if err != nil {
		t.Fatal(err)
	}
	imgs := []string{"face1.png", "face2.png", "faces.jpg"}
	want := make([][]Face, len(imgs))
	for i, f := range imgs {
		if want[i], err = m.Analyze(loadImage(t, filepath.Join(refDir, f))); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i, f := range imgs {
		img := loadImage(t, filepath.Join(refDir, f))
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := m.Analyze(img)
			if err != nil {
				t.Error(err)
				return
			}
			if len(got) != len(want[i]) || got[0] != want[i][0] {
				t.Errorf("%s: concurrent result differs", f)
			}
		}()
	}
	wg.Wait()
	m.Close()
	m.Close()
	if _, err := m.Analyze(loadImage(t, filepath.Join(refDir, "face1.png"))); err != nil {
		t.Errorf("Analyze after Close: %v", err)
	}
	// The goroutines end promptly; 30 s is a bound only a leak trips, even on
	// a slow, busy machine.
	for deadline := time.Now().Add(30 * time.Second); runtime.NumGoroutine() > before; {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after Close, %d before LoadModels", runtime.NumGoroutine(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
