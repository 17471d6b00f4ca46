package signaling_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/stoa-video/stoa/internal/mediatest"
	"github.com/stoa-video/stoa/recorder"
	"github.com/stoa-video/stoa/signaling"
	"github.com/stoa-video/stoa/signaling/client"
)

// A customer recorded through an uplink that loses 5 % or 20 % of its RTP
// at random: the publisher answers the SFU's NACKs (pion's responder, as a
// browser does), the recorder waits for the retransmissions, and the file
// decodes without an error. Frames kept against frames sent are logged for
// the note; at 5 % at least 90 % of the frames must be kept (the recovery
// works: without the NACK path 5 % loss keeps about a quarter), at 20 % at
// least 70 %.
func TestRecordingThroughLossWithNACK(t *testing.T) {
	mediatest.NeedTools(t, "ffmpeg", "ffprobe")
	frames := mediatest.VP8Clip(t, "640x360", 10, 300, 30)
	for _, c := range []struct {
		loss    float64
		minKept float64 // of the frames sent
	}{{0.05, 0.9}, {0.20, 0.7}} {
		t.Run(strconv.Itoa(int(c.loss*100))+"%", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			ts := newTestServer(t)
			svc, err := recorder.NewService(recorder.ServiceOptions{Dir: t.TempDir(), Tags: []string{"customer"}, Log: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			defer svc.Close()
			ts.sfu.SetObserver(svc)
			link := newLossyLink(t)
			link.randomRTP.Store(true)
			tok, _, err := ts.tokens.Issue("claim", "cust", signaling.RoleHost, "customer", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			cust := ts.dial(ctx, "claim", "cust", signaling.RoleHost, func(o *client.Options) {
				o.Token, o.API, o.AutoSubscribe = tok, lossyAPI(t, link), false
			})
			track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "cust")
			if err != nil {
				t.Fatal(err)
			}
			if err := cust.Publish(ctx, track); err != nil {
				t.Fatal(err)
			}
			// Read the sender's RTCP, as a browser does: pion's NACK
			// responder sees the SFU's NACKs only on the way to this read.
			var nacks atomic.Int64
			for _, sender := range cust.PublishSenders() {
				go func() { // ends when the client's connection closes
					for {
						pkts, _, err := sender.ReadRTCP()
						if err != nil {
							return
						}
						for _, pk := range pkts {
							if _, ok := pk.(*rtcp.TransportLayerNack); ok {
								nacks.Add(1)
							}
						}
					}
				}()
			}
			// The keyframe until the recording runs, then the clip once,
			// each frame sent counted.
			var recording atomic.Bool
			sent := 0
			done := make(chan struct{})
			go func() {
				defer close(done)
				tick := time.NewTicker(time.Second / 15)
				defer tick.Stop()
				for i := 0; i < len(frames); {
					select {
					case <-ctx.Done():
						return
					case <-tick.C:
					}
					if !recording.Load() {
						_ = track.WriteSample(media.Sample{Data: frames[0], Duration: time.Second / 15})
						continue
					}
					_ = track.WriteSample(media.Sample{Data: frames[i], Duration: time.Second / 15})
					i++
					sent++
				}
			}()
			var id string
			for id == "" {
				if l := svc.List(recorder.Filter{UID: "cust"}); len(l) == 1 {
					id = l[0].ID
					break
				}
				select {
				case <-ctx.Done():
					t.Fatal("the customer was never recorded")
				case <-time.After(50 * time.Millisecond):
				}
			}
			link.setLoss(0, c.loss)
			recording.Store(true)
			<-done
			link.setLoss(0, 0)
			time.Sleep(3 * time.Second) // the last retransmissions and the jitter buffer's wait
			var lost, recovered uint64
			parts, _ := ts.sig.RoomStats("claim")
			for _, p := range parts {
				lost, recovered = lost+sumLost(p), recovered+sumRecovered(p)
			}
			info, err := svc.Stop(id)
			if err != nil || len(info.Parts) != 1 {
				t.Fatalf("stop: %+v %v", info, err)
			}
			path := filepath.Join(svc.Dir(), info.Parts[0].File)
			if out, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput(); err != nil || len(out) > 0 {
				t.Errorf("decoding the recording: %v\n%s", err, out)
			}
			out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v",
				"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path).Output()
			if err != nil {
				t.Fatalf("ffprobe: %v", err)
			}
			kept, _ := strconv.Atoi(strings.TrimSpace(string(out)))
			// The keyframes sent before the clip may be in the file too.
			if float64(kept) < c.minKept*float64(sent) || kept > sent+30 {
				t.Errorf("%.0f %% loss: %d video frames kept of %d sent, want at least %.0f %%", c.loss*100, kept, sent, c.minKept*100)
			}
			t.Logf("%.0f %% random loss on the uplink, NACK on: %d video frames kept of %d sent; %d NACKs, %d packets lost on the way in, %d recovered", c.loss*100, kept, sent, nacks.Load(), lost, recovered)
		})
	}
}
