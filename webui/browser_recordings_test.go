//go:build browser

// The playback page in a real Chromium: a customer publishes from /call (tagged customer, so the room policy
// records it), the recording is stopped through the API, and /recordings plays the file with its own player:
// the video advances, a click at half the bar seeks to the middle, the total time is the file's duration,
// and the file verifies against its signed manifest. VP8 (WebM) and H264 (Matroska).

package webui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

type recordingPart struct {
	File       string `json:"file"`
	DurationMs int64  `json:"duration_ms"`
	Bytes      int64  `json:"bytes"`
	VideoCodec string `json:"video_codec"`
	AudioCodec string `json:"audio_codec"`
	Width      int    `json:"width"`
	Height     int    `json:"height"`
}

type recordingInfo struct {
	ID    string          `json:"id"`
	Room  string          `json:"room"`
	UID   string          `json:"uid"`
	Tags  []string        `json:"tags"`
	State string          `json:"state"`
	Parts []recordingPart `json:"parts"`
}

func TestBrowserRecordings(t *testing.T) {
	for _, codec := range []string{"VP8", "H264"} {
		t.Run(codec, func(t *testing.T) {
			srv := startServer(t)
			b := newBrowser(t, srv)
			room, uid := "rec-"+strings.ToLower(codec), "3003"

			// The customer's page mints a token tagged customer (dev mode); the policy records it on publish.
			customer := b.open("customer", fmt.Sprintf("/call?room=%s&uid=%s&codec=%s", room, uid, strings.ToLower(codec)))
			customer.waitJS("the customer publishes", `__stoa.events.some((e) => e.name === 'stream-published')`)
			var rec recordingInfo
			customer.waitUntil("the policy records the customer", func() (bool, error) {
				list, err := srv.recordings(room)
				if err != nil || len(list) == 0 {
					return false, fmt.Errorf("recordings %+v, %v", list, err)
				}
				rec = list[0]
				ok := rec.State == "recording" && rec.UID == uid
				return ok, seen(ok, rec)
			})
			time.Sleep(5 * time.Second) // five seconds of call to record; nothing is measured against it

			rec = srv.stopRecording(t, rec.ID)
			if rec.State != "stopped" || len(rec.Parts) == 0 {
				b.fail("stopped recording: %+v, want state stopped with a part", rec)
			}
			part := rec.Parts[0]
			ext := map[string]string{"VP8": ".webm", "H264": ".mkv"}[codec]
			if filepath.Ext(part.File) != ext || !strings.EqualFold(part.VideoCodec, codec) {
				t.Errorf("part %+v, want a %s file with %s video", part, ext, codec)
			}
			probed := srv.probeDuration(t, rec.ID, part.File)
			report(t, "%s recording: %s, %d ms by the API, %s by ffprobe, %d bytes, %dx%d %s + %s, %d part(s)",
				codec, part.File, part.DurationMs, probed, part.Bytes, part.Width, part.Height, part.VideoCodec, part.AudioCodec, len(rec.Parts))
			if part.DurationMs <= 0 {
				b.fail("the part has no duration: %+v", part)
			}
			customer.click("hangup") // the page is not needed any more; a 2-core machine has better uses for it

			player := b.open("recordings", "/recordings?room="+room)
			fileSel := fmt.Sprintf(`li.file[data-id=%q][data-file=%q]`, rec.ID, part.File)
			player.waitJS("the page lists the file", fmt.Sprintf(`!!document.querySelector(%q)`, fileSel))
			player.waitJS("the file verifies", fmt.Sprintf(`document.querySelector(%q)?.dataset.status === 'verified'`, fileSel+` .verify`))

			// The player has no native controls, no download and no picture-in-picture.
			if got := mustEval[string](player, `JSON.stringify({ controls: video.controls, pip: video.disablePictureInPicture,
			  list: [...video.controlsList] })`); got != `{"controls":false,"pip":true,"list":["nodownload","nofullscreen","noplaybackrate","noremoteplayback"]}` {
				t.Errorf("video element: %s, want no controls, no PiP, nodownload", got)
			}

			player.clickQuery(fileSel + ` button.open`)
			player.waitJS("the file plays: currentTime advances past 1 s", `!video.paused && video.currentTime > 1`)
			player.waitJS("video frames are decoded", `video.videoWidth > 0 && video.getVideoPlaybackQuality().totalVideoFrames > 5`)
			t1 := mustEval[float64](player, `video.currentTime`)
			player.waitJS("currentTime keeps advancing", fmt.Sprintf(`video.currentTime > %f`, t1+0.3))

			// The total shown is the file's duration.
			wantTotal := clock(float64(part.DurationMs) / 1000)
			total := mustEval[string](player, `document.getElementById('time-total').textContent`)
			if diff := clockSeconds(total) - float64(part.DurationMs)/1000; diff < -1 || diff > 1 {
				t.Errorf("total time shown %s, want %s (the file's %d ms, ±1 s)", total, wantTotal, part.DurationMs)
			}
			elemDur := mustEval[float64](player, `Number.isFinite(video.duration) ? video.duration : -1`)

			// Pause (Space, as an agent would), then click at 50 % of the bar.
			player.key(" ")
			player.waitJS("Space pauses", `video.paused && !document.getElementById('big-play').hidden`)
			player.clickAt("progress", 0.5)
			dur := float64(part.DurationMs) / 1000
			var at float64
			player.waitUntil("the click at 50 % seeks near the middle (within 15 % of the duration)", func() (bool, error) {
				var err error
				if at, err = evalJS[float64](player, `video.currentTime`); err != nil {
					return false, err
				}
				ok := at > dur*0.35 && at < dur*0.65
				return ok, seen(ok, fmt.Sprintf("currentTime %.2f s of %.2f s", at, dur))
			})
			shown := mustEval[string](player, `document.getElementById('time-current').textContent`)
			report(t, "%s playback: total shown %s (file %.2f s, element %.2f s), click at 50%% → %.2f s (shown %s)",
				codec, total, dur, elemDur, at, shown)

			// A drag from 20 % to 80 % of the bar (mouse down, moves, up) seeks to where it is let go.
			player.dragAcross("progress", 0.2, 0.8)
			player.waitUntil("the drag seeks near 80 %", func() (bool, error) {
				var err error
				if at, err = evalJS[float64](player, `video.currentTime`); err != nil {
					return false, err
				}
				ok := at > dur*0.65 && at < dur*0.95
				return ok, seen(ok, fmt.Sprintf("currentTime %.2f s of %.2f s", at, dur))
			})
			report(t, "%s playback: drag 20 %% → 80 %% → %.2f s", codec, at)

			// Space plays again from there; ArrowLeft goes back 5 s (to the start of this short file).
			player.key(" ")
			player.waitJS("Space plays again", `!video.paused`)
			player.key("ArrowLeft")
			player.waitJS("ArrowLeft seeks back", fmt.Sprintf(`video.currentTime < %f`, at-0.5))
		})
	}
}

