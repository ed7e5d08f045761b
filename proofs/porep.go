package proofs

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/ppstore/ppstore/shard"
)

// Replica is the public description of one sealed replica: everything a
// verifier keeps about it and needs to check its proofs.
type Replica struct {
	Miner     []byte       // the holder's peer ID bytes
	CommD     shard.Digest // the shard's data root (its Merkle root over pieces)
	Size      int64        // the shard's size in bytes
	PieceSize int64        // the file's piece size in bytes
	Number    uint32       // the replica number (placement slot)
	Layers    int          // sealing layers (Params.Layers of Size, or more)
	CommR     shard.Digest // the replica's root (Tree.Root)
}

// ID returns the replica's ReplicaID.
func (r *Replica) ID() ReplicaID { return NewReplicaID(r.Miner, r.CommD, r.Number) }

// Pieces returns the shard's piece count.
func (r *Replica) Pieces() int { return int((r.Size + r.PieceSize - 1) / r.PieceSize) }

// check reports whether r's sizes are usable under params.
func (r *Replica) check(p Params) error {
	switch {
	case r.Size < 1 || r.Size > shard.MaxShardSize:
		return fmt.Errorf("%w: shard size %d not in [1, %d]", ErrBadParams, r.Size, shard.MaxShardSize)
	case r.PieceSize < 1 || r.PieceSize > shard.MaxPieceSize:
		return fmt.Errorf("%w: piece size %d not in [1, %d]", ErrBadParams, r.PieceSize, shard.MaxPieceSize)
	case r.Pieces() > shard.MaxPiecesPerShard:
		return fmt.Errorf("%w: %d pieces, more than %d", ErrBadParams, r.Pieces(), shard.MaxPiecesPerShard)
	case r.Layers != p.Layers(r.Size):
		// Exactly: fewer would be cheaper to generate, more would make the
		// verifier decode for as long as a miner likes.
		return fmt.Errorf("%w: replica sealed with %d layers, the verifier's parameters ask for %d", ErrBadParams, r.Layers, p.Layers(r.Size))
	}
	return nil
}

// PoRepOpening opens one challenged piece: the replica leaves covering the
// piece's unsealing window with their proof under commR, and the piece's
// Merkle path under commD. The piece's data is not sent: the verifier
// unseals it from the leaves.
type PoRepOpening struct {
	Piece  uint32         // the challenged piece
	LeafLo int64          // the first leaf of Leaves
	Leaves []byte         // replica bytes of leaves [LeafLo, ...)
	Range  []shard.Digest // proof of Leaves under commR (ProveRange)
	Path   []shard.Digest // proof of the piece under commD (shard.MerkleProof)
}

// PoRepProof is a proof of replication: one opening per challenged piece,
// in challenge order.
type PoRepProof struct {
	Openings []PoRepOpening
}

// PoRepPieces derives the distinct pieces a PoRep for r opens from the
// verifier's seed: min(k, pieces) of them, from SHA256("ppstore/porep/v1"
// ‖ seed ‖ replica ID ‖ commR ‖ counter).
func PoRepPieces(r *Replica, seed [32]byte, k int) []int {
	n := r.Pieces()
	k = min(k, n)
	id := r.ID()
	seen := make(map[int]bool, k)
	out := make([]int, 0, k)
	for ctr := uint64(0); len(out) < k; ctr++ {
		h := sha256.New()
		h.Write([]byte("ppstore/porep/v1"))
		h.Write(seed[:])
		h.Write(id[:])
		h.Write(r.CommR[:])
		h.Write(binary.BigEndian.AppendUint64(nil, ctr))
		j := int(binary.BigEndian.Uint64(h.Sum(nil)) % uint64(n))
		if !seen[j] {
			seen[j] = true
			out = append(out, j)
		}
	}
	return out
}

