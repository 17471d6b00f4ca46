//go:build browser

package webui_test

import (
	"fmt"
	"testing"
)

// offerJS is the half of RFC 9725's exchange that WHIP and WHEP share:
// pc's offer, once ICE gathering is complete, POSTed to url with the
// token, and the answer applied; it resolves to the session's Location.
const offerJS = `async (pc, url, token) => {
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((done) => {
    if (pc.iceGatheringState === 'complete') return done();
    pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && done());
    setTimeout(done, 3000);
  });
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp', Authorization: 'Bearer ' + token },
    body: pc.localDescription.sdp });
  if (res.status !== 201) throw new Error(url + ': ' + res.status + ' ' + (await res.text()));
  const location = res.headers.get('Location');
  await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
  return location;
}`

// whipJS publishes the fake camera and microphone over WHIP with nothing
// but RTCPeerConnection and fetch; it resolves to the session's Location.
const whipJS = `(async (url, token) => {
  const pc = new RTCPeerConnection();
  const media = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 }, audio: true });
  for (const track of media.getTracks()) pc.addTransceiver(track, { direction: 'sendonly' });
  window.whip = { pc, location: await (` + offerJS + `)(pc, url, token) };
  return window.whip.location;
})`

// whepJS plays a WHEP stream the same way, into a <video id="v">.
const whepJS = `(async (url, token) => {
  document.getElementById('v')?.remove(); // an earlier try's, refused before the host's stream was announced
  const pc = new RTCPeerConnection();
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  const video = Object.assign(document.createElement('video'), { id: 'v', autoplay: true, muted: true, playsInline: true });
  document.body.append(video);
  const stream = new MediaStream();
  pc.ontrack = (e) => { stream.addTrack(e.track); video.srcObject = stream; };
  window.whep = { pc, location: await (` + offerJS + `)(pc, url, token) };
  return window.whep.location;
})`

// A plain Chromium page publishes over WHIP and another plays it over WHEP,
// neither using Stoa's SDK: the player decodes video and receives audio;
// DELETE of the WHIP session answers 200 and a second one 404.
func TestBrowserWHIPToWHEP(t *testing.T) {
	srv := startServer(t)
	b := newBrowser(t, srv)
	hostToken := srv.token(t, "live-whip", "obs", "")
	fanToken := srv.token(t, "live-whip", "fan", "")

	pub := b.open("whip publisher", "/")
	location := mustEval[string](pub, fmt.Sprintf("%s(%q, %q)", whipJS, "/whip/live-whip", hostToken))
	pub.waitJS("the WHIP connection is up", `window.whip.pc.connectionState === 'connected'`)

	player := b.open("whep player", "/")
	pub.waitUntil("the host's stream can be watched", func() (bool, error) {
		_, err := evalJS[string](player, fmt.Sprintf("%s(%q, %q)", whepJS, "/whep/live-whip", fanToken))
		return err == nil, err
	})
	in := player.waitReceiving("#v", "window.whep.pc")
	if in.Video.Codec == "" || in.Audio.Codec != "audio/opus" {
		t.Errorf("the WHEP player receives %q and %q", in.Video.Codec, in.Audio.Codec)
	}
	report(t, "WHIP → WHEP in Chromium: %s and %s, %d frames decoded", in.Video.Codec, in.Audio.Codec, in.Video.Frames)

	del := fmt.Sprintf(`fetch(%q, { method: 'DELETE', headers: { Authorization: 'Bearer ' + %q } }).then((r) => r.status)`, location, hostToken)
	if code := mustEval[float64](pub, del); code != 200 {
		t.Errorf("DELETE of the WHIP session: %v, want 200", code)
	}
	if code := mustEval[float64](pub, del); code != 404 {
		t.Errorf("a second DELETE: %v, want 404", code)
	}
}
