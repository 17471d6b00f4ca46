package api_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stoa-video/stoa/recorder"
	"github.com/stoa-video/stoa/signaling"
)

// waitRecorded waits until recording id's file matching glob (after the
// id) holds at least 20 video packets, so that the part is not empty.
func waitRecorded(ctx context.Context, t *testing.T, svc *recorder.Service, id, glob string) {
	t.Helper()
	for {
		files, _ := filepath.Glob(filepath.Join(svc.Dir(), id+glob))
		if len(files) == 1 {
			out, err := exec.Command("ffprobe", "-v", "error", "-count_packets", "-select_streams", "v",
				"-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", files[0]).Output()
			if n, _ := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && n >= 20 {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("recording %s never wrote 20 video packets into %s", id, glob)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// A customer who switches codec (an unpublish and a publish, as a camera
// or codec switch is) stays one recording: the VP8 publication is part 1
// (.webm), the H264 one part 2 (.part2.mkv) under the same id, each file
// plays, and each part's manifest verifies against the server's key.
func TestRecordingGoesOnAcrossARepublish(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe is not installed (make deps installs it): cannot check the recording")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var svc *recorder.Service
	ts := newTestServer(t, withKey, withRecordings(t, &svc))
	agent := ts.dialTagged(ctx, "claim", "agent", signaling.RoleHost, "agent")
	customer := ts.dialTagged(ctx, "claim", "cust", signaling.RoleHost, "customer")
	stopVP8 := publishCodec(ctx, t, customer, "vp8")
	defer stopVP8()
	if _, err := agent.WaitEvent(ctx, recorder.EventStarted, func(m signaling.Message) bool { return m.UID == "cust" }); err != nil {
		t.Fatalf("the customer's recording did not start: %v", err)
	}
	list := svc.List(recorder.Filter{Room: "claim", UID: "cust"})
	if len(list) != 1 {
		t.Fatalf("recordings %+v, want one", list)
	}
	id := list[0].ID
	waitRecorded(ctx, t, svc, id, ".webm")

	stopVP8()
	if err := customer.Unpublish(ctx); err != nil {
		t.Fatal(err)
	}
	stopH264 := publishCodec(ctx, t, customer, "h264")
	defer stopH264()
	waitRecorded(ctx, t, svc, id, ".part2.mkv")
	if got := svc.List(recorder.Filter{Room: "claim", UID: "cust"}); len(got) != 1 || got[0].ID != id || got[0].State != "recording" {
		t.Fatalf("after the republish: %+v, want the one recording %s still running", got, id)
	}

	code, body := request(t, "DELETE", ts.http.URL+"/api/recordings/"+id, "operator-key", "")
	var info recorder.Summary
	if err := json.Unmarshal(body, &info); code != 200 || err != nil {
		t.Fatalf("stop: %d %s", code, body)
	}
	if info.State != "stopped" || len(info.Parts) != 2 {
		t.Fatalf("stopped recording: %+v, want two parts", info)
	}
	want := []struct{ file, codec string }{{id + ".webm", "vp8"}, {id + ".part2.mkv", "h264"}}
	pub := svc.PublicKey()
	for i, w := range want {
		p := info.Parts[i]
		if p.File != w.file || p.VideoCodec != w.codec {
			t.Errorf("part %d: %s (%s), want %s (%s)", i+1, p.File, p.VideoCodec, w.file, w.codec)
			continue
		}
		path := filepath.Join(svc.Dir(), p.File)
		out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", path).Output()
		if err != nil || strings.TrimSpace(string(out)) != w.codec {
			t.Errorf("%s probes as %q (%v), want %s", p.File, out, err, w.codec)
		}
		if out, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("decoding %s: %v %s", p.File, err, out)
		}
		res, err := recorder.Verify(path, pub)
		if err != nil || !res.OK {
			t.Errorf("%s's manifest: %+v %v", p.File, res, err)
		}
	}
	if _, err := agent.WaitEvent(ctx, recorder.EventStopped, func(m signaling.Message) bool { return m.UID == "cust" }); err != nil {
		t.Errorf("the agent was not told the recording stopped: %v", err)
	}
}

// A customer who stops publishing and does not publish again within the
// wait has its recording stopped, with the part it wrote.
func TestRecordingStopsWhenNoRepublishComes(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe is not installed (make deps installs it): cannot check the recording")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var svc *recorder.Service
	ts := newTestServer(t, withKey, withRecordingsWaiting(t, &svc, 500*time.Millisecond))
	agent := ts.dialTagged(ctx, "claim", "agent", signaling.RoleHost, "agent")
	customer := ts.dialTagged(ctx, "claim", "cust", signaling.RoleHost, "customer")
	stop := publishCodec(ctx, t, customer, "vp8")
	defer stop()
	if _, err := agent.WaitEvent(ctx, recorder.EventStarted, func(m signaling.Message) bool { return m.UID == "cust" }); err != nil {
		t.Fatalf("the customer's recording did not start: %v", err)
	}
	id := svc.List(recorder.Filter{UID: "cust"})[0].ID
	waitRecorded(ctx, t, svc, id, ".webm")
	stop()
	if err := customer.Unpublish(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := agent.WaitEvent(ctx, recorder.EventStopped, func(m signaling.Message) bool { return m.UID == "cust" }); err != nil {
		t.Fatalf("the recording did not stop after the wait for a republish: %v", err)
	}
	info, ok := svc.Get(id)
	if !ok || info.State != "stopped" || len(info.Parts) != 1 || info.Parts[0].File != id+".webm" {
		t.Errorf("the recording after the wait: %+v", info)
	}
}
