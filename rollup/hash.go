package rollup

import (
	"crypto/sha256"
	"fmt"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark-crypto/ecc/bn254/fr/poseidon2"
)

// perm is gnark-crypto's default Poseidon2 permutation for BN254 (width 2,
// 6 full rounds, 50 partial rounds), the one the circuit uses.
var perm = poseidon2.NewDefaultPermutation()

// compress is the Poseidon2 2-to-1 compression C(l, r) = P(l, r)[1] + r, the
// same function as gnark's in-circuit Permutation.Compress.
func compress(l, r fr.Element) fr.Element {
	x := [2]fr.Element{l, r}
	if err := perm.Permutation(x[:]); err != nil {
		panic(err) // width 2 is fixed above; cannot fail
	}
	x[1].Add(&x[1], &r)
	return x[1]
}

// RegionTag is the field element naming a region in signed transfers and in
// batch data: SHA-256 of "ppstore/zkstore/region/" + name, reduced modulo
// BN254's scalar field, as 32 big-endian bytes.
func RegionTag(region string) [32]byte {
	h := sha256.Sum256([]byte("ppstore/zkstore/region/" + region))
	var e fr.Element
	e.SetBytes(h[:])
	return e.Bytes()
}

// elementOf reads a canonical field element (big-endian, below the modulus).
func elementOf(b [32]byte) (fr.Element, error) {
	var e fr.Element
	if err := e.SetBytesCanonical(b[:]); err != nil {
		return e, fmt.Errorf("%w: %v is not a BN254 scalar", ErrMalformed, b)
	}
	return e, nil
}
