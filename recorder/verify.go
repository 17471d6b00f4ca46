package recorder

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// FileHashes is what a media file on disk hashes to: its clusters, the chain
// over them, and the digest of everything outside them. It is what a
// manifest signs and what Verify recomputes.
type FileHashes struct {
	Spans   []Span
	Hashes  [][32]byte // h_i after each span
	Final   [32]byte
	Outside [32]byte // SHA-256 of the bytes outside the spans, in file order
	Size    int64
}

// HashFile walks and hashes a media file, streaming it through a fixed
// buffer. The recorder calls it on stop, after finalizing the file, to fill
// the manifest (SetHashes); repair calls it on the rewritten file.
func HashFile(mediaPath string) (FileHashes, error) {
	f, err := os.Open(mediaPath)
	if err != nil {
		return FileHashes{}, fmt.Errorf("hash recording: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return FileHashes{}, fmt.Errorf("hash recording: %w", err)
	}
	fh, err := hashReader(f, st.Size())
	if err != nil {
		return fh, fmt.Errorf("hash recording %s: %w", mediaPath, err)
	}
	return fh, nil
}

// hashReader does HashFile's work; on a walk error it still returns the
// clusters hashed before it (Outside is then meaningless).
func hashReader(r io.ReaderAt, size int64) (FileHashes, error) {
	fh := FileHashes{Size: size}
	spans, walkErr := Clusters(r, size)
	fh.Spans = spans
	chain := NewChain()
	outside := sha256.New()
	buf := make([]byte, 64<<10)
	pos := int64(0)
	for _, s := range spans {
		if _, err := io.CopyBuffer(outside, io.NewSectionReader(r, pos, s.Offset-pos), buf); err != nil {
			return fh, fmt.Errorf("%w before cluster at %d: %w", errRead, s.Offset, err)
		}
		h := sha256.New()
		if _, err := io.CopyBuffer(h, io.NewSectionReader(r, s.Offset, s.Size), buf); err != nil {
			return fh, fmt.Errorf("%w in cluster at %d: %w", errRead, s.Offset, err)
		}
		chain.AddDigest([32]byte(h.Sum(nil)))
		pos = s.Offset + s.Size
	}
	fh.Hashes = chain.Hashes()
	fh.Final = chain.Final()
	if walkErr != nil {
		return fh, walkErr
	}
	if _, err := io.CopyBuffer(outside, io.NewSectionReader(r, pos, size-pos), buf); err != nil {
		return fh, fmt.Errorf("%w after the last cluster: %w", errRead, err)
	}
	fh.Outside = [32]byte(outside.Sum(nil))
	return fh, nil
}

// SetHashes puts a file's hashes in the manifest: clusters, final_hash,
// outside_hash and bytes. Sign afterwards.
func (m *Manifest) SetHashes(fh FileHashes) {
	m.Clusters = make([]ClusterEntry, len(fh.Spans))
	for i, s := range fh.Spans {
		m.Clusters[i] = ClusterEntry{Offset: s.Offset, Size: s.Size, Hash: hex.EncodeToString(fh.Hashes[i][:])}
	}
	m.FinalHash = hex.EncodeToString(fh.Final[:])
	m.OutsideHash = hex.EncodeToString(fh.Outside[:])
	m.Bytes = fh.Size
}

// VerifyResult is the verdict on one recording. Cluster is the index (from 0,
// as in the manifest's clusters) of the first cluster that differs or is
// missing or extra, -1 when none does; Reason says what failed, or, when OK,
// anything the verdict depends on (such as an untrusted key).
type VerifyResult struct {
	OK      bool
	Cluster int
	Reason  string
}

// Verify checks a recording against the signed manifest beside it: the
// signature (with trusted when non-nil, else with the manifest's own key,
// which Reason then says), then the hash chain recomputed over the file's
// clusters, naming the first cluster that differs, then the file's size and
// the bytes outside the clusters. An error means the check could not be made
// (no manifest, unreadable file); a tampered file is a result with OK false.
func Verify(mediaPath string, trusted ed25519.PublicKey) (VerifyResult, error) {
	m, err := ReadManifest(ManifestPath(mediaPath))
	if err != nil {
		return VerifyResult{Cluster: -1}, fmt.Errorf("verify %s: %w", mediaPath, err)
	}
	f, err := os.Open(mediaPath)
	if err != nil {
		return VerifyResult{Cluster: -1}, fmt.Errorf("verify: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return VerifyResult{Cluster: -1}, fmt.Errorf("verify: %w", err)
	}
	res, err := verifyManifest(m, f, st.Size(), trusted)
	if err != nil {
		return res, fmt.Errorf("verify %s: %w", mediaPath, err)
	}
	if res.OK && m.File != filepath.Base(mediaPath) {
		res.Reason = join(res.Reason, fmt.Sprintf("the file was renamed from %q", m.File))
	}
	return res, nil
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func altered(cluster int, format string, args ...any) VerifyResult {
	return VerifyResult{Cluster: cluster, Reason: fmt.Sprintf(format, args...)}
}

// verifyManifest is Verify on an open file; it is separate so that the
// comparison can be tested and fuzzed without files on disk.
func verifyManifest(m *Manifest, r io.ReaderAt, size int64, trusted ed25519.PublicKey) (VerifyResult, error) {
	if m.Version != ManifestVersion {
		return altered(-1, "unsupported manifest version %d", m.Version), nil
	}
	if err := m.CheckSignature(trusted); err != nil {
		if trusted != nil && m.PublicKey != "" {
			if own, perr := ParsePublicKey(m.PublicKey); perr == nil && !own.Equal(trusted) {
				return altered(-1, "bad signature: signed by another key than the trusted one (%s)", m.PublicKey), nil
			}
		}
		return altered(-1, "bad signature: %v", err), nil
	}
	want := make([][32]byte, len(m.Clusters))
	for i, c := range m.Clusters {
		b, err := hex.DecodeString(c.Hash)
		if err != nil || len(b) != 32 {
			return altered(i, "manifest: cluster %d hash is not 32 bytes of hex", i), nil
		}
		want[i] = [32]byte(b)
	}
	final, err := hex.DecodeString(m.FinalHash)
	if err != nil || len(final) != 32 {
		return altered(-1, "manifest: final_hash is not 32 bytes of hex"), nil
	}
	if last := lastOr(want, chainSeed); !bytes.Equal(final, last[:]) {
		return altered(-1, "manifest: final_hash is not the chain's last value"), nil
	}

	fh, walkErr := hashReader(r, size)
	if errors.Is(walkErr, errRead) {
		return VerifyResult{Cluster: -1}, walkErr
	}
	got, man := len(fh.Spans), len(m.Clusters)
	for i := 0; i < min(got, man); i++ {
		s, c := fh.Spans[i], m.Clusters[i]
		if fh.Hashes[i] != want[i] {
			return altered(i, "cluster %d differs (bytes %d-%d of the file)", i, s.Offset, s.Offset+s.Size-1), nil
		}
		if s.Offset != c.Offset || s.Size != c.Size {
			return altered(i, "cluster %d moved from byte %d to %d", i, c.Offset, s.Offset), nil
		}
	}
	switch {
	case walkErr != nil:
		return altered(got, "cluster %d and after unreadable: %v", got, walkErr), nil
	case got < man:
		return altered(got, "clusters %d to %d missing: the file has %d of the %d signed (truncated?)", got, man-1, got, man), nil
	case got > man:
		return altered(man, "cluster %d and after (%d) are not in the manifest", man, got-man), nil
	case !bytes.Equal(fh.Final[:], final):
		return altered(-1, "final hash differs"), nil
	case size > m.Bytes:
		return altered(-1, "%d trailing bytes not covered by the manifest", size-m.Bytes), nil
	case size < m.Bytes:
		return altered(-1, "the file is %d bytes shorter than signed", m.Bytes-size), nil
	}
	if m.OutsideHash != "" && m.OutsideHash != hex.EncodeToString(fh.Outside[:]) {
		return altered(-1, "bytes outside the clusters (header, track info, cues) differ"), nil
	}
	res := VerifyResult{OK: true, Cluster: -1}
	if trusted == nil {
		res.Reason = "signed by the manifest's own key, not checked against a trusted key"
	}
	if m.OutsideHash == "" {
		res.Reason = join(res.Reason, "the manifest does not cover the bytes outside the clusters")
	}
	return res, nil
}

func lastOr(h [][32]byte, def [32]byte) [32]byte {
	if len(h) == 0 {
		return def
	}
	return h[len(h)-1]
}
