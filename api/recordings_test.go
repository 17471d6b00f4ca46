package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/stoa-video/stoa/recorder"
	"github.com/stoa-video/stoa/signaling"
	"github.com/stoa-video/stoa/signaling/client"
)

// withRecordings gives the server a recording service (customers recorded
// by policy) writing into a temp dir with a fresh signing key.
func withRecordings(t *testing.T, svc **recorder.Service) serverOption {
	return withRecordingsWaiting(t, svc, 0)
}

// withRecordingsWaiting is withRecordings with the time a recording waits
// for a republish (0: the default).
func withRecordingsWaiting(t *testing.T, svc **recorder.Service, republishWait time.Duration) serverOption {
	return func(c *testConfig) {
		dir := t.TempDir()
		key, err := recorder.LoadOrCreateKey(dir)
		if err != nil {
			t.Fatal(err)
		}
		s, err := recorder.NewService(recorder.ServiceOptions{Dir: filepath.Join(dir, "recordings"), Key: key,
			Tags: []string{"customer"}, Log: quietLogger(), RepublishWait: republishWait})
		if err != nil {
			t.Fatal(err)
		}
		c.api.Recordings = s
		c.api.SFU.SetObserver(s)
		t.Cleanup(s.Close)
		*svc = s
	}
}

// publishClip publishes a looping VP8 clip through c until the test ends.
func publishClip(ctx context.Context, t *testing.T, c *client.Client) {
	t.Helper()
	t.Cleanup(publishCodec(ctx, t, c, "vp8"))
}

// publishCodec publishes a looping clip of codec ("vp8" or "h264") through
// c at 15 fps; the function it returns stops the frames.
func publishCodec(ctx context.Context, t *testing.T, c *client.Client, codec string) func() {
	t.Helper()
	clip := makeClip(t, codec)
	mime := webrtc.MimeTypeVP8
	if codec == "h264" {
		mime = webrtc.MimeTypeH264
	}
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000}, "video", "pub")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, track); err != nil {
		t.Fatal(err)
	}
	return play(track, clip.frames)
}

// play writes frames to track at 15 fps, looped; the function it returns
// stops it (and may be called more than once).
func play(track *webrtc.TrackLocalStaticSample, frames [][]byte) func() {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second / 15)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			_ = track.WriteSample(media.Sample{Data: frames[i%len(frames)], Duration: time.Second / 15})
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(stop); <-done }) }
}

