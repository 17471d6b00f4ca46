package recorder

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// ManifestVersion is the manifest format this package writes and verifies.
const ManifestVersion = 1

// KeyFile is the name of the recording signing key in the data dir.
const KeyFile = "recording.key"

// maxManifestBytes caps what ReadManifest reads: a cluster entry is about 130
// bytes and a cluster at least a second long, so 32 MiB covers days of
// recording while a hostile file cannot exhaust memory.
const maxManifestBytes = 32 << 20

// Manifest is the signed statement written beside a recording (FILE.json):
// what was recorded, when, and the hash chain over its clusters, so that
// anyone holding the public key can later show the file is whole and
// unaltered. Its JSON field names are the format; see Sign for what is signed.
type Manifest struct {
	Version     int               `json:"version"`
	File        string            `json:"file"` // base name of the media file
	Room        string            `json:"room"`
	UID         string            `json:"uid"`
	Tags        []string          `json:"tags"`
	RecordingID string            `json:"recording_id"`
	Part        int               `json:"part"`
	Start       time.Time         `json:"start"` // RFC 3339 with nanoseconds
	End         time.Time         `json:"end"`
	VideoCodec  string            `json:"video_codec"`
	AudioCodec  string            `json:"audio_codec"`
	Width       int               `json:"width"`
	Height      int               `json:"height"`
	DurationMS  int64             `json:"duration_ms"`
	Bytes       int64             `json:"bytes"`    // size of the media file
	Counters    map[string]uint64 `json:"counters"` // packets, lost, gaps, dropped, …
	Clusters    []ClusterEntry    `json:"clusters"`
	// OutsideHash is the SHA-256 (hex) of every byte of the file outside the
	// clusters, in file order (EBML header, Info, Tracks, Cues, …), so that a
	// changed header (a timestamp scale, a codec) is caught too. Optional.
	OutsideHash string  `json:"outside_hash,omitempty"`
	FinalHash   string  `json:"final_hash"` // the chain's last h_i, hex
	Repair      *Repair `json:"repair,omitempty"`
	PublicKey   string  `json:"public_key"` // Ed25519, standard base64
	Signature   string  `json:"signature"`  // Ed25519, standard base64
}

// ClusterEntry is one cluster of the file in the manifest: where it is and
// the chain value h_i after it (hex), not the cluster's own digest.
type ClusterEntry struct {
	Offset int64  `json:"offset"`
	Size   int64  `json:"size"`
	Hash   string `json:"hash"`
}

// Repair records that a file was rewritten by repair after a crash, and which
// signed chain (if any) it replaced, so the new manifest does not hide it.
type Repair struct {
	OfFinalHash string    `json:"of_final_hash"`
	At          time.Time `json:"at"`
	Note        string    `json:"note"`
}

// ManifestPath is where the manifest of a media file lives: beside it, with
// ".json" appended to its whole name.
func ManifestPath(mediaPath string) string { return mediaPath + ".json" }

// SigningBytes returns the exact bytes the signature covers: the manifest
// encoded by encoding/json's Marshal (fields in struct order, no whitespace,
// map keys sorted, HTML characters escaped, times in RFC 3339 with trailing
// zeros of the fraction dropped) with signature set to "", so `"signature":""`
// is part of it. Verification re-encodes the parsed manifest the same way, so
// the file's own layout (indentation) does not matter.
func (m *Manifest) SigningBytes() ([]byte, error) {
	c := *m
	c.Signature = ""
	b, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("encode manifest for signing: %w", err)
	}
	return b, nil
}

// Sign sets the version (when unset) and public key and signs the manifest
// with Ed25519 over SigningBytes. Nil tags, counters and clusters become
// empty, so the file says [] and {} rather than null.
func (m *Manifest) Sign(key ed25519.PrivateKey) error {
	if len(key) != ed25519.PrivateKeySize {
		return fmt.Errorf("sign manifest: private key is %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	if m.Version == 0 {
		m.Version = ManifestVersion
	}
	if m.Tags == nil {
		m.Tags = []string{}
	}
	if m.Counters == nil {
		m.Counters = map[string]uint64{}
	}
	if m.Clusters == nil {
		m.Clusters = []ClusterEntry{}
	}
	m.PublicKey = EncodePublicKey(key.Public().(ed25519.PublicKey))
	msg, err := m.SigningBytes()
	if err != nil {
		return err
	}
	m.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, msg))
	return nil
}

