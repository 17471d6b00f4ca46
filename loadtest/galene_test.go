package loadtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// TestRunAgainstGalene runs the Galène client against a real Galène, built
// from its source outside this repository: STOA_GALENE=/path/to/galene.
func TestRunAgainstGalene(t *testing.T) {
	bin := os.Getenv("STOA_GALENE")
	if bin == "" {
		t.Skip("STOA_GALENE (a Galène binary) not set: the Galène client is not tested")
	}
	ip := hostIP(t) // Galène offers no loopback candidates
	videoPath, audioPath := makeClip(t, "ivf")
	video, err := LoadVideo(videoPath, 0)
	if err != nil {
		t.Fatal(err)
	}
	audio, err := LoadAudio(audioPath)
	if err != nil {
		t.Fatal(err)
	}
	url, pid := startGalene(t, bin, ip)
	before := runtime.NumGoroutine()

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var progress bytes.Buffer
	res, err := Run(ctx, Config{URL: url, Galene: true, Room: "lt", Publishers: 1, Subscribers: 3, Video: video, Audio: audio,
		Duration: 3 * time.Second, JoinTimeout: 60 * time.Second, ICEIPs: []string{ip}, ServerPID: pid,
		Progress: time.Second, ProgressOut: &progress})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	var table bytes.Buffer
	res.WriteTable(&table)
	t.Logf("progress:\n%s\n%s", progress.String(), table.String())
	if res.Joined != 3 || res.Subscriptions != 3 {
		t.Fatalf("joined %d of 3 subscribers, %d subscriptions; first error: %s", res.Joined, res.Subscriptions, res.FirstError)
	}
	for _, s := range res.PerSubscription {
		if s.Packets == 0 || s.LossPct > 20 || s.JoinToFirstFrameMs == nil {
			t.Errorf("%s from %s: %d packets, %.1f%% loss, join → first frame %v", s.Subscriber, s.Publisher, s.Packets, s.LossPct, s.JoinToFirstFrameMs)
		}
	}
	waitGoroutines(t, before)
}

// hostIP returns a non-loopback IPv4 address of this machine.
func hostIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
			return n.IP.String()
		}
	}
	t.Skip("no non-loopback IPv4 address: Galène gathers no loopback candidates")
	return ""
}

// startGalene runs bin with an open group "lt" and returns its websocket URL and pid.
func startGalene(t *testing.T, bin, ip string) (string, int) {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"groups", "data", "static"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	group := `{"wildcard-user": {"password": {"type": "wildcard"}, "permissions": "present"}}`
	if err := os.WriteFile(filepath.Join(dir, "groups", "lt.json"), []byte(group), 0o644); err != nil {
		t.Fatal(err)
	}
	httpPort, udpPort := freePort(t, "tcp"), freePort(t, "udp")
	cmd := exec.Command(bin, "-insecure", "-http", fmt.Sprintf("127.0.0.1:%d", httpPort), "-turn", "",
		"-udp-range", fmt.Sprint(udpPort), "-data", "data", "-groups", "groups", "-static", "static")
	cmd.Dir = dir
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start Galène: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("Galène's log:\n%s", logs.String())
		}
	})
	status := fmt.Sprintf("http://127.0.0.1:%d/group/lt/.status", httpPort)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if res, err := http.Get(status); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Galène did not serve %s", status)
		}
	}
	return fmt.Sprintf("ws://127.0.0.1:%d/ws", httpPort), cmd.Process.Pid
}

func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
