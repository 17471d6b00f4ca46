package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/stoa-video/stoa/live"
	"github.com/stoa-video/stoa/signaling"
)

// withWHIP serves /whip/ and hands the test the service.
func withLive(w **live.Service) serverOption {
	return func(c *testConfig) {
		*w = live.New(c.api.SFU, 0, quietLogger())
		c.api.Live = *w
	}
}

// whipRequest sends an RFC 9725 request and returns the status, the
// headers and the body.
func whipRequest(t *testing.T, method, url, token, contentType, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

// A host publishes over WHIP from a plain pion PeerConnection (no Stoa
// SDK, no websocket): 201 with the answer and the session's Location; a
// viewer of the live room receives its video; the bad requests get the
// RFC's codes; a trickled candidate is taken (204) and an ICE restart is
// refused (422); DELETE ends the session and the viewer sees the host go.
func TestWHIPPublish(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var whip *live.Service
	ts := newTestServer(t, withLive(&whip))
	endpoint := ts.http.URL + "/whip/stage"
	host := ts.token("stage", "obs", signaling.RoleHost)

	pc, err := loopbackAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "obs")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	offerSDP := gatheredOffer(t, pc)

	for _, c := range []struct {
		name, token, contentType, body string
		want                           int
	}{
		{"no token", "", "application/sdp", offerSDP, http.StatusUnauthorized},
		{"a forged token", host + "x", "application/sdp", offerSDP, http.StatusUnauthorized},
		{"an audience token", ts.token("stage", "fan", signaling.RoleAudience), "application/sdp", offerSDP, http.StatusForbidden},
		{"another room's token", ts.token("other", "obs", signaling.RoleHost), "application/sdp", offerSDP, http.StatusForbidden},
		{"JSON, not SDP", host, "application/json", `{"sdp":"v=0"}`, http.StatusUnsupportedMediaType},
		{"an offer that is not SDP", host, "application/sdp", "hello", http.StatusBadRequest},
		{"a 100 KiB offer", host, "application/sdp", strings.Repeat("a=x\r\n", 20<<10), http.StatusRequestEntityTooLarge},
	} {
		if code, _, body := whipRequest(t, http.MethodPost, endpoint, c.token, c.contentType, c.body); code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, code, body, c.want)
		}
	}
	if n := whip.Sessions(); n != 0 {
		t.Fatalf("%d WHIP sessions after refused requests", n)
	}

	code, hdr, answer := whipRequest(t, http.MethodPost, endpoint, host, "application/sdp", offerSDP)
	if code != http.StatusCreated || hdr.Get("Content-Type") != "application/sdp" || !strings.HasPrefix(hdr.Get("Location"), "/whip/stage/") {
		t.Fatalf("publish: %d %v %s", code, hdr, answer)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatalf("the answer does not apply: %v", err)
	}
	session := ts.http.URL + hdr.Get("Location")
	defer play(track, makeClip(t, "vp8").frames)()

	viewer := ts.dial(ctx, "stage", "fan", signaling.RoleAudience)
	var received atomic.Int64
	viewer.OnTrack(func(_ string, tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			received.Add(1)
		}
	})
	for received.Load() < 30 {
		select {
		case <-ctx.Done():
			t.Fatalf("the viewer received %d packets of the WHIP host's video", received.Load())
		case <-time.After(50 * time.Millisecond):
		}
	}

	code, body := request(t, http.MethodGet, ts.http.URL+"/api/rooms/stage/live", host, "")
	var st struct {
		Hosts []live.HostStatus `json:"hosts"`
	}
	if err := json.Unmarshal(body, &st); code != http.StatusOK || err != nil || len(st.Hosts) != 1 ||
		st.Hosts[0].Protocol != "whip" || st.Hosts[0].Codec != "vp8" || st.Hosts[0].Viewers["sdk"] != 1 {
		t.Errorf("GET /api/rooms/stage/live: %d %s, want the WHIP host sending VP8 to one SDK viewer", code, body)
	}

	frag := "a=ice-ufrag:" + sdpLine(offerSDP, "a=ice-ufrag:") + "\r\na=ice-pwd:" + sdpLine(offerSDP, "a=ice-pwd:") +
		"\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\na=end-of-candidates\r\n"
	restart := strings.Replace(frag, "a=ice-ufrag:", "a=ice-ufrag:x", 1)
	other := ts.token("stage", "someone", signaling.RoleHost)
	for _, c := range []struct {
		name, method, url, token, contentType, body string
		want                                        int
	}{
		{"a trickled candidate", http.MethodPatch, session, host, "application/trickle-ice-sdpfrag", frag, http.StatusNoContent},
		{"an ICE restart", http.MethodPatch, session, host, "application/trickle-ice-sdpfrag", restart, http.StatusUnprocessableEntity},
		{"a fragment that is not one", http.MethodPatch, session, host, "application/trickle-ice-sdpfrag", "hello", http.StatusBadRequest},
		{"a PATCH of SDP", http.MethodPatch, session, host, "application/sdp", frag, http.StatusUnsupportedMediaType},
		{"another host's DELETE", http.MethodDelete, session, other, "", "", http.StatusForbidden},
		{"an unknown session", http.MethodDelete, endpoint + "/nosuch", host, "", "", http.StatusNotFound},
		{"a DELETE without a token", http.MethodDelete, session, "", "", "", http.StatusUnauthorized},
	} {
		if code, _, body := whipRequest(t, c.method, c.url, c.token, c.contentType, c.body); code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, code, body, c.want)
		}
	}

	if code, _, body := whipRequest(t, http.MethodDelete, session, host, "", ""); code != http.StatusOK {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	if _, err := viewer.WaitEvent(ctx, signaling.TypePeerLeave, func(m signaling.Message) bool { return m.UID == "obs" }); err != nil {
		t.Errorf("the viewer was not told the WHIP host left: %v", err)
	}
	if code, _, _ := whipRequest(t, http.MethodDelete, session, host, "", ""); code != http.StatusNotFound {
		t.Errorf("a second DELETE: %d, want 404", code)
	}
	if n := whip.Sessions(); n != 0 {
		t.Errorf("%d WHIP sessions after DELETE", n)
	}
}

// gatheredOffer is pc's offer once ICE gathering is complete, as a WHIP or
// WHEP client sends it (no trickle).
func gatheredOffer(t *testing.T, pc *webrtc.PeerConnection) string {
	t.Helper()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	return pc.LocalDescription().SDP
}

// sdpLine is the value of sdp's first line starting with prefix.
func sdpLine(sdp, prefix string) string {
	for _, line := range strings.Split(sdp, "\r\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			return v
		}
	}
	return ""
}