// recordings lists a room's recordings (dev mode on loopback needs no key).
func (s *server) recordings(room string) ([]recordingInfo, error) {
	res, err := http.Get(s.url + "/api/recordings?room=" + room)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var out struct {
		Recordings []recordingInfo `json:"recordings"`
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/recordings: %s", res.Status)
	}
	err = json.NewDecoder(res.Body).Decode(&out)
	return out.Recordings, err
}

// stopRecording stops a recording through the API and returns what it says then.
func (s *server) stopRecording(t *testing.T, id string) recordingInfo {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, s.url+"/api/recordings/"+id, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("DELETE /api/recordings/%s: %v", id, err)
	}
	defer res.Body.Close()
	var info recordingInfo
	if err := json.NewDecoder(res.Body).Decode(&info); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("DELETE /api/recordings/%s: %s, %v", id, res.Status, err)
	}
	return info
}

// probeDuration downloads a part and asks ffprobe for its duration ("no ffprobe" when it is not installed).
func (s *server) probeDuration(t *testing.T, id, file string) string {
	t.Helper()
	if _, err := exec.LookPath("ffprobe"); err != nil {
		return "no ffprobe"
	}
	res, err := http.Get(s.url + "/api/recordings/" + id + "/files/" + file)
	if err != nil {
		t.Fatalf("GET the file: %v", err)
	}
	defer res.Body.Close()
	path := filepath.Join(t.TempDir(), file)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(f, res.Body)
	f.Close()
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET the file: %s, %v", res.Status, err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path).Output()
	if err != nil {
		return "ffprobe: " + err.Error()
	}
	return strings.TrimSpace(string(out)) + " s"
}

