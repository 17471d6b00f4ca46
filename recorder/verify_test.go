package recorder

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// seal writes a signed manifest for the file at path, as the recorder does
// on stop, and returns the file's clusters.
func seal(t *testing.T, path string, key ed25519.PrivateKey) []Span {
	t.Helper()
	fh, err := HashFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := &Manifest{File: filepath.Base(path), Room: "claim-42", UID: "customer-1", Tags: []string{"customer"},
		VideoCodec: "VP8", Width: 320, Height: 180, DurationMS: 3000}
	m.SetHashes(fh)
	if err := m.Sign(key); err != nil {
		t.Fatal(err)
	}
	if err := WriteManifest(ManifestPath(path), m); err != nil {
		t.Fatal(err)
	}
	return fh.Spans
}

// copyRecording copies a recording and its manifest to a fresh directory,
// changing the media bytes with edit.
func copyRecording(t *testing.T, path string, edit func([]byte) []byte) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	man, err := os.ReadFile(ManifestPath(path))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(out, edit(bytes.Clone(data)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ManifestPath(out), man, 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerifyFFmpegFile(t *testing.T) {
	for _, live := range []bool{false, true} {
		key := testKey(t, 1)
		pub := key.Public().(ed25519.PublicKey)
		path := makeWebM(t, t.TempDir(), live)
		spans := seal(t, path, key)
		if len(spans) < 4 {
			t.Fatalf("live=%v: only %d clusters", live, len(spans))
		}
		check := func(name, path string, trusted ed25519.PublicKey, wantOK bool, wantCluster int, wantReason string) {
			t.Helper()
			res, err := Verify(path, trusted)
			if err != nil {
				t.Fatalf("live=%v %s: %v", live, name, err)
			}
			if res.OK != wantOK || res.Cluster != wantCluster || !strings.Contains(res.Reason, wantReason) {
				t.Errorf("live=%v %s: %+v, want ok=%v cluster=%d reason containing %q", live, name, res, wantOK, wantCluster, wantReason)
			}
		}
		check("untouched", path, pub, true, -1, "")
		check("untouched, own key", path, nil, true, -1, "manifest's own key")

		// The chain the writer builds from the clusters' bytes is the one signed.
		data, _ := os.ReadFile(path)
		c := NewChain()
		for _, s := range spans {
			c.Add(data[s.Offset : s.Offset+s.Size])
		}
		final := c.Final()
		if m, _ := ReadManifest(ManifestPath(path)); m.FinalHash != hex.EncodeToString(final[:]) {
			t.Fatalf("live=%v: Chain.Add over the clusters gives another final hash", live)
		}

		for k, s := range spans {
			flipped := copyRecording(t, path, func(b []byte) []byte { b[s.Offset+s.Size/2] ^= 0x01; return b })
			check("byte flipped in cluster", flipped, pub, false, k, "cluster "+strconv.Itoa(k)+" differs")
		}
		header := copyRecording(t, path, func(b []byte) []byte { b[spans[0].Offset-3] ^= 0x01; return b })
		check("byte flipped before the clusters", header, pub, false, -1, "outside the clusters")

		cut := spans[3].Offset + spans[3].Size/2
		truncated := copyRecording(t, path, func(b []byte) []byte { return b[:cut] })
		check("truncated", truncated, pub, false, 3, "clusters 3 to "+strconv.Itoa(len(spans)-1)+" missing")

		void := []byte{0xEC, 0x82, 0, 0}
		appended := copyRecording(t, path, func(b []byte) []byte { return append(b, void...) })
		check("void appended", appended, pub, false, -1, "4 trailing bytes")
		garbage := copyRecording(t, path, func(b []byte) []byte { return append(b, 0, 0, 0) })
		check("garbage appended", garbage, pub, false, len(spans), "unreadable")

		// A manifest re-signed by someone else's key verifies only against
		// that key: the trusted key is what makes the check mean anything.
		forged := copyRecording(t, path, func(b []byte) []byte { return b })
		m, _ := ReadManifest(ManifestPath(forged))
		m.Room = "another-claim"
		if err := m.Sign(testKey(t, 9)); err != nil {
			t.Fatal(err)
		}
		WriteManifest(ManifestPath(forged), m)
		check("forged, trusted key", forged, pub, false, -1, "bad signature: signed by another key")
		check("forged, own key", forged, nil, true, -1, "not checked against a trusted key")

		edited := copyRecording(t, path, func(b []byte) []byte { return b })
		m, _ = ReadManifest(ManifestPath(edited))
		m.Clusters[1].Hash = m.Clusters[2].Hash
		WriteManifest(ManifestPath(edited), m)
		check("manifest edited", edited, nil, false, -1, "bad signature")

		renamed := filepath.Join(t.TempDir(), "other.webm")
		os.WriteFile(renamed, data, 0o600)
		man, _ := os.ReadFile(ManifestPath(path))
		os.WriteFile(ManifestPath(renamed), man, 0o600)
		check("renamed", renamed, pub, true, -1, `renamed from "call.webm"`)
	}
}

func TestVerifyErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.webm")
	os.WriteFile(path, []byte("not a recording"), 0o600)
	if _, err := Verify(path, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("no manifest: %v", err)
	}
	// A manifest over no clusters, for a file that is not EBML at all.
	m := &Manifest{Bytes: 15}
	m.SetHashes(FileHashes{Final: chainSeed, Size: 15})
	m.Sign(testKey(t, 1))
	WriteManifest(ManifestPath(path), m)
	res, err := Verify(path, nil)
	if err != nil || res.OK || !strings.Contains(res.Reason, "not an EBML file") {
		t.Fatalf("garbage file: %+v %v", res, err)
	}
	m.Version = 2
	m.Sign(testKey(t, 1))
	WriteManifest(ManifestPath(path), m)
	if res, _ := Verify(path, nil); res.OK || !strings.Contains(res.Reason, "version 2") {
		t.Fatalf("version 2: %+v", res)
	}
}
