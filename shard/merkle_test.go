package shard

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/bits"
	"testing"
)

// testPieces returns n piece digests of distinct piece contents.
func testPieces(n int) (data [][]byte, digests []Digest) {
	for i := range n {
		b := []byte(fmt.Sprintf("piece %d", i))
		data = append(data, b)
		digests = append(digests, PieceDigest(b))
	}
	return data, digests
}

// refRoot computes the same tree bottom-up, pairing neighbours and carrying
// an odd last node up unchanged, which gives the RFC 6962 shape.
func refRoot(pieces []Digest) Digest {
	level := make([][]byte, len(pieces))
	for i, d := range pieces {
		h := sha256.Sum256(append([]byte{0}, d[:]...))
		level[i] = h[:]
	}
	for len(level) > 1 {
		var next [][]byte
		for i := 0; i < len(level); i += 2 {
			if i+1 == len(level) {
				next = append(next, level[i])
				continue
			}
			buf := append(append([]byte{1}, level[i]...), level[i+1]...)
			h := sha256.Sum256(buf)
			next = append(next, h[:])
		}
		level = next
	}
	return Digest(level[0])
}

func TestSplitPoint(t *testing.T) {
	for n, want := range map[int]int{2: 1, 3: 2, 4: 2, 5: 4, 8: 4, 9: 8, 1024: 512, 1025: 1024} {
		if got := split(n); got != want {
			t.Errorf("split(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestMerkleRootSmall(t *testing.T) {
	_, d := testPieces(3)
	l0, l1, l2 := leafHash(d[0]), leafHash(d[1]), leafHash(d[2])
	if l0 != Digest(sha256.Sum256(append([]byte{0}, d[0][:]...))) {
		t.Fatal("leaf hash is not SHA256(0x00 || digest)")
	}
	if got := MerkleRoot(d[:1]); got != l0 {
		t.Errorf("n=1: root %s, want leaf %s", got, l0)
	}
	n01 := Digest(sha256.Sum256(append(append([]byte{1}, l0[:]...), l1[:]...)))
	if got := MerkleRoot(d[:2]); got != n01 {
		t.Errorf("n=2: root %s, want %s", got, n01)
	}
	if got, want := MerkleRoot(d), nodeHash(n01, l2); got != want {
		t.Errorf("n=3: root %s, want %s", got, want)
	}
	if got := MerkleRoot(nil); got != (Digest{}) {
		t.Errorf("n=0: root %s, want zero", got)
	}
}

func TestMerkleProofs(t *testing.T) {
	for n := 1; n <= 40; n++ {
		data, d := testPieces(n)
		root := MerkleRoot(d)
		if want := refRoot(d); root != want {
			t.Fatalf("n=%d: root %s, reference %s", n, root, want)
		}
		maxLen := bits.Len(uint(n - 1)) // ceil(log2 n)
		for i := range n {
			proof := MerkleProof(d, i)
			if len(proof) > maxLen {
				t.Errorf("n=%d i=%d: proof has %d entries, more than %d", n, i, len(proof), maxLen)
			}
			if !VerifyProof(root, i, n, d[i], proof) {
				t.Fatalf("n=%d i=%d: valid proof rejected", n, i)
			}
			if err := VerifyPiece(root, i, n, data[i], proof); err != nil {
				t.Fatalf("n=%d i=%d: %v", n, i, err)
			}

			bad := append([]byte(nil), data[i]...)
			bad[len(bad)-1] ^= 1
			if err := VerifyPiece(root, i, n, bad, proof); !errors.Is(err, ErrCorrupt) {
				t.Errorf("n=%d i=%d: flipped data bit: err %v, want ErrCorrupt", n, i, err)
			}
			for j := range proof {
				p := append([]Digest(nil), proof...)
				p[j][j%32] ^= 0x80
				if VerifyProof(root, i, n, d[i], p) {
					t.Errorf("n=%d i=%d: flipped bit in proof[%d] accepted", n, i, j)
				}
			}
			for _, j := range []int{i - 1, i + 1, i ^ 1, -1, n} {
				if j != i && VerifyProof(root, j, n, d[i], proof) {
					t.Errorf("n=%d i=%d: proof accepted for index %d", n, i, j)
				}
			}
			if VerifyProof(root, i, n, d[i], append(proof, root)) {
				t.Errorf("n=%d i=%d: over-long proof accepted", n, i)
			}
			if len(proof) > 0 && VerifyProof(root, i, n, d[i], proof[:len(proof)-1]) {
				t.Errorf("n=%d i=%d: truncated proof accepted", n, i)
			}
			other := root
			other[0] ^= 1
			if VerifyProof(other, i, n, d[i], proof) {
				t.Errorf("n=%d i=%d: proof accepted under a different root", n, i)
			}
		}
	}
}

func TestVerifyProofBadArgs(t *testing.T) {
	_, d := testPieces(1)
	root := MerkleRoot(d)
	for _, c := range []struct{ i, n int }{{0, 0}, {-1, 1}, {1, 1}, {0, -1}} {
		if VerifyProof(root, c.i, c.n, d[0], nil) {
			t.Errorf("VerifyProof(i=%d, n=%d) accepted", c.i, c.n)
		}
	}
}

func TestMerkleProofPanicsOutOfRange(t *testing.T) {
	_, d := testPieces(3)
	for _, i := range []int{-1, 3} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("MerkleProof(i=%d) did not panic", i)
				}
			}()
			MerkleProof(d, i)
		}()
	}
}

func TestTreeMatchesMerkleProof(t *testing.T) {
	for n := 1; n <= 70; n++ {
		pieces := make([]Digest, n)
		for i := range pieces {
			pieces[i] = PieceDigest([]byte{byte(i), byte(n)})
		}
		tree := NewTree(pieces)
		if tree.Root() != MerkleRoot(pieces) {
			t.Fatalf("n=%d: root differs", n)
		}
		for i := range pieces {
			got, want := tree.Proof(i), MerkleProof(pieces, i)
			if len(got) != len(want) {
				t.Fatalf("n=%d piece %d: proof of %d hashes, want %d", n, i, len(got), len(want))
			}
			for k := range got {
				if got[k] != want[k] {
					t.Fatalf("n=%d piece %d: proof differs at %d", n, i, k)
				}
			}
			if !VerifyProof(tree.Root(), i, n, pieces[i], got) {
				t.Fatalf("n=%d piece %d: proof does not verify", n, i)
			}
		}
	}
}
