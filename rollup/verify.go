package rollup

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"sync"

	"github.com/consensys/gnark-crypto/ecc"
	"github.com/consensys/gnark/backend/groth16"
	"github.com/consensys/gnark/frontend"
)

// vkCache keeps parsed verifying keys by the SHA-256 of their bytes: a chain
// verifies every batch of a region with the same key, and parsing it
// (decompressing its points) costs more than the pairing check.
var vkCache sync.Map // [32]byte → groth16.VerifyingKey

const maxVKCache = 64

var vkCount struct {
	sync.Mutex
	n int
}

func parseVK(vk []byte) (groth16.VerifyingKey, error) {
	h := sha256.Sum256(vk)
	if v, ok := vkCache.Load(h); ok {
		return v.(groth16.VerifyingKey), nil
	}
	k := groth16.NewVerifyingKey(ecc.BN254)
	n, err := k.ReadFrom(bytes.NewReader(vk))
	if err != nil || n != int64(len(vk)) {
		return nil, fmt.Errorf("%w: verifying key (%d of %d bytes read): %v", ErrMalformed, n, len(vk), err)
	}
	if k.NbPublicWitness() != 3 {
		return nil, fmt.Errorf("%w: verifying key has %d public inputs, want 3", ErrMalformed, k.NbPublicWitness())
	}
	vkCount.Lock()
	if vkCount.n < maxVKCache {
		vkCount.n++
		vkCache.Store(h, k)
	}
	vkCount.Unlock()
	return k, nil
}

// VerifyBatch checks a batch as the sidechain must before accepting newRoot
// as a region's root: vk is a Groth16 BN254 verifying key of this package's
// circuit (gnark's WriteTo bytes, from Keys.VerifyingKey), prevRoot and
// newRoot are the account tree's roots before and after the batch (32-byte
// big-endian BN254 scalars), txData the batch data (package doc) and proof
// gnark's WriteTo encoding of a Groth16 proof. It derives the public input
// (prevRoot, newRoot, commitment to txData) exactly as the circuit does and
// verifies the proof.
//
// Errors: ErrMalformed for bytes that do not decode (key, proof, roots above
// the field's modulus, batch data, a receiver key off the curve), ErrBadProof
// for a proof that does not verify. It does not check that txData names the
// region the batch is submitted for: compare BatchRegion(txData) with
// RegionTag(region). Safe for concurrent use; deterministic.
func VerifyBatch(vk []byte, prevRoot, newRoot [32]byte, txData []byte, proof []byte) error {
	key, err := parseVK(vk)
	if err != nil {
		return err
	}
	prev, err := elementOf(prevRoot)
	if err != nil {
		return fmt.Errorf("previous root: %w", err)
	}
	next, err := elementOf(newRoot)
	if err != nil {
		return fmt.Errorf("new root: %w", err)
	}
	data, err := DecodeBatch(txData)
	if err != nil {
		return err
	}
	com, err := data.Commitment()
	if err != nil {
		return err
	}
	pr := groth16.NewProof(ecc.BN254)
	n, err := pr.ReadFrom(bytes.NewReader(proof))
	if err != nil || n != int64(len(proof)) {
		return fmt.Errorf("%w: proof (%d of %d bytes read): %v", ErrMalformed, n, len(proof), err)
	}
	pub, err := frontend.NewWitness(&Circuit{PrevRoot: prev, NewRoot: next, Commitment: elem(com)},
		ecc.BN254.ScalarField(), frontend.PublicOnly())
	if err != nil {
		return fmt.Errorf("%w: public input: %v", ErrMalformed, err)
	}
	if err := groth16.Verify(pr, key, pub); err != nil {
		return fmt.Errorf("%w: %v", ErrBadProof, err)
	}
	return nil
}
