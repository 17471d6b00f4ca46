package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stoa-video/stoa/callcenter"
)

// TestServeCallCenter runs the real binary in dev mode with a webhook: a
// call is created and queued, the signed-in console rings, the webhook
// receiver gets call-queued signed with its secret, and SIGTERM ends the
// server promptly although a console's event stream is open. Neither the
// webhook secret nor a token reaches the log.
func TestServeCallCenter(t *testing.T) {
	const hookSecret = "hook-secret-for-the-serve-test"
	hooks := make(chan callcenter.WebhookEvent, 8)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get(callcenter.SignatureHeader) != callcenter.Sign(hookSecret, body) {
			t.Errorf("webhook signature %q does not match its body", r.Header.Get(callcenter.SignatureHeader))
		}
		var ev callcenter.WebhookEvent
		_ = json.Unmarshal(body, &ev)
		hooks <- ev
	}))
	defer receiver.Close()

	dir := t.TempDir()
	bin, addr := stoaBin(t), freeAddr(t)
	cmd := exec.Command(bin, "serve", "--listen", addr, "--udp-port", "0", "--tcp-port", "0", "--ice-ip", "127.0.0.1",
		"--models-dir", filepath.Join(dir, "no-models"), "--data-dir", filepath.Join(dir, "data"),
		"--calls-webhook", receiver.URL+"/hook|"+hookSecret)
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			<-exited
		}
	}()
	base := "http://" + addr
	deadline := time.Now().Add(60 * time.Second) // a bound only a server that never comes up trips
	for ; ; time.Sleep(50 * time.Millisecond) {
		if res, err := http.Get(base + "/healthz"); err == nil {
			res.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not up after 60 s:\n%s", logs.String())
		}
	}
	postJSON := func(path, bearer string, body any) map[string]any {
		t.Helper()
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(raw))
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		out := map[string]any{}
		_ = json.NewDecoder(res.Body).Decode(&out)
		if res.StatusCode/100 != 2 {
			t.Fatalf("POST %s: %d %v", path, res.StatusCode, out)
		}
		return out
	}
	call := postJSON("/api/calls", "", map[string]string{"claim": "CLM-1", "customer": "Wang Fang"})
	agentTok := postJSON("/api/token", "", map[string]any{"room": "call-center", "uid": "agent-1", "tag": "agent",
		"can": []string{"call_center", "claim_tools"}})["token"].(string)

	res, err := http.Get(base + "/api/agents/events?token=" + agentTok)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("console sign-in: %v %v", err, res)
	}
	defer res.Body.Close()
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	waitLine := func(want string) {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("the console's stream ended before %q", want)
				}
				if strings.Contains(l, want) {
					return
				}
			case <-timeout:
				t.Fatalf("no %q on the console's stream", want)
			}
		}
	}
	waitLine("event: presence")
	postJSON("/api/calls/"+call["id"].(string)+"/request", call["token"].(string), map[string]any{"device": map[string]string{"ua": "test"}})
	waitLine(`"id":"` + call["id"].(string) + `"`)
	select {
	case ev := <-hooks:
		if ev.Type != "call-queued" {
			t.Fatalf("first webhook %+v", ev)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no webhook from the server")
	}

	// SIGTERM with the stream still open: the server ends it and exits.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Fatalf("server exited with %v:\n%s", err, logs.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("server still running 60 s after SIGTERM:\n%s", logs.String())
	}
	// A stream left open would have held the HTTP server's Shutdown until
	// its deadline, which the server logs.
	if strings.Contains(logs.String(), "requests still open") {
		t.Errorf("the console's stream held up the shutdown:\n%s", logs.String())
	}
	for range lines { // the stream ended
	}
	for _, secret := range []string{hookSecret, agentTok, call["token"].(string)} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log contains a secret:\n%s", logs.String())
		}
	}
}
