package api_test

import (
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stoa-video/stoa/face"
	"github.com/stoa-video/stoa/ocr"
	"github.com/stoa-video/stoa/signaling"
)

var (
	modelsOnce  sync.Once
	modelsErr   error
	faceModels  *face.Models
	ocrEngine   *ocr.Engine
	installLogs []byte
)

// realModels loads the real face and OCR models, installing them with
// `make models` first if they are missing: the API is tested on real nets.
func realModels(t *testing.T) (*face.Models, *ocr.Engine) {
	t.Helper()
	modelsOnce.Do(func() {
		installLogs, modelsErr = exec.Command("make", "-C", "..", "--no-print-directory", "models").CombinedOutput()
		if modelsErr != nil {
			return
		}
		if faceModels, modelsErr = face.LoadModels(face.DefaultModelDir()); modelsErr != nil {
			return
		}
		ocrEngine, modelsErr = ocr.NewEngine(ocr.Options{ModelDir: ocr.DefaultModelDir()})
	})
	if modelsErr != nil {
		t.Fatalf("models: %v\n%s", modelsErr, installLogs)
	}
	return faceModels, ocrEngine
}

func withClaims(t *testing.T) serverOption {
	fm, oe := realModels(t)
	g, err := face.OpenGallery(filepath.Join(t.TempDir(), "faces.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return func(c *testConfig) {
		c.api.Faces, c.api.Gallery, c.api.OCR, c.sig.APIKeys = fm, g, oe, []string{"operator-key"}
	}
}

// Without the weights the server still serves calls, and the face and OCR
// endpoints say how to install them.
func TestModelsMissing(t *testing.T) {
	missing := face.ErrModelsMissing
	ts := newTestServer(t, withKey, func(c *testConfig) {
		c.api.FacesErr, c.api.OCRErr = missing, ocr.ErrModelsMissing
	})
	for _, url := range []string{"/api/faces/detect", "/api/ocr?kind=idcard", "/api/rooms/r/participants/u/faces/verify?id=x", "/api/rooms/r/participants/u/ocr"} {
		status, out := post(t, ts.http.URL+url, "operator-key", []byte("x"))
		msg, _ := out["message"].(string)
		if status != http.StatusServiceUnavailable || out["code"] != signaling.CodeModelsMissing || !strings.Contains(msg, "make models") {
			t.Errorf("%s without models: %d %v", url, status, out)
		}
	}
}
