package verifier

import (
	"crypto/sha256"
	"errors"
	"fmt"
)

// Beacon gives each epoch's randomness. Miners must not know an epoch's
// seed before its round, and anyone must be able to check, after the
// round, that the seed is the one committed to. Until the sidechain exists
// the verifier uses a HashChain; the sidechain's block hash will be another
// Beacon (the seam the zkStore issue connects).
type Beacon interface {
	// Seed returns the randomness of epoch (1-based).
	Seed(epoch uint64) ([32]byte, error)
	// CheckSeed reports whether seed is epoch's, from public data alone.
	CheckSeed(epoch uint64, seed [32]byte) bool
}

// ErrChainExhausted reports an epoch past the end of the committed chain.
var ErrChainExhausted = errors.New("verifier: hash chain exhausted: start a new chain (a new data directory) and publish its anchor")

// HashChain is a hash chain committed to in advance: from a secret x_L,
// x_{i-1} = SHA256(x_i); the anchor x_0 is published when the chain is
// made, and epoch e's seed is x_e. Revealing x_e reveals nothing about
// x_{e+1} (a preimage), and anyone checks it with SHA256^e(x_e) = x_0.
type HashChain struct {
	secret [32]byte // x_L
	length uint64   // L
	anchor [32]byte // x_0
}

// NewHashChain returns the chain of length epochs from secret.
func NewHashChain(secret [32]byte, length uint64) *HashChain {
	h := &HashChain{secret: secret, length: length}
	h.anchor = iterate(secret, length)
	return h
}

func iterate(x [32]byte, n uint64) [32]byte {
	for i := uint64(0); i < n; i++ {
		x = sha256.Sum256(x[:])
	}
	return x
}

// Anchor returns x_0, the chain's public commitment.
func (h *HashChain) Anchor() [32]byte { return h.anchor }

// Length returns the number of epochs the chain covers.
func (h *HashChain) Length() uint64 { return h.length }

// Seed returns x_epoch (hashing L - epoch times).
func (h *HashChain) Seed(epoch uint64) ([32]byte, error) {
	if epoch < 1 || epoch > h.length {
		return [32]byte{}, fmt.Errorf("%w: epoch %d of %d", ErrChainExhausted, epoch, h.length)
	}
	return iterate(h.secret, h.length-epoch), nil
}

// CheckSeed reports whether SHA256^epoch(seed) is the anchor.
func (h *HashChain) CheckSeed(epoch uint64, seed [32]byte) bool {
	return CheckChainSeed(h.anchor, epoch, seed)
}

// CheckChainSeed is CheckSeed for anyone holding only the anchor.
func CheckChainSeed(anchor [32]byte, epoch uint64, seed [32]byte) bool {
	return epoch >= 1 && epoch <= 10_000_000 && iterate(seed, epoch) == anchor
}
