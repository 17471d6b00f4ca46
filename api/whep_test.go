package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/stoa-video/stoa/live"
	"github.com/stoa-video/stoa/signaling"
)

// whepViewer is a plain pion PeerConnection that offers to receive audio
// and video, as a WHEP player does, counting the video packets it gets.
type whepViewer struct {
	pc    *webrtc.PeerConnection
	offer string
	video atomic.Int64
}

func newWHEPViewer(t *testing.T) *whepViewer {
	t.Helper()
	pc, err := loopbackAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	v := &whepViewer{pc: pc}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			if tr.Kind() == webrtc.RTPCodecTypeVideo {
				v.video.Add(1)
			}
		}
	})
	v.offer = gatheredOffer(t, pc)
	return v
}

// watch posts the viewer's offer to url and applies the answer; it returns
// the session's URL. A 404 (the host's stream not announced yet: it is once
// its tracks arrive) is tried again for up to 30 s; any other answer but
// 201 fails the test.
func (v *whepViewer) watch(t *testing.T, base, url, token string) string {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		code, hdr, answer := whipRequest(t, http.MethodPost, url, token, "application/sdp", v.offer)
		if code == http.StatusNotFound && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if code != http.StatusCreated || hdr.Get("Content-Type") != "application/sdp" || hdr.Get("Location") == "" {
			t.Fatalf("WHEP POST %s: %d %v %s", url, code, hdr, answer)
		}
		if err := v.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
			t.Fatalf("the WHEP answer does not apply: %v", err)
		}
		return base + hdr.Get("Location")
	}
}

func (v *whepViewer) waitVideo(ctx context.Context, t *testing.T, n int64, who string) {
	t.Helper()
	for v.video.Load() < n {
		select {
		case <-ctx.Done():
			t.Fatalf("%s received %d video packets, want %d", who, v.video.Load(), n)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Two WHEP players (plain pion, no Stoa SDK) watch a host who publishes
// over the SDK's protocol, each on its own session; a room with nobody
// publishing is 404, a viewer whose uid is in the room already 409 (it
// would replace that participant); DELETE ends a session; the host leaving
// ends the others.
func TestWHEPWatch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var svc *live.Service
	ts := newTestServer(t, withLive(&svc))
	endpoint := ts.http.URL + "/whep/show"

	empty := newWHEPViewer(t)
	if code, _, body := whipRequest(t, http.MethodPost, endpoint, ts.token("show", "v0", signaling.RoleAudience), "application/sdp", empty.offer); code != http.StatusNotFound {
		t.Errorf("WHEP with nobody publishing: %d %s, want 404", code, body)
	}
	host := ts.dial(ctx, "show", "host", signaling.RoleHost)
	publishClip(ctx, t, host)
	if code, _, body := whipRequest(t, http.MethodPost, endpoint, "", "application/sdp", empty.offer); code != http.StatusUnauthorized {
		t.Errorf("WHEP without a token: %d %s, want 401", code, body)
	}
	if code, _, body := whipRequest(t, http.MethodPost, endpoint, ts.token("show", "host", signaling.RoleAudience), "application/sdp", empty.offer); code != http.StatusConflict {
		t.Errorf("WHEP with the host's own uid: %d %s, want 409", code, body)
	}

	v1, v2 := newWHEPViewer(t), newWHEPViewer(t)
	s1 := v1.watch(t, ts.http.URL, endpoint, ts.token("show", "v1", signaling.RoleAudience))
	v2.watch(t, ts.http.URL, endpoint+"?host=host", ts.token("show", "v2", signaling.RoleAudience))
	v1.waitVideo(ctx, t, 30, "WHEP viewer 1")
	v2.waitVideo(ctx, t, 30, "WHEP viewer 2")
	if n := svc.Sessions(); n != 2 {
		t.Errorf("%d sessions, want 2", n)
	}
	sdkViewer := ts.dial(ctx, "show", "sdk-fan", signaling.RoleHost) // an rtc room: joins as host, auto-subscribes
	for deadline := time.Now().Add(30 * time.Second); ; {
		code, body := request(t, http.MethodGet, ts.http.URL+"/api/rooms/show/live", ts.token("show", "host", signaling.RoleHost), "")
		var st struct {
			Hosts []live.HostStatus `json:"hosts"`
		}
		_ = json.Unmarshal(body, &st)
		h := live.HostStatus{}
		if len(st.Hosts) == 1 {
			h = st.Hosts[0]
		}
		if code == http.StatusOK && h.UID == "host" && h.Protocol == "sdk" && h.Codec == "vp8" && h.Bitrate > 0 &&
			h.Viewers["whep"] == 2 && h.Viewers["sdk"] == 1 {
			t.Logf("live status: %s", body)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /api/rooms/show/live: %d %s, want the host over sdk, vp8, a bitrate, 2 WHEP viewers and 1 SDK one", code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code, _ := request(t, http.MethodGet, ts.http.URL+"/api/rooms/show/live", ts.token("show", "fan", signaling.RoleAudience), ""); code != http.StatusForbidden {
		t.Errorf("an audience token reading the live status: %d, want 403", code)
	}
	_ = sdkViewer.Close()

	if code, _, body := whipRequest(t, http.MethodDelete, s1, ts.token("show", "v2", signaling.RoleAudience), "", ""); code != http.StatusForbidden {
		t.Errorf("another viewer's DELETE: %d %s, want 403", code, body)
	}
	if code, _, body := whipRequest(t, http.MethodDelete, s1, ts.token("show", "v1", signaling.RoleAudience), "", ""); code != http.StatusOK {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	if n := svc.Sessions(); n != 1 {
		t.Errorf("%d sessions after one DELETE, want 1", n)
	}
	_ = host.Close() // the host leaves: its WHEP viewers' sessions end with it
	for deadline := time.Now().Add(30 * time.Second); svc.Sessions() != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d WHEP sessions left after the host left", svc.Sessions())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WHEP sessions made and ended by DELETE leave no goroutine behind: ten of
// them, each connected and receiving, then deleted (the players closed
// too), and the process is back to the goroutines it had.
func TestWHEPSessionsLeaveNoGoroutines(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var svc *live.Service
	ts := newTestServer(t, withLive(&svc))
	endpoint := ts.http.URL + "/whep/leak"
	host := ts.dial(ctx, "leak", "host", signaling.RoleHost)
	publishClip(ctx, t, host)
	cycle := func(i int) {
		v := newWHEPViewer(t)
		session := v.watch(t, ts.http.URL, endpoint, ts.token("leak", "v", signaling.RoleAudience))
		v.waitVideo(ctx, t, 5, "the WHEP viewer")
		if code, _, body := whipRequest(t, http.MethodDelete, session, ts.token("leak", "v", signaling.RoleAudience), "", ""); code != http.StatusOK {
			t.Fatalf("cycle %d: DELETE %d %s", i, code, body)
		}
		_ = v.pc.Close()
	}
	cycle(0) // warm-up: pools, the host's subscription machinery
	time.Sleep(time.Second)
	before := runtime.NumGoroutine()
	for i := 1; i <= 10; i++ {
		cycle(i)
	}
	after := runtime.NumGoroutine()
	for deadline := time.Now().Add(30 * time.Second); after > before+3 && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		after = runtime.NumGoroutine()
	}
	if after > before+3 {
		t.Errorf("goroutines: %d before ten WHEP sessions, %d after they ended", before, after)
	}
	if n := svc.Sessions(); n != 0 {
		t.Errorf("%d sessions after DELETE", n)
	}
	t.Logf("goroutines: %d before ten WHEP sessions, %d after", before, after)
}
