package proofs

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/ppstore/ppstore/shard"
)

// LeafSize is the size in bytes of a leaf of the replica tree (commR): the
// unit a proof of spacetime opens.
const LeafSize = 256

// CacheLevel is the lowest level of the replica tree a Tree keeps; the
// nodes below it (subtrees of 2^CacheLevel leaves, 8 KiB of replica) are
// recomputed from the replica when a proof needs them.
const CacheLevel = 5

// Leaves returns the number of leaves of the replica tree of a replica of
// size bytes (ReplicaSize of the shard).
func Leaves(replicaSize int64) int64 { return (replicaSize + LeafSize - 1) / LeafSize }

// treeDepth returns the depth of the complete binary tree over leaves
// leaves (padded to a power of two with zero digests).
func treeDepth(leaves int64) int {
	if leaves <= 1 {
		return 0
	}
	return bits.Len64(uint64(leaves - 1))
}

// LeafHash is the hash of a replica leaf: SHA256(0x00 ‖ bytes).
func LeafHash(leaf []byte) shard.Digest {
	if len(leaf) <= LeafSize {
		var b [1 + LeafSize]byte // on the stack: no allocation per leaf
		copy(b[1:], leaf)
		return sha256.Sum256(b[:1+len(leaf)])
	}
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(leaf)
	return shard.Digest(h.Sum(nil))
}

// nodeHash is SHA256(0x01 ‖ left ‖ right).
func nodeHash(l, r shard.Digest) shard.Digest {
	var b [65]byte
	b[0] = 1
	copy(b[1:], l[:])
	copy(b[33:], r[:])
	return sha256.Sum256(b[:])
}

// levelsOver hashes the complete tree over the given leaf hashes (padded
// with zero digests to a power of two) and returns its levels, leaves first.
func levelsOver(hashes []shard.Digest, depth int) [][]shard.Digest {
	width := 1 << depth
	lv := make([][]shard.Digest, depth+1)
	lv[0] = make([]shard.Digest, width)
	copy(lv[0], hashes)
	for l := 1; l <= depth; l++ {
		prev := lv[l-1]
		cur := make([]shard.Digest, len(prev)/2)
		for i := range cur {
			cur[i] = nodeHash(prev[2*i], prev[2*i+1])
		}
		lv[l] = cur
	}
	return lv
}

// Tree is the replica tree of one sealed replica, with the levels from
// CacheLevel up kept (about 1/128 of the replica's size in digests), so a
// miner answers a challenge by reading 8 KiB of its replica.
type Tree struct {
	leaves int64
	depth  int
	cut    int              // lowest level kept
	top    [][]shard.Digest // top[k] is level cut+k
}

// NewTree builds the replica tree of a whole replica.
func NewTree(replica []byte) *Tree {
	n := Leaves(int64(len(replica)))
	hashes := make([]shard.Digest, n)
	for i := range hashes {
		hashes[i] = LeafHash(replica[int64(i)*LeafSize : min(int64(len(replica)), int64(i+1)*LeafSize)])
	}
	d := treeDepth(n)
	lv := levelsOver(hashes, d)
	cut := min(CacheLevel, d)
	return &Tree{leaves: n, depth: d, cut: cut, top: lv[cut:]}
}

// Root returns commR.
func (t *Tree) Root() shard.Digest { return t.top[len(t.top)-1][0] }

// LeafCount returns the number of leaves.
func (t *Tree) LeafCount() int64 { return t.leaves }

// ProveRange returns the leaf bytes [lo, hi) of the replica and the proof
// that they lie under Root. read fills p with the replica bytes at offset
// off; replicaSize is the replica's length.
func (t *Tree) ProveRange(lo, hi int64, replicaSize int64, read func(p []byte, off int64) error) ([]byte, []shard.Digest, error) {
	if lo < 0 || lo >= hi || hi > t.leaves || Leaves(replicaSize) != t.leaves {
		return nil, nil, fmt.Errorf("%w: leaves [%d, %d) of %d", ErrBadParams, lo, hi, t.leaves)
	}
	// Read the span of whole cached subtrees around [lo, hi).
	span := int64(1) << t.cut
	slo, shi := lo/span*span, min((hi+span-1)/span*span, t.leaves)
	end := min(shi*LeafSize, replicaSize)
	buf := make([]byte, end-slo*LeafSize)
	if err := read(buf, slo*LeafSize); err != nil {
		return nil, nil, err
	}
	hashes := make([]shard.Digest, span*((shi-slo+span-1)/span))
	for i := slo; i < shi; i++ {
		a := (i - slo) * LeafSize
		hashes[i-slo] = LeafHash(buf[a:min(a+LeafSize, int64(len(buf)))])
	}
	local := make([][]shard.Digest, t.cut+1)
	local[0] = hashes
	for l := 1; l <= t.cut; l++ {
		prev := local[l-1]
		cur := make([]shard.Digest, len(prev)/2)
		for i := range cur {
			cur[i] = nodeHash(prev[2*i], prev[2*i+1])
		}
		local[l] = cur
	}
	node := func(level int, idx int64) shard.Digest {
		if level < t.cut {
			return local[level][idx-(slo>>level)]
		}
		return t.top[level-t.cut][idx]
	}
	proof := rangeProof(node, t.depth, lo, hi)
	return buf[(lo-slo)*LeafSize : min((hi-slo)*LeafSize, int64(len(buf)))], proof, nil
}

