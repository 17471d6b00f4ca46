//go:build browser

package webui_test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// busyClip writes a 640×360 Y4M for the fake camera whose every frame changes everywhere (a moving test
// pattern under fresh noise), so each simulcast layer's encoder runs at the bitrate cap it was given
// instead of idling on a still picture: what a layer receives is then its cap, and caps are what the SDK sets.
func busyClip(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "busy.y4m")
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
		"-i", "testsrc2=size=640x360:rate=15,noise=alls=8:allf=t+u", "-t", "4", "-pix_fmt", "yuv420p", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg → y4m: %v\n%s", err, b)
	}
	return out
}

// agoraPageJS sets up a page with the SDK's Agora face (window.__stoa keeps its state and events for the
// failure report) and joins with token. handlers run before the join (events about the room as found come
// right after the join callback), then afterJoin; both see client and AgoraRTC.
func agoraPageJS(token, room string, uid int, handlers, afterJoin string) string {
	return fmt.Sprintf(`(async () => {
	  const { default: AgoraRTC } = await import('/sdk/stoa.js');
	  document.body.innerHTML = '<div id="remote" style="width:640px;height:360px"></div><div id="local" style="width:320px;height:180px"></div>';
	  const client = AgoraRTC.createClient({ mode: 'rtc', codec: 'vp8' });
	  window.__stoa = { state: 'joining', events: [], client, remote: null };
	  for (const name of ['stream-added', 'stream-subscribed', 'stream-removed', 'stream-published', 'peer-leave', 'error']) {
	    client.on(name, (e) => __stoa.events.push({ name, uid: e?.uid ?? e?.stream?.getId?.() ?? e?.reason ?? null }));
	  }
	  %s
	  await new Promise((ok, err) => client.init('stoa', ok, err));
	  await new Promise((ok, err) => client.join(%q, %q, %d, ok, err));
	  __stoa.state = 'joined';
	  %s
	  return true;
	})()`, handlers, token, room, uid, afterJoin)
}

// videoIn is a receiving PeerConnection's video, from its inbound-rtp stats.
type videoIn struct {
	Bytes  int64 `json:"bytes"`
	Frames int64 `json:"frames"`
	Width  int   `json:"width"`
	Height int   `json:"height"`
}

// videoInJS reads the video inbound-rtp entry of the tab's subscription (window.__stoa.remote, a Stream).
const videoInJS = `(async () => {
  const pc = __stoa.remote?.pc;
  if (!pc) throw new Error('not subscribed (yet)');
  let out = null;
  (await pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') {
      out = { bytes: s.bytesReceived ?? 0, frames: s.framesDecoded ?? 0, width: s.frameWidth ?? 0, height: s.frameHeight ?? 0 };
    }
  });
  if (!out) throw new Error('no inbound video (yet)');
  return out;
})()`

func (tb *tab) videoIn() (videoIn, error) { return evalJS[videoIn](tb, videoInJS) }

// pubLayers describes what the publisher's tab sends per simulcast layer, for reports and failures.
func pubLayers(pub *tab) string {
	s, err := evalJS[string](pub, `(async () => { const out = [];
	  (await __stoa.localStream.pc.getStats()).forEach((s) => {
	    if (s.type === 'outbound-rtp' && s.kind === 'video') out.push((s.rid ?? '-') + ': ' + (s.frameWidth ?? 0) + '×' +
	      (s.frameHeight ?? 0) + ' ' + Math.round((s.targetBitrate ?? 0) / 1000) + ' kbps target, ' + (s.bytesSent ?? 0) +
	      ' bytes, limited by ' + (s.qualityLimitationReason ?? '?'));
	  });
	  return out.sort().join('; '); })()`)
	if err != nil {
		return "(could not read: " + err.Error() + ")"
	}
	return s
}

