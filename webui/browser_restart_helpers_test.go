//go:build browser

// A stoa binary a test can stop and start again on the same address and data directory, as an operator's restart
// does: what the pages hold meanwhile (log batches, event streams, the call's state on disk) must survive it.

package webui_test

import (
	"fmt"
	"net/http"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// restartable is a `stoa serve` in dev mode with a fixed port, data directory and token secret, so the tokens
// the pages hold stay valid across a restart (a secret left empty is random per start).
type restartable struct {
	*server
	t       *testing.T
	port    int
	dataDir string
	cmd     *exec.Cmd
	exited  chan error
}

// startRestartable starts the server; it is stopped when the test ends.
func startRestartable(t *testing.T) *restartable {
	t.Helper()
	port := freePort(t)
	r := &restartable{
		server:  &server{url: fmt.Sprintf("http://127.0.0.1:%d", port), log: &tailBuffer{}},
		t:       t,
		port:    port,
		dataDir: t.TempDir(),
	}
	r.start()
	t.Cleanup(func() {
		if r.cmd != nil {
			r.stop()
		}
		if t.Failed() && r.shown == 0 {
			t.Logf("stoa serve output (last 200 lines):\n%s", r.log.tail(200))
		}
	})
	return r
}

// start runs the binary and waits until /healthz answers.
func (r *restartable) start() {
	r.t.Helper()
	bin := stoaBinary(r.t)
	fmt.Fprintf(r.log, "--- test: starting stoa serve on port %d\n", r.port)
	r.cmd = exec.Command(bin, "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", r.port),
		"--udp-port", "0", "--tcp-port", "0", "--ice-ip", "127.0.0.1", "--dev", "--data-dir", r.dataDir,
		"--token-secret", "browser-test-secret-kept-across-restarts")
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start stoa serve: %v", err)
	}
	r.exited = make(chan error, 1)
	go func(cmd *exec.Cmd, exited chan error) { exited <- cmd.Wait() }(r.cmd, r.exited)
	deadline := time.Now().Add(stepTimeout)
	for {
		res, err := http.Get(r.url + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-r.exited:
			r.cmd = nil
			r.t.Fatalf("stoa serve exited before it was healthy: %v\n%s", err, r.log.tail(50))
		case <-time.After(pollEvery):
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("stoa serve not healthy within %v (last error: %v)\n%s", stepTimeout, err, r.log.tail(50))
		}
	}
}

// stop sends SIGTERM and waits for the process to exit (it closes its listener and its data files).
func (r *restartable) stop() {
	r.t.Helper()
	fmt.Fprintf(r.log, "--- test: stopping stoa serve\n")
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(30 * time.Second): // a bound only a hung shutdown trips
		_ = r.cmd.Process.Kill()
		<-r.exited
		r.t.Errorf("stoa serve did not exit within 30 s of SIGTERM")
	}
	r.cmd = nil
}