// pieceWindow returns, for piece j of r, the data blocks [a, b), their
// unsealing window [lo, hi) and the leaves [llo, lhi) covering the window.
func pieceWindow(r *Replica, j int) (a, b, lo, hi, llo, lhi int64) {
	off := int64(j) * r.PieceSize
	end := min(off+r.PieceSize, r.Size)
	a, b = off/BlockSize, (end+BlockSize-1)/BlockSize
	lo, hi = Window(a, b, Blocks(r.Size), r.Layers)
	llo, lhi = lo*BlockSize/LeafSize, (hi*BlockSize+LeafSize-1)/LeafSize
	return
}

// ProvePoRep answers the PoRep challenge seed for the replica r, whose
// tree is t; read reads the sealed replica (an io.ReaderAt's ReadAt) and
// pieceDigests are the digests of the shard's pieces (for the commD paths).
func ProvePoRep(r *Replica, t *Tree, seed [32]byte, p Params, pieceDigests []shard.Digest, read func(b []byte, off int64) error) (*PoRepProof, error) {
	p = p.WithDefaults()
	if len(pieceDigests) != r.Pieces() {
		return nil, fmt.Errorf("%w: %d piece digests for %d pieces", ErrBadParams, len(pieceDigests), r.Pieces())
	}
	proof := &PoRepProof{}
	for _, j := range PoRepPieces(r, seed, p.PoRepChallenges) {
		_, _, _, _, llo, lhi := pieceWindow(r, j)
		leaves, rng, err := t.ProveRange(llo, lhi, ReplicaSize(r.Size), read)
		if err != nil {
			return nil, err
		}
		proof.Openings = append(proof.Openings, PoRepOpening{
			Piece: uint32(j), LeafLo: llo, Leaves: leaves, Range: rng,
			Path: shard.MerkleProof(pieceDigests, j),
		})
	}
	return proof, nil
}

// VerifyPoRep checks that proof answers the challenge seed for r: each
// challenged piece's window of replica leaves lies under r.CommR, and
// unsealed under r's replica ID it is the piece under r.CommD. Errors wrap
// ErrBadParams (r unusable under p) or ErrInvalid (*ProofError).
func VerifyPoRep(r *Replica, seed [32]byte, p Params, proof *PoRepProof) error {
	p = p.WithDefaults()
	if err := r.check(p); err != nil {
		return err
	}
	id := r.ID()
	pieces := PoRepPieces(r, seed, p.PoRepChallenges)
	if len(proof.Openings) != len(pieces) {
		return &ProofError{Replica: id, Index: -1, Reason: fmt.Sprintf("%d openings for %d challenged pieces", len(proof.Openings), len(pieces))}
	}
	rsize := ReplicaSize(r.Size)
	for k, j := range pieces {
		o := &proof.Openings[k]
		fail := func(format string, args ...any) error {
			return &ProofError{Replica: id, Index: j, Reason: fmt.Sprintf(format, args...)}
		}
		if int(o.Piece) != j {
			return fail("opens piece %d, challenged piece %d", o.Piece, j)
		}
		a, b, lo, hi, llo, lhi := pieceWindow(r, j)
		if o.LeafLo != llo || int64(len(o.Leaves)) != min(lhi*LeafSize, rsize)-llo*LeafSize {
			return fail("opens %d bytes from leaf %d, want leaves [%d, %d)", len(o.Leaves), o.LeafLo, llo, lhi)
		}
		if !VerifyRange(r.CommR, rsize, llo, o.Leaves, o.Range) {
			return fail("replica leaves [%d, %d) are not under commR", llo, lhi)
		}
		win := make([]byte, (hi-lo)*BlockSize)
		copy(win, o.Leaves[lo*BlockSize-llo*LeafSize:])
		ga, gb, data, err := Unseal(id, r.Size, r.Layers, lo, win)
		if err != nil || ga > a || gb < b {
			return fail("window does not unseal piece blocks [%d, %d)", a, b)
		}
		off := int64(j) * r.PieceSize
		end := min(off+r.PieceSize, r.Size)
		piece := data[(off - ga*BlockSize):(end - ga*BlockSize)]
		if !shard.VerifyProof(r.CommD, j, r.Pieces(), shard.PieceDigest(piece), o.Path) {
			return fail("unsealed piece is not under commD (the replica is not this miner's sealing of the shard)")
		}
	}
	return nil
}
