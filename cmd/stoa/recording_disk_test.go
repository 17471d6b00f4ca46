package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/stoa-video/stoa/signaling"
	"github.com/stoa-video/stoa/signaling/client"
)

// fullDiskWrapper returns the command line that starts the server in a
// mount namespace of its own with dir as a tmpfs of size bytes: a real
// full disk, for the server alone. Without a mount namespace here (it needs
// root and unshare) the test skips; recorder's TestRecordOnAFullDisk
// covers the recorder's side with a size-limited writer anywhere.
func fullDiskWrapper(t *testing.T, dir string, size int) []string {
	t.Helper()
	mount := `mount -t tmpfs -o size="$1" stoa-full "$2" && shift 2 && exec "$@"`
	wrapper := []string{"unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", mount, "sh", strconv.Itoa(size), dir}
	if out, err := exec.Command(wrapper[0], append(wrapper[1:], "true")...).CombinedOutput(); err != nil {
		t.Skipf("no mount namespace with a tmpfs here (%v: %s); the recorder's size-limited writer test covers a full disk", err, strings.TrimSpace(string(out)))
	}
	return wrapper
}

// A full disk stops the recording, not the call. The recordings directory
// is a 256 KiB tmpfs of the server's own: when it fills, the room hears
// recording-failed (customer and agent alike), the agent goes on receiving
// the customer's video, the recording is listed as failed, and the part
// written before the disk filled plays without an error.
func TestRecordingOnAFullDisk(t *testing.T) {
	needMediaTools(t)
	recDir := filepath.Join(t.TempDir(), "recordings")
	if err := os.MkdirAll(recDir, 0o750); err != nil {
		t.Fatal(err)
	}
	wrapper := fullDiskWrapper(t, recDir, 256<<10)
	frames := vp8Clip(t)
	p := startStoaWrapped(t, false, wrapper, append(operatorArgs(), "--record-tag", "customer", "--record-dir", recDir)...)
	cust := publishCustomer(t, p, frames)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var received atomic.Int64
	agent := watchCustomer(ctx, t, p, p.mint("R", "agent", "agent"), &received)
	defer agent.Close()

	isFailed := func(m signaling.Message) bool { return m.UID == "cust" }
	failed, err := agent.WaitEvent(ctx, "recording-failed", isFailed)
	if err != nil {
		t.Fatalf("the agent was not told the recording failed: %v\n%s", err, p.logs.String())
	}
	if failed.Reason != "disk full" {
		t.Errorf("recording-failed says %q, want \"disk full\" (and no server path)", failed.Reason)
	}
	if _, err := cust.WaitEvent(ctx, "recording-failed", isFailed); err != nil {
		t.Errorf("the customer was not told the recording failed: %v", err)
	}

	// The call goes on: the agent keeps receiving the customer's video.
	at := received.Load()
	for received.Load() < at+90 { // ≈ 2 s of the clip's packets
		select {
		case <-ctx.Done():
			t.Fatalf("after the disk filled the agent received %d more packets, the call stopped", received.Load()-at)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if r := p.call(http.MethodGet, "/healthz", "", nil); r.Status != http.StatusOK {
		t.Errorf("healthz after the disk filled: %d", r.Status)
	}

	// The recording is listed as failed, and what it wrote plays.
	var rec map[string]any
	for deadline := time.Now().Add(time.Minute); ; {
		list := p.call(http.MethodGet, "/api/recordings?room=R", testAPIKey, nil)
		recs, _ := list.Body["recordings"].([]any)
		if len(recs) == 1 {
			rec, _ = recs[0].(map[string]any)
			if rec["state"] == "failed" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed recording listed: %v", list.Body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	parts, _ := rec["parts"].([]any)
	if len(parts) != 1 {
		t.Fatalf("the failed recording lists %d parts, want the one written: %v", len(parts), rec)
	}
	file, _ := parts[0].(map[string]any)["file"].(string)
	path := filepath.Join(t.TempDir(), file)
	fetchFile(t, p, "/api/recordings/"+rec["id"].(string)+"/files/"+file, path)
	if out := ffmpegSays(t, "-i", path, "-f", "null", "-"); out != "" {
		t.Errorf("the part written before the disk filled does not decode cleanly:\n%s", out)
	}
	dur := probeDuration(t, path)
	if dur <= 1 {
		t.Errorf("the kept part lasts %.2f s, want the seconds written before the disk filled", dur)
	}
	t.Logf("disk full at 256 KiB: recording-failed %q; %s kept, %.2f s that play; the agent received %d packets after", failed.Reason, file, dur, received.Load()-at)
}

// watchCustomer joins room R with token and subscribes to the customer's
// stream once it is there, counting the packets it receives in received
// (if set).
func watchCustomer(ctx context.Context, t *testing.T, p *stoaProc, token string, received *atomic.Int64) *client.Client {
	t.Helper()
	agent, err := client.Dial(ctx, client.Options{URL: p.wsURL(), Token: token, API: loopbackAPI(t)})
	if err != nil {
		t.Fatal(err)
	}
	agent.OnTrack(func(_ string, tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			if received != nil {
				received.Add(1)
			}
		}
	})
	published := false
	for _, st := range agent.Joined().Streams {
		published = published || st.UID == "cust"
	}
	if !published {
		if _, err := agent.WaitEvent(ctx, signaling.TypeStreamAdded, func(m signaling.Message) bool {
			return m.Stream != nil && m.Stream.UID == "cust"
		}); err != nil {
			agent.Close()
			t.Fatalf("the customer's stream never reached the agent: %v", err)
		}
	}
	if err := agent.Subscribe(ctx, "cust"); err != nil {
		agent.Close()
		t.Fatal(err)
	}
	return agent
}

// fetchFile downloads path from the server with the operator key into dst.
func fetchFile(t *testing.T, p *stoaProc, path, dst string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, p.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", path, res.StatusCode)
	}
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadFrom(res.Body); err != nil {
		t.Fatal(err)
	}
}
