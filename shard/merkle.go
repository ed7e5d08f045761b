package shard

import (
	"crypto/sha256"
	"fmt"
	"math/bits"
)

// Domain-separation prefixes for leaf and interior hashes (RFC 6962).
const (
	leafPrefix = 0x00
	nodePrefix = 0x01
)

func leafHash(d Digest) Digest {
	var b [1 + len(Digest{})]byte
	b[0] = leafPrefix
	copy(b[1:], d[:])
	return sha256.Sum256(b[:])
}

func nodeHash(left, right Digest) Digest {
	var b [1 + 2*len(Digest{})]byte
	b[0] = nodePrefix
	copy(b[1:], left[:])
	copy(b[1+len(left):], right[:])
	return sha256.Sum256(b[:])
}

// split returns the largest power of two strictly less than n, for n > 1.
func split(n int) int { return 1 << (bits.Len(uint(n-1)) - 1) }

// MerkleRoot returns the root of the Merkle tree over the given piece
// digests (digests of piece bytes, not leaf hashes). It returns the zero
// Digest for an empty list, which no shard has.
func MerkleRoot(pieces []Digest) Digest {
	if len(pieces) == 0 {
		return Digest{}
	}
	return subtreeRoot(pieces)
}

func subtreeRoot(pieces []Digest) Digest {
	if len(pieces) == 1 {
		return leafHash(pieces[0])
	}
	k := split(len(pieces))
	return nodeHash(subtreeRoot(pieces[:k]), subtreeRoot(pieces[k:]))
}

// MerkleProof returns the sibling hashes on the path from piece i's leaf to
// the root, lowest first. The proof for a one-piece shard is empty. It
// panics if i is not in [0, len(pieces)).
func MerkleProof(pieces []Digest, i int) []Digest {
	if i < 0 || i >= len(pieces) {
		panic("shard: MerkleProof index out of range")
	}
	var proof []Digest
	for len(pieces) > 1 {
		// Walk down from the root; siblings come out highest first.
		k := split(len(pieces))
		if i < k {
			proof = append(proof, subtreeRoot(pieces[k:]))
			pieces = pieces[:k]
		} else {
			proof = append(proof, subtreeRoot(pieces[:k]))
			pieces, i = pieces[k:], i-k
		}
	}
	for l, r := 0, len(proof)-1; l < r; l, r = l+1, r-1 {
		proof[l], proof[r] = proof[r], proof[l]
	}
	return proof
}

// Tree is the Merkle tree of one shard with every node's hash kept, for
// serving the proofs of many pieces at the cost of one pass of hashing
// (MerkleProof hashes the whole tree for each proof).
type Tree struct {
	n     int
	nodes map[[2]int]Digest // subtree hash by its [lo, hi) range of pieces
}

// NewTree hashes the tree over the given piece digests (at least one).
func NewTree(pieces []Digest) *Tree {
	t := &Tree{n: len(pieces), nodes: make(map[[2]int]Digest, 2*len(pieces))}
	if len(pieces) > 0 {
		t.build(pieces, 0)
	}
	return t
}

func (t *Tree) build(pieces []Digest, lo int) Digest {
	var h Digest
	if len(pieces) == 1 {
		h = leafHash(pieces[0])
	} else {
		k := split(len(pieces))
		h = nodeHash(t.build(pieces[:k], lo), t.build(pieces[k:], lo+k))
	}
	t.nodes[[2]int{lo, lo + len(pieces)}] = h
	return h
}

// Root returns the tree's root, MerkleRoot of its pieces.
func (t *Tree) Root() Digest { return t.nodes[[2]int{0, t.n}] }

// Proof returns MerkleProof of piece i. It panics if i is not in [0, n).
func (t *Tree) Proof(i int) []Digest {
	if i < 0 || i >= t.n {
		panic("shard: Tree.Proof index out of range")
	}
	var proof []Digest
	for lo, hi := 0, t.n; hi-lo > 1; {
		k := lo + split(hi-lo)
		if i < k {
			proof = append(proof, t.nodes[[2]int{k, hi}])
			hi = k
		} else {
			proof = append(proof, t.nodes[[2]int{lo, k}])
			lo = k
		}
	}
	for l, r := 0, len(proof)-1; l < r; l, r = l+1, r-1 {
		proof[l], proof[r] = proof[r], proof[l]
	}
	return proof
}

// VerifyProof reports whether proof shows that pieceDigest is the digest of
// piece i of the n pieces under root. The caller must know n independently
// (Manifest.PieceCount).
func VerifyProof(root Digest, i, n int, pieceDigest Digest, proof []Digest) bool {
	if n < 1 || i < 0 || i >= n {
		return false
	}
	got, ok := rootFromProof(i, n, leafHash(pieceDigest), proof)
	return ok && got == root
}

// rootFromProof recomputes the root of a tree of n leaves from leaf i's hash
// h and its proof. Each level of recursion consumes one proof entry (the
// last, i.e. highest, first), so the depth is bounded by len(proof).
func rootFromProof(i, n int, h Digest, proof []Digest) (Digest, bool) {
	if n == 1 {
		return h, len(proof) == 0
	}
	if len(proof) == 0 {
		return Digest{}, false
	}
	k := split(n)
	sibling, rest := proof[len(proof)-1], proof[:len(proof)-1]
	if i < k {
		sub, ok := rootFromProof(i, k, h, rest)
		return nodeHash(sub, sibling), ok
	}
	sub, ok := rootFromProof(i-k, n-k, h, rest)
	return nodeHash(sibling, sub), ok
}

// VerifyPiece checks data against its proof as piece i of the n pieces under
// root. The error wraps ErrCorrupt.
func VerifyPiece(root Digest, i, n int, data []byte, proof []Digest) error {
	if !VerifyProof(root, i, n, PieceDigest(data), proof) {
		return fmt.Errorf("%w: piece %d of %d (%d bytes) is not under root %s", ErrCorrupt, i, n, len(data), root)
	}
	return nil
}
