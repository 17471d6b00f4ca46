package recorder

import (
	"crypto/sha256"
	"slices"
)

// chainSeed is h0, the value the chain starts from: a fixed string, so that a
// chain of no clusters still has a defined final hash and a chain from another
// format or version can never collide with this one.
var chainSeed = sha256.Sum256([]byte("stoa-recording-v1"))

// Chain is the SHA-256 hash chain over a recording's clusters that makes a
// file tamper-evident: h0 = SHA-256("stoa-recording-v1") and, for cluster i,
// h_i = SHA-256(h_{i-1} || SHA-256(cluster bytes)). Each h_i commits to every
// cluster up to i, so the first differing h_i names the first altered cluster
// and the final one commits to the whole sequence. A Chain is not safe for
// concurrent use.
type Chain struct {
	last   [32]byte
	hashes [][32]byte
}

// NewChain returns a chain at h0, ready for the first cluster.
func NewChain() *Chain { return &Chain{last: chainSeed} }

// Add extends the chain with one cluster's bytes, exactly as written to the
// file (ID, size and payload), and returns the new h_i.
func (c *Chain) Add(cluster []byte) [32]byte { return c.AddDigest(sha256.Sum256(cluster)) }

// AddDigest extends the chain with the SHA-256 of a cluster computed by the
// caller, so that a cluster can be hashed while it streams to or from disk
// instead of being held in memory; it returns the new h_i.
func (c *Chain) AddDigest(digest [32]byte) [32]byte {
	var b [64]byte
	copy(b[:32], c.last[:])
	copy(b[32:], digest[:])
	c.last = sha256.Sum256(b[:])
	c.hashes = append(c.hashes, c.last)
	return c.last
}

// Hashes returns a copy of h_1 … h_n, one per cluster added, for the manifest.
func (c *Chain) Hashes() [][32]byte { return slices.Clone(c.hashes) }

// Len is the number of clusters added.
func (c *Chain) Len() int { return len(c.hashes) }

// Final returns the last h_i (h0 when no cluster was added): the value the
// signed manifest commits to.
func (c *Chain) Final() [32]byte { return c.last }