func request(t *testing.T, method, url, bearer, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// A customer publishing is recorded by the room policy and the room is told;
// the API stops it; the file plays, is served with range requests, and its
// manifest verifies against the server's published key. Who may do what:
// an operator or a host of the room, never a customer or another room.
func TestRecordingsPolicyAndAPI(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe is not installed (make deps installs it): cannot check the recording")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var svc *recorder.Service
	ts := newTestServer(t, withKey, withRecordings(t, &svc))
	base := ts.http.URL
	agent := ts.dialTagged(ctx, "claim", "agent", signaling.RoleHost, "agent")
	customer := ts.dialTagged(ctx, "claim", "cust", signaling.RoleHost, "customer")
	publishClip(ctx, t, customer)

	if _, err := agent.WaitEvent(ctx, recorder.EventStarted, func(m signaling.Message) bool { return m.UID == "cust" }); err != nil {
		t.Fatalf("the agent was not told the customer's recording started: %v", err)
	}
	late := ts.dialTagged(ctx, "claim", "supervisor", signaling.RoleHost, "agent")
	if _, err := late.WaitEvent(ctx, recorder.EventStarted, func(m signaling.Message) bool { return m.UID == "cust" }); err != nil {
		t.Fatalf("a participant joining during the recording was not told of it: %v", err)
	}
	list := svc.List(recorder.Filter{Room: "claim", UID: "cust"})
	if len(list) != 1 || list[0].State != "recording" {
		t.Fatalf("recordings %+v, want one running for cust", list)
	}
	id := list[0].ID

	customerToken := ts.token("claim", "cust2", signaling.RoleAudience)
	otherRoom := ts.token("other", "agent", signaling.RoleHost)
	for _, c := range []struct {
		who, bearer string
		want        int
	}{
		{"nobody", "", http.StatusUnauthorized},
		{"an audience token", customerToken, http.StatusForbidden},
		{"a host of another room", otherRoom, http.StatusForbidden},
	} {
		if code, body := request(t, "DELETE", base+"/api/recordings/"+id, c.bearer, ""); code != c.want {
			t.Errorf("%s stopping a recording: %d %s, want %d", c.who, code, body, c.want)
		}
	}
	if code, body := request(t, "POST", base+"/api/rooms/claim/recordings", customerToken, `{"uid":"cust"}`); code != http.StatusForbidden {
		t.Errorf("an audience token starting a recording: %d %s", code, body)
	}
	// Starting again returns the running recording.
	code, body := request(t, "POST", base+"/api/rooms/claim/recordings", "operator-key", `{"uid":"cust"}`)
	var started struct{ ID string }
	if err := json.Unmarshal(body, &started); code != http.StatusCreated || err != nil || started.ID != id {
		t.Fatalf("start: %d %s, want 201 with id %s", code, body, id)
	}

	time.Sleep(3 * time.Second) // three seconds of video to record
	hostToken := ts.token("claim", "agent", signaling.RoleHost)
	code, body = request(t, "DELETE", base+"/api/recordings/"+id, hostToken, "")
	var info recorder.Summary
	if err := json.Unmarshal(body, &info); code != http.StatusOK || err != nil || info.State != "stopped" || len(info.Parts) != 1 {
		t.Fatalf("stop: %d %s", code, body)
	}
	if _, err := agent.WaitEvent(ctx, recorder.EventStopped, func(m signaling.Message) bool { return m.UID == "cust" }); err != nil {
		t.Fatalf("the agent was not told the recording stopped: %v", err)
	}

	file := info.Parts[0].File
	code, media := request(t, "GET", base+"/api/recordings/"+id+"/files/"+file, hostToken, "")
	if code != http.StatusOK || int64(len(media)) != info.Parts[0].Bytes {
		t.Fatalf("file: %d, %d bytes, want 200 and %d", code, len(media), info.Parts[0].Bytes)
	}
	req, _ := http.NewRequest("GET", base+"/api/recordings/"+id+"/files/"+file, nil)
	req.Header.Set("Authorization", "Bearer operator-key")
	req.Header.Set("Range", "bytes=100-199")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusPartialContent || string(part) != string(media[100:200]) {
		t.Errorf("range request: %d, %d bytes", res.StatusCode, len(part))
	}
	if code, _ := request(t, "GET", base+"/api/recordings/"+id+"/files/..%2f..%2fsecret", "operator-key", ""); code != http.StatusNotFound {
		t.Errorf("a path outside the recording: %d, want 404", code)
	}

	path := filepath.Join(svc.Dir(), file)
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_name", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	var probe struct {
		Streams []struct {
			CodecName string `json:"codec_name"`
		} `json:"streams"`
		Format struct{ Duration string } `json:"format"`
	}
	_ = json.Unmarshal(out, &probe)
	dur, _ := strconv.ParseFloat(probe.Format.Duration, 64)
	if len(probe.Streams) != 1 || probe.Streams[0].CodecName != "vp8" || dur < 1 {
		t.Errorf("the recording probes as %s", out)
	}

	code, body = request(t, "GET", base+"/api/recordings/pubkey", hostToken, "")
	var pk struct {
		PublicKey string `json:"public_key"`
	}
	if err := json.Unmarshal(body, &pk); code != http.StatusOK || err != nil {
		t.Fatalf("pubkey: %d %s", code, body)
	}
	pub, err := recorder.ParsePublicKey(pk.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	res2, err := recorder.Verify(path, pub)
	if err != nil || !res2.OK {
		t.Errorf("the recording does not verify: %+v %v", res2, err)
	}
	if _, err := os.Stat(recorder.ManifestPath(path)); err != nil {
		t.Errorf("no manifest beside the file: %v", err)
	}
	// A restarted server lists it from its manifest.
	again, err := recorder.NewService(recorder.ServiceOptions{Dir: svc.Dir(), Log: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if l := again.List(recorder.Filter{Tag: "customer"}); len(l) != 1 || l[0].ID != id || len(l[0].Parts) != 1 {
		t.Errorf("after a restart the recordings tagged customer are %+v", l)
	}
	if l := again.List(recorder.Filter{Tag: "agent"}); len(l) != 0 {
		t.Errorf("a tag filter let through %+v", l)
	}
	// Deleting the evidence is the operator's alone.
	if code, _ := request(t, "DELETE", base+"/api/recordings/"+id, hostToken, ""); code != http.StatusForbidden {
		t.Errorf("a host deleting a finished recording: %d, want 403", code)
	}
	if code, body := request(t, "DELETE", base+"/api/recordings/"+id, "operator-key", ""); code != http.StatusNoContent {
		t.Errorf("the operator deleting it: %d %s", code, body)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the file is still there after delete: %v", err)
	}
	t.Logf("recording %s: %s, %.2f s, %d bytes, verified", id, file, dur, len(media))
}