// rangeProof lists, level by level from the leaves up, the nodes a verifier
// needs beside leaves [lo, hi) to recompute the root: the left neighbour
// when the known run starts at an odd index, the right one when it ends
// at an odd index.
func rangeProof(node func(level int, idx int64) shard.Digest, depth int, lo, hi int64) []shard.Digest {
	var proof []shard.Digest
	for l := 0; l < depth; l++ {
		if lo%2 == 1 {
			proof = append(proof, node(l, lo-1))
			lo--
		}
		if hi%2 == 1 {
			proof = append(proof, node(l, hi))
			hi++
		}
		lo, hi = lo/2, hi/2
	}
	return proof
}

// VerifyRange reports whether data holds the leaves from lo on of the
// replica tree with the given root over a replica of replicaSize bytes,
// proven by proof (ProveRange's). data must be whole leaves, except that
// the replica's last leaf may be short.
func VerifyRange(root shard.Digest, replicaSize int64, lo int64, data []byte, proof []shard.Digest) bool {
	n := Leaves(replicaSize)
	if lo < 0 || lo >= n || len(data) == 0 {
		return false
	}
	end := lo*LeafSize + int64(len(data))
	if end > replicaSize {
		return false
	}
	if end != replicaSize && len(data)%LeafSize != 0 {
		return false
	}
	hi := Leaves(end)
	depth := treeDepth(n)
	if hi-lo == 1 { // one leaf: its path has one sibling per level
		if len(proof) != depth {
			return false
		}
		h := LeafHash(data)
		for l, i := 0, lo; l < depth; l, i = l+1, i/2 {
			if i%2 == 1 {
				h = nodeHash(proof[l], h)
			} else {
				h = nodeHash(h, proof[l])
			}
		}
		return h == root
	}
	known := make([]shard.Digest, 0, hi-lo+2)
	for i := lo; i < hi; i++ {
		a := (i - lo) * LeafSize
		known = append(known, LeafHash(data[a:min(a+LeafSize, int64(len(data)))]))
	}
	k := 0
	next := func() (shard.Digest, bool) {
		if k >= len(proof) {
			return shard.Digest{}, false
		}
		k++
		return proof[k-1], true
	}
	for l := 0; l < depth; l++ {
		if lo%2 == 1 {
			d, ok := next()
			if !ok {
				return false
			}
			known = append([]shard.Digest{d}, known...)
			lo--
		}
		if hi%2 == 1 {
			d, ok := next()
			if !ok {
				return false
			}
			known = append(known, d)
			hi++
		}
		up := make([]shard.Digest, len(known)/2)
		for i := range up {
			up[i] = nodeHash(known[2*i], known[2*i+1])
		}
		known, lo, hi = up, lo/2, hi/2
	}
	return k == len(proof) && len(known) == 1 && known[0] == root
}

// AppendBinary appends the tree's encoding: leaves(8) ‖ cached digests,
// level by level from CacheLevel up. The digests are a cache (a miner's
// own disk): ParseTree recomputes the levels above the cut and checks them.
func (t *Tree) AppendBinary(b []byte) ([]byte, error) {
	b = binary.BigEndian.AppendUint64(b, uint64(t.leaves))
	for _, d := range t.top[0] {
		b = append(b, d[:]...)
	}
	return b, nil
}

// ParseTree decodes AppendBinary's output.
func ParseTree(b []byte) (*Tree, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("%w: tree of %d bytes", ErrMalformed, len(b))
	}
	n := int64(binary.BigEndian.Uint64(b))
	if n < 1 || n > 1<<32 {
		return nil, fmt.Errorf("%w: tree of %d leaves", ErrMalformed, n)
	}
	d := treeDepth(n)
	cut := min(CacheLevel, d)
	w := int64(1) << (d - cut)
	if int64(len(b)-8) != w*32 {
		return nil, fmt.Errorf("%w: tree of %d leaves needs %d cached digests, have %d bytes", ErrMalformed, n, w, len(b)-8)
	}
	base := make([]shard.Digest, w)
	for i := range base {
		copy(base[i][:], b[8+32*i:])
	}
	return &Tree{leaves: n, depth: d, cut: cut, top: levelsOver(base, d-cut)}, nil
}
