package main

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stoa-video/stoa/recorder"
)

// sealedRecording encodes a short VP8 file with ffmpeg and signs its manifest
// with the key of dataDir, as the recorder does on stop.
func sealedRecording(t *testing.T, dataDir string) (string, []recorder.Span) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed: the recordings CLI test needs it")
	}
	path := filepath.Join(t.TempDir(), "call.webm")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=15", "-t", "2",
		"-c:v", "libvpx", "-b:v", "200k", "-cluster_time_limit", "500", path).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	key, err := recorder.LoadOrCreateKey(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	fh, err := recorder.HashFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := &recorder.Manifest{File: "call.webm", Room: "claim-42", UID: "customer-1"}
	m.SetHashes(fh)
	if err := m.Sign(key); err != nil {
		t.Fatal(err)
	}
	if err := recorder.WriteManifest(recorder.ManifestPath(path), m); err != nil {
		t.Fatal(err)
	}
	return path, fh.Spans
}

func TestRecordingsVerifyCLI(t *testing.T) {
	dataDir := t.TempDir()
	path, spans := sealedRecording(t, dataDir)
	key, _ := recorder.LoadKey(dataDir)
	pub := recorder.EncodePublicKey(key.Public().(ed25519.PublicKey))
	keyFile := filepath.Join(t.TempDir(), "pub.txt")
	os.WriteFile(keyFile, []byte(pub+"\n"), 0o644)

	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := recordingsCmd(append([]string{"verify"}, args...), &out)
		return out.String(), err
	}
	for _, args := range [][]string{{"--data-dir", dataDir}, {"--key", pub}, {"--key", keyFile}} {
		if out, err := run(append(args, path)...); err != nil || out != path+": verified\n" {
			t.Errorf("%v: %q %v", args, out, err)
		}
	}
	if out, err := run(path); err != nil || !strings.Contains(out, "verified (signed by the manifest's own key") {
		t.Errorf("no trusted key: %q %v", out, err)
	}

	// One byte flipped in cluster 1 of a copy: that file fails, naming it; the
	// untouched one still passes, and the command fails as a whole.
	data, _ := os.ReadFile(path)
	data[spans[1].Offset+spans[1].Size/2] ^= 0x80
	altered := filepath.Join(t.TempDir(), "call.webm")
	os.WriteFile(altered, data, 0o600)
	man, _ := os.ReadFile(recorder.ManifestPath(path))
	os.WriteFile(recorder.ManifestPath(altered), man, 0o600)
	out, err := run("--data-dir", dataDir, path, altered)
	if err == nil || !strings.Contains(err.Error(), "1 of 2") ||
		!strings.Contains(out, path+": verified\n") || !strings.Contains(out, altered+": ALTERED: cluster 1 differs") {
		t.Errorf("one altered file: %q %v", out, err)
	}

	if _, err := run("--data-dir", t.TempDir(), path); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("a data dir without a key: %v", err)
	}
	// Another server's key: the signature does not verify.
	other := t.TempDir()
	recorder.LoadOrCreateKey(other)
	if out, err := run("--data-dir", other, path); err == nil || !strings.Contains(out, "ALTERED: bad signature") {
		t.Errorf("another key: %q %v", out, err)
	}
	if _, err := run("--key", "not-a-key", path); err == nil {
		t.Error("a bad --key was accepted")
	}
	if _, err := run("--key", pub, "--data-dir", dataDir, path); err == nil {
		t.Error("--key and --data-dir together were accepted")
	}
	if _, err := run(); err == nil {
		t.Error("verify without files succeeded")
	}
	if err := recordingsCmd([]string{"frobnicate"}, &bytes.Buffer{}); err == nil {
		t.Error("an unknown subcommand succeeded")
	}
}

// repair on a file ffmpeg wrote (a SeekHead, a Segment of known size) cut in
// the middle of a cluster: the CLI keeps the complete clusters, says so,
// signs the copy when given the data dir, leaves the original alone, and
// refuses to overwrite its earlier work.
func TestRecordingsRepairCLI(t *testing.T) {
	dataDir := t.TempDir()
	path, spans := sealedRecording(t, dataDir)
	if len(spans) < 3 {
		t.Fatalf("%d clusters in the clip, want 3 or more", len(spans))
	}
	data, _ := os.ReadFile(path)
	cut := filepath.Join(t.TempDir(), "cut.webm")
	last := spans[len(spans)-1]
	size := last.Offset + last.Size/2
	os.WriteFile(cut, data[:size], 0o600)

	var out bytes.Buffer
	if err := recordingsCmd([]string{"repair", "--data-dir", dataDir, cut}, &out); err != nil {
		t.Fatalf("repair: %v\n%s", err, out.String())
	}
	want := fmt.Sprintf("%d clusters kept", len(spans)-1)
	if !strings.Contains(out.String(), "repaired into "+recorder.RepairedPath(cut)) || !strings.Contains(out.String(), want) ||
		!strings.Contains(out.String(), fmt.Sprintf("truncated tail of %d bytes dropped", size-last.Offset)) ||
		!strings.Contains(out.String(), "signed manifest") {
		t.Errorf("repair says:\n%s", out.String())
	}
	if o, err := exec.Command("ffmpeg", "-v", "error", "-i", recorder.RepairedPath(cut), "-f", "null", "-").CombinedOutput(); err != nil || len(o) > 0 {
		t.Errorf("ffmpeg on the repaired file: %v %s", err, o)
	}
	out.Reset()
	if err := recordingsCmd([]string{"verify", "--data-dir", dataDir, recorder.RepairedPath(cut)}, &out); err != nil {
		t.Errorf("verify the repaired file: %v\n%s", err, out.String())
	}
	if got, _ := os.ReadFile(cut); !bytes.Equal(got, data[:size]) {
		t.Error("repair changed the original")
	}
	out.Reset()
	if err := recordingsCmd([]string{"repair", cut}, &out); err == nil || !strings.Contains(out.String(), "already exists") {
		t.Errorf("a second repair: %v\n%s", err, out.String())
	}
	if err := recordingsCmd([]string{"repair", "--data-dir", t.TempDir(), cut}, &out); err == nil {
		t.Error("repair with a data dir without a key succeeded")
	}
	if err := recordingsCmd([]string{"repair"}, &out); err == nil {
		t.Error("repair without files succeeded")
	}
}
