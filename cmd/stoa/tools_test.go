package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func installModels(t *testing.T) {
	t.Helper()
	if out, err := exec.Command("make", "-C", "../..", "--no-print-directory", "models").CombinedOutput(); err != nil {
		t.Fatalf("make models: %v\n%s", err, out)
	}
}

func TestFaceCLI(t *testing.T) {
	installModels(t)
	people := "../../../shared/testdata/faces/people/"
	data := t.TempDir()
	var out bytes.Buffer
	if err := faceCmd([]string{"verify", "--json", people + "sheldon/1.png", people + "sheldon/1.png"}, &out); err != nil {
		t.Fatal(err)
	}
	var v struct {
		Distance float64 `json:"distance"`
		Same     bool    `json:"same"`
		Faces    []int   `json:"faces"`
	}
	if err := json.Unmarshal(out.Bytes(), &v); err != nil || !v.Same || v.Distance > 0.01 || len(v.Faces) != 2 || v.Faces[0] != 1 {
		t.Fatalf("verify --json of one photo with itself: %s (%v)", out.String(), err)
	}
	out.Reset()
	if err := faceCmd([]string{"enroll", "--data-dir", data, "--id", "p1", people + "sheldon/1.png"}, &out); err != nil || !strings.Contains(out.String(), "enrolled p1") {
		t.Fatalf("enroll: %v %s", err, out.String())
	}
	out.Reset()
	if err := faceCmd([]string{"identify", "--json", "--data-dir", data, people + "sheldon/1.png"}, &out); err != nil || !strings.Contains(out.String(), `"id": "p1"`) {
		t.Fatalf("identify: %v %s", err, out.String())
	}
	if err := faceCmd([]string{"detect", "../../../shared/testdata/faces/reference/white.png"}, &out); err == nil || !strings.Contains(err.Error(), "no face") {
		t.Errorf("detect on a white image: %v", err)
	}
	if err := faceCmd([]string{"verify", people + "sheldon/1.png"}, &out); err == nil {
		t.Error("verify with one image succeeded")
	}
}

func TestOCRCLI(t *testing.T) {
	installModels(t)
	img := filepath.Join(t.TempDir(), "line.png")
	if out, err := exec.Command("/usr/bin/convert", "-size", "600x100", "xc:white", "-font", "Noto-Sans-CJK-SC", "-pointsize", "34",
		"-fill", "black", "-annotate", "+20+65", "保险理赔 Claim 42", img).CombinedOutput(); err != nil {
		t.Fatalf("render (needs imagemagick and fonts-noto-cjk): %v\n%s", err, out)
	}
	var out bytes.Buffer
	if err := ocrCmd([]string{"--json", img}, &out); err != nil {
		t.Fatal(err)
	}
	var v struct {
		Lines []struct {
			Text  string  `json:"text"`
			Score float64 `json:"score"`
			Box   []any   `json:"box"`
		} `json:"lines"`
		Fields map[string]any `json:"fields"`
	}
	if err := json.Unmarshal(out.Bytes(), &v); err != nil || len(v.Lines) != 1 || len(v.Lines[0].Box) != 4 || v.Fields == nil ||
		strings.ReplaceAll(v.Lines[0].Text, " ", "") != "保险理赔Claim42" {
		t.Fatalf("ocr --json: %s (%v)", out.String(), err)
	}
	if err := ocrCmd([]string{"--kind", "passport", img}, &out); err == nil {
		t.Error("an unknown kind was accepted")
	}
}
