package api_test

import (
	"bytes"
	"image"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stoa-video/stoa/signaling"
)

func TestOCRAPI(t *testing.T) {
	ts := newTestServer(t, withClaims(t))
	api := ts.http.URL + "/api/ocr"
	img := filepath.Join(t.TempDir(), "text.png")
	if out, err := exec.Command("/usr/bin/convert", "-size", "640x120", "xc:white", "-font", "Noto-Sans-CJK-SC", "-pointsize", "36",
		"-fill", "black", "-annotate", "+20+75", "理赔编号 Claim 2026-0042", img).CombinedOutput(); err != nil {
		t.Fatalf("render (needs imagemagick and fonts-noto-cjk): %v\n%s", err, out)
	}
	text, _ := os.ReadFile(img)
	status, out := post(t, api+"?kind=text", "operator-key", text)
	lines, _ := out["lines"].([]any)
	if status != http.StatusOK || len(lines) != 1 || !strings.Contains(strings.ReplaceAll(lines[0].(map[string]any)["text"].(string), " ", ""), "2026-0042") {
		t.Fatalf("OCR of a rendered line: %d %v", status, out)
	}
	var blank bytes.Buffer
	_ = png.Encode(&blank, image.NewGray(image.Rect(0, 0, 320, 200)))
	status, out = post(t, api+"?kind=idcard", "operator-key", blank.Bytes())
	if status != http.StatusOK || out["warning"] != signaling.CodeNoText || out["valid"] != false {
		t.Errorf("OCR of a blank image: %d %v", status, out)
	}
	for _, b := range []struct {
		name, url string
		body      []byte
		status    int
		code      string
	}{
		{"unsupported kind", api + "?kind=passport", text, http.StatusBadRequest, signaling.CodeUnsupportedKind},
		{"corrupt image", api, []byte("GIF89a...."), http.StatusBadRequest, signaling.CodeBadImage},
		{"huge image", api, hugePNG(t), http.StatusRequestEntityTooLarge, signaling.CodeImageTooLarge},
	} {
		status, out := post(t, b.url, "operator-key", b.body)
		if status != b.status || out["code"] != b.code {
			t.Errorf("%s: got %d %v, want %d %s", b.name, status, out, b.status, b.code)
		}
	}
}
