package recorder

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stoa-video/stoa/sfu"
)

// liveCopy records the first seconds of c and copies the file as it is on
// disk while the recording runs (what kill -9 leaves) once it holds at least
// clusters complete clusters; then it stops the recording.
func liveCopy(t *testing.T, c clip, seconds float64, clusters int, video bool) string {
	t.Helper()
	f := newFeeder(0, false)
	f.senderReports(time.Now(), 0)
	ups := []sfu.UpTrack{f.video, f.audio}
	part := clip{audio: c.audio[:int(seconds*50)]}
	if video {
		part.video, part.keys = c.video[:int(seconds*15)], c.keys[:int(seconds*15)]
	} else {
		ups = ups[1:]
	}
	dir := t.TempDir()
	rec, err := Start(ups, Options{ID: "live", Dir: dir, Room: "r", UID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Stop()
	f.play(t, part, 0, 0, 0, 4)
	path := filepath.Join(dir, "live.webm")
	// The writer runs behind the feeder: wait for the clusters to reach the
	// disk (a generous deadline only a real defect trips).
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, err := os.ReadFile(path)
		if err == nil {
			if spans, _ := Clusters(bytes.NewReader(data), int64(len(data))); len(spans) >= clusters {
				out := filepath.Join(t.TempDir(), "live.webm")
				if err := os.WriteFile(out, data, 0o600); err != nil {
					t.Fatal(err)
				}
				return out
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the running recording never held %d complete clusters (%v)", clusters, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func lastPacketTime(t *testing.T, path string, streams ...string) float64 {
	t.Helper()
	last := 0.0
	for _, s := range streams {
		for _, v := range packetTimes(t, path, s) {
			last = max(last, v)
		}
	}
	return last
}

func frameCount(t *testing.T, path string) int {
	t.Helper()
	for _, s := range ffprobe(t, path).Streams {
		if s.CodecType == "video" {
			n, _ := strconv.Atoi(s.NbReadFrames)
			return n
		}
	}
	return 0
}

// hasCuesAfterClusters reports whether Cues follow the file's last cluster,
// as the writer's close and repair put them.
func hasCuesAfterClusters(t *testing.T, path string) bool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	spans, err := Clusters(bytes.NewReader(data), int64(len(data)))
	if err != nil || len(spans) == 0 {
		t.Fatalf("clusters of %s: %d, %v", path, len(spans), err)
	}
	last := spans[len(spans)-1]
	return bytes.HasPrefix(data[last.Offset+last.Size:], []byte{0x1C, 0x53, 0xBB, 0x6B})
}

// A recording cut by kill -9 inside its fourth cluster: it plays up to the
// third, and RepairFile makes a finalized, seekable, signed copy of the three
// with the right duration, leaving the cut file as it was.
func TestRepairCutRecording(t *testing.T) {
	needFFmpeg(t)
	c := makeClip(t, 10)
	live := liveCopy(t, c, 9, 4, true)
	data, _ := os.ReadFile(live)
	spans, err := Clusters(bytes.NewReader(data), int64(len(data)))
	if err != nil || len(spans) < 4 {
		t.Fatalf("%d clusters in the live copy: %v", len(spans), err)
	}
	dir := t.TempDir()
	// clean: cut right after cluster 3; cut: halfway into cluster 4.
	clean, cut := filepath.Join(dir, "clean.webm"), filepath.Join(dir, "cut.webm")
	os.WriteFile(clean, data[:spans[2].Offset+spans[2].Size], 0o600)
	cutSize := spans[3].Offset + spans[3].Size/2
	os.WriteFile(cut, data[:cutSize], 0o600)

	if e := decodeErrors(t, clean); e != "" {
		t.Errorf("ffmpeg on a file cut between clusters says:\n%s", e)
	}
	before := ffprobe(t, cut) // reads the cut file
	t.Logf("cut file: ffprobe duration %q, %d frames; ffmpeg says %q", before.Format.Duration, frameCount(t, cut), decodeErrors(t, cut))
	if n, want := frameCount(t, cut), frameCount(t, clean); n < want {
		t.Errorf("the cut file decodes %d video frames, %d are in its complete clusters", n, want)
	}
	want := lastPacketTime(t, clean, "v:0", "a:0")

	_, key, _ := ed25519.GenerateKey(rand.Reader)
	res, err := RepairFile(cut, key)
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != filepath.Join(dir, "cut.repaired.webm") || res.Clusters != 3 || res.TailBytes != cutSize-spans[3].Offset {
		t.Errorf("result %+v: want cut.repaired.webm, 3 clusters, a tail of %d bytes", res, cutSize-spans[3].Offset)
	}
	p := ffprobe(t, res.Path)
	dur, _ := strconv.ParseFloat(p.Format.Duration, 64)
	if dur < want-0.2 || dur > want+0.2 {
		t.Errorf("repaired duration %.3f s, the complete clusters end at %.3f s", dur, want)
	}
	if d := res.Duration.Seconds(); d < want-0.2 || d > want+0.2 {
		t.Errorf("RepairFile says %.3f s, the complete clusters end at %.3f s", d, want)
	}
	if e := decodeErrors(t, res.Path); e != "" {
		t.Errorf("ffmpeg on the repaired file says:\n%s", e)
	}
	if n, w := frameCount(t, res.Path), frameCount(t, clean); n != w {
		t.Errorf("repaired file has %d video frames, its complete clusters %d", n, w)
	}
	if !hasCuesAfterClusters(t, res.Path) || res.Cues < 3 {
		t.Errorf("repaired file has no cues after its clusters (%d cue points)", res.Cues)
	}
	mid := strconv.FormatFloat(want/2, 'f', 2, 64)
	if out, err := exec.Command("ffmpeg", "-v", "error", "-ss", mid, "-i", res.Path, "-frames:v", "1", "-f", "null", "-").CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("seeking to %s s in the repaired file: %v %s", mid, err, out)
	}

	// The signed manifest verifies, and records the original's chain: the
	// complete clusters' bytes are unchanged, so both chains end alike.
	vr, err := Verify(res.Path, key.Public().(ed25519.PublicKey))
	if err != nil || !vr.OK {
		t.Fatalf("verify the repaired file: %+v %v", vr, err)
	}
	m, err := ReadManifest(res.ManifestPath)
	if err != nil {
		t.Fatal(err)
	}
	fh, _ := HashFile(clean)
	if m.Repair == nil || m.Repair.OfFinalHash != hex.EncodeToString(fh.Final[:]) || m.FinalHash != m.Repair.OfFinalHash ||
		!strings.Contains(m.Repair.Note, "3 clusters kept, truncated tail of "+strconv.FormatInt(res.TailBytes, 10)+" bytes dropped") {
		t.Errorf("manifest repair entry %+v, final %s; the original's complete clusters hash to %x", m.Repair, m.FinalHash, fh.Final)
	}
	if m.VideoCodec != "vp8" || m.AudioCodec != "opus" || m.Width != 320 || m.DurationMS != res.Duration.Milliseconds() || m.Start.IsZero() {
		t.Errorf("manifest facts %+v", m)
	}
	if got, _ := os.ReadFile(cut); !bytes.Equal(got, data[:cutSize]) {
		t.Error("the cut file was changed")
	}
	if _, err := RepairFile(cut, key); !errors.Is(err, fs.ErrExist) {
		t.Errorf("a second repair over the first: %v", err)
	}
	t.Logf("cut at %d of %d bytes: repaired to %d clusters, %.3f s (ffprobe %.3f s, truth %.3f s), %d cues, tail %d bytes",
		cutSize, len(data), res.Clusters, res.Duration.Seconds(), dur, want, res.Cues, res.TailBytes)
}

// Audio only: a cue per cluster, and no key means no manifest.
func TestRepairAudioOnly(t *testing.T) {
	needFFmpeg(t)
	c := makeClip(t, 6)
	live := liveCopy(t, c, 5, 3, false)
	res, err := RepairFile(live, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Cues != res.Clusters || res.ManifestPath != "" {
		t.Errorf("result %+v: want a cue per cluster and no manifest", res)
	}
	want := lastPacketTime(t, live, "a:0")
	dur, _ := strconv.ParseFloat(ffprobe(t, res.Path).Format.Duration, 64)
	if dur < want-0.2 || dur > want+0.2 || !hasCuesAfterClusters(t, res.Path) {
		t.Errorf("repaired audio: %.3f s (its clusters end at %.3f s), cues %v", dur, want, hasCuesAfterClusters(t, res.Path))
	}
	if e := decodeErrors(t, res.Path); e != "" {
		t.Errorf("ffmpeg on the repaired file says:\n%s", e)
	}
	t.Logf("audio only: %d clusters, %d cues, %.3f s", res.Clusters, res.Cues, dur)
}

// Files that are not recordings are errors, never panics or huge allocations.
func TestRepairRejects(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		"empty":      nil,
		"not ebml":   []byte("hello, world"),
		"no cluster": bytes.Join([][]byte{ebmlHeader, elUnknown(idSegment), info}, nil),
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".webm")
		os.WriteFile(path, data, 0o600)
		if _, err := RepairFile(path, nil); err == nil {
			t.Errorf("%s: repaired", name)
		}
	}
	if _, err := RepairFile(filepath.Join(dir, "missing.webm"), nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// FuzzRepairPlan feeds arbitrary bytes to what RepairFile reads: no panic,
// and what it keeps lies inside the input.
func FuzzRepairPlan(f *testing.F) {
	seg := elUnknown(idSegment)
	f.Add(bytes.Join([][]byte{ebmlHeader, seg, info, cluster(0), clusterUnknown(1)}, nil))
	f.Add(bytes.Join([][]byte{ebmlHeader, el(idSegment, info, cluster(0), cluster(1))}, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := planRepair(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		for _, s := range p.spans {
			if s.Offset < 0 || s.Offset+s.Size > int64(len(data)) {
				t.Fatalf("span %v outside %d bytes", s, len(data))
			}
		}
		_ = rebuildInfo(p.info, float64(p.lastTick))
	})
}
