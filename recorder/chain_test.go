package recorder

import (
	"crypto/sha256"
	"testing"
)

// TestChain checks the chain against the definition computed by hand:
// h0 = SHA-256("stoa-recording-v1"), h_i = SHA-256(h_{i-1} || SHA-256(c_i)).
func TestChain(t *testing.T) {
	clusters := [][]byte{[]byte("first cluster"), {}, []byte("third")}
	h := sha256.Sum256([]byte("stoa-recording-v1"))
	c := NewChain()
	if c.Final() != h || c.Len() != 0 || len(c.Hashes()) != 0 {
		t.Fatal("an empty chain is not at h0")
	}
	for i, cl := range clusters {
		d := sha256.Sum256(cl)
		h = sha256.Sum256(append(h[:], d[:]...))
		if got := c.Add(cl); got != h {
			t.Fatalf("h_%d = %x, want %x", i+1, got, h)
		}
	}
	if c.Final() != h || c.Len() != 3 {
		t.Fatal("Final is not the last h_i")
	}
	hs := c.Hashes()
	if len(hs) != 3 || hs[2] != h {
		t.Fatalf("Hashes: %x", hs)
	}
	hs[0] = [32]byte{}
	if c.Hashes()[0] == hs[0] {
		t.Fatal("Hashes shares its storage with the chain")
	}
	d := NewChain()
	for _, cl := range clusters {
		d.AddDigest(sha256.Sum256(cl))
	}
	if d.Final() != c.Final() {
		t.Fatal("AddDigest of the digests differs from Add of the bytes")
	}
}