// clickQuery clicks the first element matching a CSS selector, as a user would.
func (tb *tab) clickQuery(sel string) {
	tb.b.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, evalTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		tb.b.fail("%s: click %s: %v", tb.name, sel, err)
	}
}

// clickAt clicks the element with that id at a fraction of its width, on its vertical middle.
func (tb *tab) clickAt(id string, frac float64) {
	tb.b.t.Helper()
	r := mustEval[struct{ X, Y, W, H float64 }](tb, fmt.Sprintf(`(() => {
	  const el = document.getElementById(%q); el.scrollIntoView({ block: 'center' });
	  const r = el.getBoundingClientRect(); return { x: r.left, y: r.top, w: r.width, h: r.height };
	})()`, id))
	ctx, cancel := context.WithTimeout(tb.ctx, evalTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.MouseClickXY(r.X+r.W*frac, r.Y+r.H/2)); err != nil {
		tb.b.fail("%s: click #%s at %.0f %%: %v", tb.name, id, frac*100, err)
	}
}

// dragAcross presses the mouse on the element with that id at fraction from of its width, moves it in steps
// to fraction to, and lets go there.
func (tb *tab) dragAcross(id string, from, to float64) {
	tb.b.t.Helper()
	r := mustEval[struct{ X, Y, W, H float64 }](tb, fmt.Sprintf(`(() => {
	  const r = document.getElementById(%q).getBoundingClientRect(); return { x: r.left, y: r.top, w: r.width, h: r.height };
	})()`, id))
	y := r.Y + r.H/2
	at := func(f float64) float64 { return r.X + r.W*f }
	steps := []chromedp.Action[chromedp.Void]{chromedp.MouseEvent("mousePressed", at(from), y, chromedp.ButtonLeft, chromedp.ClickCount(1))}
	for i := 1; i <= 5; i++ {
		steps = append(steps, chromedp.MouseEvent("mouseMoved", at(from+(to-from)*float64(i)/5), y, chromedp.ButtonLeft))
	}
	steps = append(steps, chromedp.MouseEvent("mouseReleased", at(to), y, chromedp.ButtonLeft, chromedp.ClickCount(1)))
	ctx, cancel := context.WithTimeout(tb.ctx, evalTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.b.fail("%s: drag #%s: %v", tb.name, id, err)
	}
}

// key presses a key on the page's body (nothing focused that would take it).
func (tb *tab) key(k string) {
	tb.b.t.Helper()
	mustEval[bool](tb, `(document.activeElement?.blur(), true)`)
	ctx, cancel := context.WithTimeout(tb.ctx, evalTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.KeyEvent(keyName(k))); err != nil {
		tb.b.fail("%s: press %q: %v", tb.name, k, err)
	}
}

func keyName(k string) string {
	switch k {
	case "ArrowLeft":
		return kb.ArrowLeft
	case "ArrowRight":
		return kb.ArrowRight
	}
	return k
}

// clock is seconds as the page shows them (mm:ss, rounded).
func clock(s float64) string {
	n := int(s + 0.5)
	return fmt.Sprintf("%02d:%02d", n/60, n%60)
}

// clockSeconds reads mm:ss back (-1000 when it is not mm:ss).
func clockSeconds(s string) float64 {
	m, sec, ok := strings.Cut(s, ":")
	mi, err1 := strconv.Atoi(m)
	si, err2 := strconv.Atoi(sec)
	if !ok || err1 != nil || err2 != nil {
		return -1000
	}
	return float64(mi*60 + si)
}
