package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Without the face and OCR weights the server still starts, serves its pages
// and API, and the face and OCR endpoints say how to install the weights.
func TestServeWithoutModels(t *testing.T) {
	dir := t.TempDir()
	bin, addr := stoaBin(t), freeAddr(t)
	cmd := exec.Command(bin, "serve", "--listen", addr, "--udp-port", "0", "--tcp-port", "0", "--ice-ip", "127.0.0.1",
		"--models-dir", filepath.Join(dir, "no-models"), "--data-dir", filepath.Join(dir, "data"))
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-exited
	}()
	base := "http://" + addr
	// The server is up in well under a second on an idle machine; 60 s is a
	// bound only a server that never comes up trips, even on a slow, busy
	// one. A server that exits is reported at once.
	deadline := time.Now().Add(60 * time.Second)
	for ; ; time.Sleep(50 * time.Millisecond) {
		if res, err := http.Get(base + "/healthz"); err == nil {
			res.Body.Close()
			break
		}
		select {
		case err := <-exited:
			exited <- err // for the deferred wait
			t.Fatalf("server exited before it was up (%v):\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not up after 60 s:\n%s", logs.String())
		}
	}
	if res, err := http.Get(base + "/console"); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("console page: %v %v", err, res)
	}
	for _, path := range []string{"/api/ocr?kind=idcard", "/api/faces/detect"} {
		res, err := http.Post(base+path, "image/png", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Code, Message string }
		_ = json.NewDecoder(res.Body).Decode(&e)
		res.Body.Close()
		if res.StatusCode != http.StatusServiceUnavailable || e.Code != "models_missing" || !strings.Contains(e.Message, "make models") {
			t.Errorf("%s without models: %d %+v", path, res.StatusCode, e)
		}
	}
	if !strings.Contains(logs.String(), "run make models") {
		t.Errorf("the server did not say at start that the models are missing:\n%s", logs.String())
	}
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
