package proofs

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/ppstore/ppstore/shard"
)

// MaxPoStChallenges bounds Params.PoStChallenges (and the openings per
// replica in an encoded response).
const MaxPoStChallenges = 64

// Round is one proof-of-spacetime round: its epoch, the randomness the
// challenges derive from (unknown to miners before the round), and the
// deadline for responses.
type Round struct {
	Epoch    uint64
	Seed     [32]byte
	Deadline time.Time
}

// PoStLeaf derives the k-th challenged leaf of replica r in a round:
// SHA256("ppstore/post/v1" ‖ seed ‖ epoch ‖ replica ID ‖ commR ‖ k) mod leaves.
func PoStLeaf(id ReplicaID, commR shard.Digest, leaves int64, round *Round, k int) int64 {
	const tag = "ppstore/post/v1"
	var b [len(tag) + 32 + 8 + 32 + 32 + 8]byte // on the stack
	o := copy(b[:], tag)
	o += copy(b[o:], round.Seed[:])
	binary.BigEndian.PutUint64(b[o:], round.Epoch)
	o += 8
	o += copy(b[o:], id[:])
	o += copy(b[o:], commR[:])
	binary.BigEndian.PutUint64(b[o:], uint64(k))
	h := sha256.Sum256(b[:])
	return int64(binary.BigEndian.Uint64(h[:]) % uint64(leaves))
}

// PoStOpening opens one challenged leaf: its bytes and Merkle path.
type PoStOpening struct {
	Leaf []byte
	Path []shard.Digest
}

// PoStProof answers a round's challenges for one replica.
type PoStProof struct {
	Replica  ReplicaID
	Openings []PoStOpening
}

// PoStResponse is one miner's answer to a round: one proof per replica it
// was asked about, in any order.
type PoStResponse struct {
	Epoch  uint64
	Proofs []PoStProof
}

// Held is one replica a miner proves: its description, its tree, and a
// reader of its sealed bytes.
type Held struct {
	Replica *Replica
	Tree    *Tree
	Read    func(p []byte, off int64) error
}

// ProvePoSt answers round for every held replica.
func ProvePoSt(round *Round, p Params, held []Held) (*PoStResponse, error) {
	p = p.WithDefaults()
	resp := &PoStResponse{Epoch: round.Epoch, Proofs: make([]PoStProof, 0, len(held))}
	for _, h := range held {
		id := h.Replica.ID()
		pr := PoStProof{Replica: id, Openings: make([]PoStOpening, 0, p.PoStChallenges)}
		rsize := ReplicaSize(h.Replica.Size)
		for k := 0; k < p.PoStChallenges; k++ {
			i := PoStLeaf(id, h.Replica.CommR, h.Tree.LeafCount(), round, k)
			leaf, path, err := h.Tree.ProveRange(i, i+1, rsize, h.Read)
			if err != nil {
				return nil, fmt.Errorf("replica %s: %w", id.String()[:16], err)
			}
			pr.Openings = append(pr.Openings, PoStOpening{Leaf: leaf, Path: path})
		}
		resp.Proofs = append(resp.Proofs, pr)
	}
	return resp, nil
}

// ErrMissing reports a replica the response has no proof for.
var ErrMissing = errors.New("proofs: no proof for the replica in the response")

// VerifyPoSt judges resp, received at receivedAt from the miner whose peer
// ID bytes are prover, against round for the replicas the verifier asked
// that miner about. It returns one verdict per asked replica (nil: passed),
// or an error for the whole response: ErrStale (another round's epoch),
// ErrLate (after the deadline), ErrNotProver (a proof for a replica of
// another miner or one not asked), ErrMalformed (a replica proven twice).
func VerifyPoSt(round *Round, p Params, prover []byte, asked []*Replica, resp *PoStResponse, receivedAt time.Time) ([]error, error) {
	p = p.WithDefaults()
	if resp.Epoch != round.Epoch {
		return nil, fmt.Errorf("%w: response for epoch %d, round is epoch %d", ErrStale, resp.Epoch, round.Epoch)
	}
	if !round.Deadline.IsZero() && receivedAt.After(round.Deadline) {
		return nil, fmt.Errorf("%w: received %v after the deadline", ErrLate, receivedAt.Sub(round.Deadline).Round(time.Microsecond))
	}
	index := make(map[ReplicaID]int, len(asked))
	for i, r := range asked {
		if !bytes.Equal(r.Miner, prover) {
			return nil, fmt.Errorf("%w: replica %s is held by another miner", ErrNotProver, r.ID().String()[:16])
		}
		index[r.ID()] = i
	}
	verdicts := make([]error, len(asked))
	for i := range verdicts {
		verdicts[i] = ErrMissing
	}
	done := make([]bool, len(asked))
	for _, pr := range resp.Proofs {
		i, ok := index[pr.Replica]
		if !ok {
			return nil, fmt.Errorf("%w: proof for replica %s, which this miner was not asked about", ErrNotProver, pr.Replica.String()[:16])
		}
		if done[i] {
			return nil, fmt.Errorf("%w: replica %s proven twice", ErrMalformed, pr.Replica.String()[:16])
		}
		done[i] = true
		verdicts[i] = verifyOne(round, p, asked[i], &pr)
	}
	return verdicts, nil
}

func verifyOne(round *Round, p Params, r *Replica, pr *PoStProof) error {
	if len(pr.Openings) != p.PoStChallenges {
		return &ProofError{Replica: pr.Replica, Index: -1, Reason: fmt.Sprintf("%d openings, want %d", len(pr.Openings), p.PoStChallenges)}
	}
	rsize := ReplicaSize(r.Size)
	leaves := Leaves(rsize)
	for k, o := range pr.Openings {
		i := PoStLeaf(pr.Replica, r.CommR, leaves, round, k)
		if want := min(rsize-i*LeafSize, LeafSize); int64(len(o.Leaf)) != want {
			return &ProofError{Replica: pr.Replica, Index: k, Reason: fmt.Sprintf("leaf %d has %d bytes, want %d", i, len(o.Leaf), want)}
		}
		if !VerifyRange(r.CommR, rsize, i, o.Leaf, o.Path) {
			return &ProofError{Replica: pr.Replica, Index: k, Reason: fmt.Sprintf("leaf %d with its path is not under commR", i)}
		}
	}
	return nil
}

// Recommended response deadlines (docs/PROOFS.md): a round's responses are
// due DefaultDeadlineBase (network round trips) plus
// DefaultDeadlinePerReplica for each replica asked after the challenge is
// sent. Both sit far above an honest miner's response (about 0.25 ms per
// replica on a loaded 2-core machine) and far below re-sealing one replica
// at the default parameters (seconds; see BenchmarkGeneration).
const (
	DefaultDeadlineBase       = 30 * time.Millisecond
	DefaultDeadlinePerReplica = 2 * time.Millisecond
)

// DeadlineFor returns when a round sent at start asking about replicas
// replicas is due, given the base and per-replica allowances.
func DeadlineFor(start time.Time, replicas int, base, perReplica time.Duration) time.Time {
	return start.Add(base + time.Duration(replicas)*perReplica)
}