// TestBrowserDualStream: a publisher with Agora's dual stream on (enableDualStream before publish) sends two
// simulcast layers; a viewer that asks for the low stream (setRemoteVideoStreamType(stream, 1) before it
// subscribes) receives the smaller picture at under a third of the bytes of a viewer left on the high stream,
// measured over the same window; asking for high again (by uid, as Agora 4.x does) brings the full picture.
func TestBrowserDualStream(t *testing.T) {
	srv := startServer(t)
	b := newBrowser(t, srv, chromedp.Flag("use-file-for-fake-video-capture", busyClip(t)))
	const room = "dual-stream"

	pub := b.open("publisher", "/")
	mustEval[bool](pub, agoraPageJS(srv.token(t, room, "1001", "agent"), room, 1001, "", `
	  await client.enableDualStream();
	  const stream = AgoraRTC.createStream({ streamID: 1001, audio: false, video: true });
	  stream.setVideoProfile('360p_1'); // 640×360, 400 kbps: the low layer gets 320×180 at 100 kbps
	  await new Promise((ok, err) => stream.init(ok, err));
	  client.publish(stream, (e) => __stoa.events.push({ name: 'publish-failed', uid: String(e) }));
	  stream.play('local');
	  __stoa.localStream = stream;`))
	pub.waitJS("the publisher publishes", `__stoa.events.some((e) => e.name === 'stream-published')`)
	pub.waitUntil("the publisher sends two simulcast layers, h and l", func() (bool, error) {
		rids, err := evalJS[[]string](pub, `(async () => { const rids = [];
		  (await __stoa.localStream.pc.getStats()).forEach((s) => {
		    if (s.type === 'outbound-rtp' && s.kind === 'video' && (s.bytesSent ?? 0) > 0) rids.push(s.rid ?? '');
		  });
		  return rids.sort(); })()`)
		ok := err == nil && fmt.Sprint(rids) == "[h l]"
		return ok, seen(ok, rids)
	})

	viewer := func(name string, uid int, low bool) *tab {
		setType := ""
		if low {
			setType = `await client.setRemoteVideoStreamType(stream, 1);`
		}
		tb := b.open(name, "/")
		mustEval[bool](tb, agoraPageJS(srv.token(t, room, fmt.Sprint(uid), "viewer"), room, uid, `
		  client.on('stream-added', async ({ stream }) => {
		    try { `+setType+` } catch (e) { __stoa.events.push({ name: 'set-stream-type-failed', uid: e.message }); }
		    client.subscribe(stream, (e) => __stoa.events.push({ name: 'subscribe-failed', uid: String(e) }));
		  });
		  client.on('stream-subscribed', ({ stream }) => { __stoa.remote = stream; stream.play('remote'); });`, ""))
		return tb
	}
	high := viewer("viewer on high", 2002, false)
	low := viewer("viewer on low", 3003, true)

	// The high viewer gets the camera's whole picture once the publisher's bandwidth estimate has ramped up
	// to both layers; from then on both viewers are measured over the same window of 75 frames (5 s at 15 fps).
	high.waitUntil("the high viewer decodes 640×360", func() (bool, error) {
		v, err := high.videoIn()
		ok := err == nil && v.Width == 640 && v.Frames > 30
		return ok, seen(ok, fmt.Sprintf("%+v; the publisher sends %s", v, pubLayers(pub)))
	})
	low.waitUntil("the low viewer decodes video", func() (bool, error) {
		v, err := low.videoIn()
		ok := err == nil && v.Frames > 30
		return ok, seen(ok, v)
	})
	read := func(tb *tab) videoIn {
		v, err := tb.videoIn()
		if err != nil {
			b.fail("%s: read inbound video: %v", tb.name, err)
		}
		return v
	}
	// Measure once the publisher's encoder has ramped its high layer up to the profile's shape (the high layer's
	// target at least 3.5 times the low one's, which the SDK caps at a quarter of the profile): while the
	// bandwidth estimate still ramps up, the low layer already has its full share and the high one not yet.
	pub.waitUntil("the publisher's high layer ramped up", func() (bool, error) {
		t, err := evalJS[map[string]float64](pub, `(async () => { const t = {};
		  (await __stoa.localStream.pc.getStats()).forEach((s) => {
		    if (s.type === 'outbound-rtp' && s.kind === 'video') t[s.rid ?? '-'] = s.targetBitrate ?? 0;
		  });
		  return t; })()`)
		ok := err == nil && t["l"] > 0 && t["h"] >= 3.5*t["l"]
		return ok, seen(ok, pubLayers(pub))
	})
	hi0, lo0 := read(high), read(low)
	high.waitUntil("75 more frames decoded on high", func() (bool, error) {
		v, err := high.videoIn()
		ok := err == nil && v.Frames >= hi0.Frames+75
		return ok, seen(ok, v)
	})
	hi1, lo1 := read(high), read(low)
	hiBytes, loBytes := hi1.Bytes-hi0.Bytes, lo1.Bytes-lo0.Bytes
	ratio := float64(loBytes) / float64(max(hiBytes, 1))
	report(t, "dual stream over %d frames of the high viewer: high %d bytes at %d×%d, low %d bytes at %d×%d (low/high = %.2f); the publisher sends %s",
		hi1.Frames-hi0.Frames, hiBytes, hi1.Width, hi1.Height, loBytes, lo1.Width, lo1.Height, ratio, pubLayers(pub))
	if loBytes <= 0 || ratio > 1.0/3 {
		b.fail("the low viewer received %d bytes while the high viewer received %d (ratio %.2f): want more than 0 and at most 1/3", loBytes, hiBytes, ratio)
	}
	if lo1.Width <= 0 || lo1.Width >= hi1.Width {
		b.fail("the low viewer decodes %d×%d, the high viewer %d×%d: want a narrower picture on low", lo1.Width, lo1.Height, hi1.Width, hi1.Height)
	}

	// Back to high, by uid as Agora 4.x calls it: the full picture arrives, and with nobody left on the low
	// layer the server has the publisher pause it (layers ["h"]).
	mustEval[bool](low, `__stoa.client.setRemoteVideoStreamType(1001, 0).then(() => true)`)
	low.waitUntil("the low viewer, switched to high, decodes 640×360", func() (bool, error) {
		v, err := low.videoIn()
		ok := err == nil && v.Width == 640
		return ok, seen(ok, v)
	})
	pub.waitUntil("the publisher pauses the unwatched low layer", func() (bool, error) {
		active, err := evalJS[string](pub, activeLayersJS)
		ok := err == nil && active == "h"
		return ok, seen(ok, active)
	})
	// A viewer asking for low again brings it back.
	mustEval[bool](low, `__stoa.client.setRemoteVideoStreamType(1001, 1).then(() => true)`)
	pub.waitUntil("the publisher sends the low layer again", func() (bool, error) {
		active, err := evalJS[string](pub, activeLayersJS)
		ok := err == nil && active == "h,l"
		return ok, seen(ok, active)
	})
	low.waitUntil("the low viewer decodes the low layer again", func() (bool, error) {
		v, err := low.videoIn()
		ok := err == nil && v.Width > 0 && v.Width < 640
		return ok, seen(ok, v)
	})
}

// activeLayersJS lists the rids of the publisher's active video encodings, sorted and comma-separated.
const activeLayersJS = `__stoa.localStream.pc.getSenders().find((s) => s.track?.kind === 'video').getParameters()
  .encodings.filter((e) => e.active !== false).map((e) => e.rid).sort().join(',')`