// CheckSignature verifies the signature with pub, or with the manifest's own
// public_key when pub is nil (which proves integrity since signing, not who
// signed).
func (m *Manifest) CheckSignature(pub ed25519.PublicKey) error {
	if pub == nil {
		own, err := ParsePublicKey(m.PublicKey)
		if err != nil {
			return fmt.Errorf("manifest public_key: %w", err)
		}
		pub = own
	}
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("public key is %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("signature is not %d bytes of base64", ed25519.SignatureSize)
	}
	msg, err := m.SigningBytes()
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, msg, sig) {
		return errors.New("signature does not match")
	}
	return nil
}

// EncodePublicKey encodes an Ed25519 public key in standard base64: the form
// of the manifest's public_key, of GET /api/recordings/pubkey and of
// `stoa recordings verify --key`.
func EncodePublicKey(pub ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(pub) }

// ParsePublicKey decodes an Ed25519 public key in standard base64, the form
// of the manifest's public_key and of GET /api/recordings/pubkey.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace([]byte(s))))
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key is %d bytes, want %d", len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// WriteManifest writes m to path atomically (a temporary file in the same
// directory, fsynced, renamed over path, and the directory fsynced), so a
// crash leaves either the old manifest or the new one, never half of one.
// The file is indented for people and has mode 0600, like the recording.
func WriteManifest(path string, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("write manifest %s: %w", path, err)
	}
	return writeAtomic(path, append(b, '\n'))
}

func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// ReadManifest reads and parses a manifest, refusing files over 32 MiB,
// unknown fields and trailing data: a manifest is evidence, so anything this
// package would not have written is rejected rather than ignored.
func ReadManifest(path string) (*Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxManifestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", path, err)
	}
	if len(b) > maxManifestBytes {
		return nil, fmt.Errorf("read manifest %s: larger than %d bytes", path, maxManifestBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("parse manifest %s: %w", path, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse manifest %s: data after the JSON object", path)
	}
	return &m, nil
}

// LoadKey reads the recording signing key from dir/recording.key: the 64
// raw bytes of an Ed25519 private key (seed then public key). It refuses a
// file of another size, one whose halves disagree, and one readable or
// writable by group or others, since whoever holds the key can forge
// manifests.
func LoadKey(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, KeyFile)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("recording key: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("recording key: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("recording key %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("recording key %s has mode %04o: it must be private to its owner (chmod 600)", path, perm)
	}
	if st.Size() != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("recording key %s is %d bytes, want %d: not a key this server wrote", path, st.Size(), ed25519.PrivateKeySize)
	}
	key := make([]byte, ed25519.PrivateKeySize)
	if _, err := io.ReadFull(f, key); err != nil {
		return nil, fmt.Errorf("recording key %s: %w", path, err)
	}
	if !bytes.Equal(ed25519.NewKeyFromSeed(key[:ed25519.SeedSize]), key) {
		return nil, fmt.Errorf("recording key %s is corrupt: its public half does not match its seed", path)
	}
	return ed25519.PrivateKey(key), nil
}

// LoadOrCreateKey returns the recording signing key in dir, generating it on
// the first call (mode 0600, written to a temporary file and linked into
// place, so a crash or a second server starting at once never leaves a
// partial or a different key). See LoadKey for what is refused.
func LoadOrCreateKey(dir string) (ed25519.PrivateKey, error) {
	key, err := LoadKey(dir)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create recording key: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("create recording key: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+KeyFile+".tmp-*") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("create recording key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(priv)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("create recording key: %w", err)
	}
	if err := os.Link(tmp.Name(), filepath.Join(dir, KeyFile)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return LoadKey(dir) // another process created it first: use theirs
		}
		return nil, fmt.Errorf("create recording key: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("create recording key: %w", err)
	}
	return priv, nil
}
