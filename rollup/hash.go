package rollup

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark-crypto/ecc/bn254/fr/poseidon2"
)

// The three Poseidon2 permutations of gnark-crypto over BN254's scalar field
// that the rollup uses, each with the round numbers gnark-crypto fixes for
// its width (128-bit security, from the Poseidon2 reference parameters):
//
//   - perm2: width 2, 6 full and 50 partial rounds, for C, the 2-to-1 compression;
//   - perm4: width 4, 8 full and 56 partial rounds, for C4, the tree's 4-to-1 node;
//   - perm8: width 8, 8 full and 57 partial rounds, for H8, the signature hash.
//
// The circuit builds the same three with gnark's std/permutation/poseidon2;
// TestNativeHashesMatchTheCircuit checks each against it.
var (
	perm2 = poseidon2.NewDefaultPermutation()
	perm4 = poseidon2.NewPermutation(4, 8, 56)
	perm8 = poseidon2.NewPermutation(8, 8, 57)
)

// Round numbers of the permutations above (the circuit needs them).
const (
	perm4Full, perm4Partial = 8, 56
	perm8Full, perm8Partial = 8, 57
)

// compress is the Poseidon2 2-to-1 compression C(l, r) = P(l, r)[1] + r, the
// same function as gnark's in-circuit Permutation.Compress.
func compress(l, r fr.Element) fr.Element {
	x := [2]fr.Element{l, r}
	if err := perm2.Permutation(x[:]); err != nil {
		panic(err) // width 2 is fixed above; cannot fail
	}
	x[1].Add(&x[1], &r)
	return x[1]
}

// compress4 is the tree's 4-to-1 node C4(x) = P4(x)[3] + x[3]: the
// construction of C (the permutation in compression mode with a feed-forward,
// truncated to one element) at width 4. Its output is one 254-bit element, so
// a generic collision costs about 2^127 evaluations, as for C.
func compress4(x [4]fr.Element) fr.Element {
	last := x[3]
	if err := perm4.Permutation(x[:]); err != nil {
		panic(err) // width 4 is fixed above; cannot fail
	}
	x[3].Add(&x[3], &last)
	return x[3]
}

// maxHash8 is how many elements H8 takes.
const maxHash8 = 7

// hash8 is H8(x_0 … x_{n-1}) = P8(x_0, …, x_{n-1}, 0, …, 0, n)[0] + x_0 for
// 0 ≤ n ≤ 7 (x_0 = 0 when n = 0): one width-8 permutation, with the count in
// the last slot so that inputs of different lengths never share a state.
func hash8(in []fr.Element) fr.Element {
	if len(in) > maxHash8 {
		panic(fmt.Sprintf("rollup: H8 of %d elements", len(in)))
	}
	var x [8]fr.Element
	copy(x[:], in)
	first := x[0]
	x[7].SetUint64(uint64(len(in)))
	if err := perm8.Permutation(x[:]); err != nil {
		panic(err) // width 8 is fixed above; cannot fail
	}
	x[0].Add(&x[0], &first)
	return x[0]
}

// sigHasher is the hash.Hash that gnark-crypto's EdDSA signs and verifies
// with: H(R, A, M) = H8(R.X, R.Y, A.X, A.Y, M…), where the message M is one
// to three field elements of 32 big-endian bytes. Writes must be whole
// canonical elements, seven at most.
type sigHasher struct {
	in []fr.Element
}

var errSigHashInput = errors.New("rollup: signature hash input must be whole canonical field elements, 7 at most")

func (h *sigHasher) Write(p []byte) (int, error) {
	if len(p)%fr.Bytes != 0 || len(h.in)+len(p)/fr.Bytes > maxHash8 {
		return 0, errSigHashInput
	}
	for i := 0; i < len(p); i += fr.Bytes {
		var e fr.Element
		if err := e.SetBytesCanonical(p[i : i+fr.Bytes]); err != nil {
			return 0, errSigHashInput
		}
		h.in = append(h.in, e)
	}
	return len(p), nil
}

func (h *sigHasher) Sum(b []byte) []byte {
	s := hash8(h.in)
	sb := s.Bytes()
	return append(b, sb[:]...)
}

func (h *sigHasher) Reset()         { h.in = h.in[:0] }
func (h *sigHasher) Size() int      { return fr.Bytes }
func (h *sigHasher) BlockSize() int { return fr.Bytes }

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
