package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stoa-video/stoa/recorder"
	"github.com/stoa-video/stoa/signaling"
)

type verifyAnswer struct {
	OK      bool   `json:"ok"`
	Status  string `json:"status"`
	Cluster int    `json:"cluster"`
	Reason  string `json:"reason"`
}

// TestRecordingVerifyEndpoint: a stopped recording's part is "verified"; a byte flipped inside a cluster
// makes it "altered", naming that cluster; only an operator or a host of the room may ask.
func TestRecordingVerifyEndpoint(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var svc *recorder.Service
	ts := newTestServer(t, withKey, withRecordings(t, &svc))
	base := ts.http.URL
	agent := ts.dialTagged(ctx, "claim", "agent", signaling.RoleHost, "agent")
	customer := ts.dialTagged(ctx, "claim", "cust", signaling.RoleHost, "customer")
	publishClip(ctx, t, customer)
	if _, err := agent.WaitEvent(ctx, recorder.EventStarted, func(m signaling.Message) bool { return m.UID == "cust" }); err != nil {
		t.Fatalf("no recording-started: %v", err)
	}
	id := svc.List(recorder.Filter{Room: "claim", UID: "cust"})[0].ID

	verify := func(bearer, file string) (int, verifyAnswer) {
		t.Helper()
		code, body := request(t, "GET", base+"/api/recordings/"+id+"/files/"+file+"/verify", bearer, "")
		var v verifyAnswer
		if code == http.StatusOK {
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatalf("verify answer %s: %v", body, err)
			}
		}
		return code, v
	}

	time.Sleep(2 * time.Second) // some clusters to hash
	code, body := request(t, "DELETE", base+"/api/recordings/"+id, "operator-key", "")
	var info recorder.Summary
	if err := json.Unmarshal(body, &info); code != http.StatusOK || err != nil || len(info.Parts) == 0 {
		t.Fatalf("stop: %d %s", code, body)
	}
	file := info.Parts[0].File

	for _, c := range []struct {
		who, bearer string
		want        int
	}{
		{"nobody", "", http.StatusUnauthorized},
		{"a host of another room", ts.token("other", "agent", signaling.RoleHost), http.StatusForbidden},
	} {
		if code, _ := verify(c.bearer, file); code != c.want {
			t.Errorf("%s verifying: %d, want %d", c.who, code, c.want)
		}
	}
	if code, _ := verify("operator-key", "nope.webm"); code != http.StatusNotFound {
		t.Errorf("a file not in the recording: %d, want 404", code)
	}
	host := ts.token("claim", "agent", signaling.RoleHost)
	if code, v := verify(host, file); code != http.StatusOK || !v.OK || v.Status != "verified" {
		t.Fatalf("untouched file: %d %+v, want verified", code, v)
	}

	// Flip one byte in the middle of the last cluster.
	path := filepath.Join(svc.Dir(), file)
	fh, err := recorder.HashFile(path)
	if err != nil || len(fh.Spans) == 0 {
		t.Fatalf("hash %s: %d clusters, %v", path, len(fh.Spans), err)
	}
	last := len(fh.Spans) - 1
	span := fh.Spans[last]
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	off := span.Offset + span.Size/2
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if code, v := verify(host, file); code != http.StatusOK || v.OK || v.Status != "altered" || v.Cluster != last {
		t.Errorf("one byte flipped in cluster %d: %d %+v, want altered naming cluster %d", last, code, v, last)
	} else {
		t.Logf("altered: %s", v.Reason)
	}
}
