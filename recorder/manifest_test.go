package recorder

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testManifest() *Manifest {
	start := time.Date(2025, 3, 1, 10, 0, 0, 123456789, time.FixedZone("CET", 3600))
	return &Manifest{File: "call.webm", Room: "claim-42", UID: "cust<1>&", Tags: []string{"customer"},
		RecordingID: "rec1", Part: 1, Start: start, End: start.Add(3 * time.Second),
		VideoCodec: "VP8", AudioCodec: "opus", Width: 320, Height: 180, DurationMS: 3000, Bytes: 10,
		Counters: map[string]uint64{"packets": 900, "lost": 3, "gaps": 1, "dropped": 0},
		Clusters: []ClusterEntry{{Offset: 1, Size: 2, Hash: strings.Repeat("ab", 32)}}, FinalHash: strings.Repeat("ab", 32)}
}

func TestManifestSignRoundTrip(t *testing.T) {
	dir := t.TempDir()
	key, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := testManifest()
	if err := m.Sign(key); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "call.webm.json")
	if err := WriteManifest(path, m); err != nil {
		t.Fatal(err)
	}
	back, err := ReadManifest(path)
	if err != nil {
		t.Fatal(err)
	}
	pub := key.Public().(ed25519.PublicKey)
	if err := back.CheckSignature(pub); err != nil {
		t.Fatalf("read back: %v", err)
	}
	if err := back.CheckSignature(nil); err != nil {
		t.Fatalf("with its own key: %v", err)
	}
	if !back.Start.Equal(m.Start) || back.Counters["lost"] != 3 || back.Version != ManifestVersion {
		t.Fatalf("fields changed: %+v", back)
	}

	// The layout of the file is not signed: compact JSON verifies too.
	raw, _ := os.ReadFile(path)
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, compact.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if back, err = ReadManifest(path); err != nil || back.CheckSignature(pub) != nil {
		t.Fatalf("compact manifest: %v", err)
	}

	// Any signed field changed breaks it.
	for name, edit := range map[string]func(*Manifest){
		"room":    func(m *Manifest) { m.Room = "claim-43" },
		"end":     func(m *Manifest) { m.End = m.End.Add(time.Nanosecond) },
		"counter": func(m *Manifest) { m.Counters["lost"] = 0 },
		"cluster": func(m *Manifest) { m.Clusters[0].Size++ },
		"repair":  func(m *Manifest) { m.Repair = &Repair{Note: "x"} },
		"key":     func(m *Manifest) { m.PublicKey = EncodePublicKey(testKey(t, 2).Public().(ed25519.PublicKey)) },
	} {
		c, _ := ReadManifest(path)
		edit(c)
		if err := c.CheckSignature(pub); err == nil {
			t.Errorf("%s changed: signature still verifies", name)
		}
	}
	other := testKey(t, 3).Public().(ed25519.PublicKey)
	if err := back.CheckSignature(other); err == nil {
		t.Error("verified with another key")
	}
}

func testKey(t *testing.T, n byte) ed25519.PrivateKey {
	t.Helper()
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{n}, ed25519.SeedSize))
}

func TestManifestSigningBytes(t *testing.T) {
	m := testManifest()
	if err := m.Sign(testKey(t, 1)); err != nil {
		t.Fatal(err)
	}
	a, _ := m.SigningBytes()
	b, _ := m.SigningBytes()
	if !bytes.Equal(a, b) || !bytes.Contains(a, []byte(`"signature":""`)) || bytes.Contains(a, []byte("\n")) ||
		!bytes.Contains(a, []byte(`"start":"2025-03-01T10:00:00.123456789+01:00"`)) ||
		!bytes.Contains(a, []byte(`"counters":{"dropped":0,"gaps":1,"lost":3,"packets":900}`)) {
		t.Fatalf("signing bytes: %s", a)
	}
	var n Manifest
	n.Sign(testKey(t, 1))
	if s, _ := n.SigningBytes(); !bytes.Contains(s, []byte(`"tags":[],`)) || !bytes.Contains(s, []byte(`"clusters":[],`)) {
		t.Fatalf("an empty manifest signs null lists: %s", s)
	}
	if err := m.Sign(ed25519.PrivateKey{1, 2}); err == nil {
		t.Fatal("signed with a short key")
	}
}

func TestManifestReadRefuses(t *testing.T) {
	dir := t.TempDir()
	good, _ := json.Marshal(testManifest())
	big := filepath.Join(dir, "big.json")
	f, _ := os.Create(big)
	f.Truncate(maxManifestBytes + 1)
	f.Close()
	for name, c := range map[string]struct{ data, err string }{
		"unknown field": {`{"version":1,"extra":1}`, "unknown field"},
		"trailing data": {string(good) + "{}", "data after"},
		"not JSON":      {"hello", "parse manifest"},
		"big":           {"", "larger than"},
	} {
		path := big
		if c.data != "" {
			path = filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
			os.WriteFile(path, []byte(c.data), 0o600)
		}
		if _, err := ReadManifest(path); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: %v, want an error containing %q", name, err, c.err)
		}
	}
	if _, err := ReadManifest(filepath.Join(dir, "missing.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

func TestManifestKeyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	k1, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, KeyFile)
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st.Mode(), err)
	}
	k2, err := LoadOrCreateKey(dir)
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("second call gave another key (%v)", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("left files behind: %v", entries)
	}

	os.Chmod(path, 0o644)
	if _, err := LoadOrCreateKey(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable key: %v", err)
	}
	os.Chmod(path, 0o600)
	os.WriteFile(path, make([]byte, 32), 0o600)
	if _, err := LoadOrCreateKey(dir); err == nil || !strings.Contains(err.Error(), "32 bytes, want 64") {
		t.Fatalf("a short key: %v", err)
	}
	bad := append([]byte(nil), k1...)
	bad[40] ^= 1
	os.WriteFile(path, bad, 0o600)
	if _, err := LoadKey(dir); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("a key whose halves disagree: %v", err)
	}
	if _, err := LoadKey(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadKey of a dir without a key: %v", err)
	}
}

func TestManifestPath(t *testing.T) {
	if got := ManifestPath("/rec/a.webm"); got != "/rec/a.webm.json" {
		t.Fatal(got)
	}
	if _, err := ParsePublicKey("AAAA"); err == nil {
		t.Fatal("a 3-byte key parsed")
	}
}
