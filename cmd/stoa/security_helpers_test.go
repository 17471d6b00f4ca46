package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The security suite runs the real binary as an operator deploys it: dev
// off, an API key and a token secret set.
const (
	testAPIKey      = "sec-operator-key-7f3a9c"
	testTokenSecret = "sec-token-secret-0123456789abcdef"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// stoaBin builds cmd/stoa once per test run.
func stoaBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "stoa-sec-bin")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "stoa")
		if out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// stoaProc is a running `stoa serve`.
type stoaProc struct {
	t       *testing.T
	cmd     *exec.Cmd
	base    string
	addr    string
	dataDir string
	logs    *lockedBuffer
	done    chan struct{} // closed once the process has exited and been reaped
	exitErr error         // Wait's result, readable once done is closed
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// operatorArgs are the flags of a production-like server: dev off, a key, a secret.
func operatorArgs() []string {
	return []string{"--dev=false", "--api-key", testAPIKey, "--token-secret", testTokenSecret}
}

// startStoa starts the binary with the test's ICE settings plus args, and
// waits for /healthz. withModels false points it at an empty models dir.
func startStoa(t *testing.T, withModels bool, args ...string) *stoaProc {
	t.Helper()
	return startStoaWrapped(t, withModels, nil, args...)
}

// startStoaWrapped is startStoa with the server's command line given to
// wrapper (a command and its first arguments) when wrapper is set.
func startStoaWrapped(t *testing.T, withModels bool, wrapper []string, args ...string) *stoaProc {
	t.Helper()
	dir := t.TempDir()
	p := &stoaProc{t: t, addr: freeAddr(t), dataDir: filepath.Join(dir, "data"), logs: &lockedBuffer{}, done: make(chan struct{})}
	p.base = "http://" + p.addr
	all := []string{"serve", "--listen", p.addr, "--udp-port", "0", "--tcp-port", "0", "--ice-ip", "127.0.0.1", "--data-dir", p.dataDir}
	if !withModels {
		all = append(all, "--models-dir", filepath.Join(dir, "no-models"))
	}
	line := append(append(append([]string{}, wrapper...), stoaBin(t)), append(all, args...)...)
	p.cmd = exec.Command(line[0], line[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exitErr = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.stop)
	deadline := time.Now().Add(90 * time.Second) // loading the models on a busy machine
	for {
		if res, err := http.Get(p.base + "/healthz"); err == nil {
			res.Body.Close()
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("stoa exited at start: %v\n%s", p.exitErr, p.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("stoa not up:\n%s", p.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *stoaProc) stop() {
	if !p.alive() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// alive reports whether the process still runs: not exited and reaped (a
// signal 0 would also succeed on a zombie).
func (p *stoaProc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// procStatus reads a kB field (VmRSS, VmHWM) of /proc/PID/status in bytes.
func (p *stoaProc) procStatus(field string) int64 {
	p.t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		p.t.Fatalf("read /proc status: %v", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				p.t.Fatalf("parse %s: %v", line, err)
			}
			return kb << 10
		}
	}
	p.t.Fatalf("no %s in /proc status", field)
	return 0
}

// apiReply is a decoded API answer.
type apiReply struct {
	Status     int
	Code       string
	Message    string
	RetryAfter string
	Body       map[string]any
}

// call sends a request with optional bearer credentials and headers; a
// transport error fails the test. Only for the test's own goroutine.
func (p *stoaProc) call(method, path, bearer string, body []byte, header ...string) apiReply {
	p.t.Helper()
	r, err := p.try(method, path, bearer, body, header...)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// try is call for any goroutine: it returns the transport error.
func (p *stoaProc) try(method, path, bearer string, body []byte, header ...string) (apiReply, error) {
	req, err := http.NewRequest(method, p.base+path, bytes.NewReader(body))
	if err != nil {
		return apiReply{}, err
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return apiReply{}, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := apiReply{Status: res.StatusCode, RetryAfter: res.Header.Get("Retry-After")}
	_ = json.Unmarshal(raw, &r.Body)
	r.Code, _ = r.Body["code"].(string)
	r.Message, _ = r.Body["message"].(string)
	return r, nil
}

// mint asks the server for a token with the operator key.
func (p *stoaProc) mint(room, uid, tag string, can ...string) string {
	p.t.Helper()
	body, _ := json.Marshal(map[string]any{"room": room, "uid": uid, "role": "host", "tag": tag, "can": can})
	r := p.call(http.MethodPost, "/api/token", testAPIKey, body, "Content-Type", "application/json")
	tok, _ := r.Body["token"].(string)
	if r.Status != http.StatusOK || tok == "" {
		p.t.Fatalf("mint %s/%s: %d %v", room, uid, r.Status, r.Body)
	}
	return tok
}

// wsURL is the websocket address.
func (p *stoaProc) wsURL() string { return "ws://" + p.addr + "/ws" }
