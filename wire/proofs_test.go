package wire

import (
	"bytes"
	"errors"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/identity"
	"testing"
)

func proofsSamples(t testing.TB) []Message {
	c := testCID(t, "shard")
	return []Message{
		&SealCommit{Shard: c, Size: 4 << 20, PieceSize: 256 << 10, Layers: 1, CommR: [32]byte{7}},
		&PoRepChallenge{Seed: [32]byte{1}, Parts: 8},
		&PoRepPart{Proof: []byte{0, 1, 2}},
		&PoRepResult{Epoch: 12},
		&PoStChallenge{Epoch: 3, Seed: [32]byte{2}, Deadline: 1_700_000_000_000, Shards: []cid.Cid{c, c}},
		&PoStPart{Last: true, Response: []byte{9, 9}},
		&ProofStatus{Shards: []cid.Cid{c}},
		&RepairShard{Shard: c, Size: 5, PieceSize: 2, Source: NodeAddr{Peer: testPeer(t), Addr: "127.0.0.1:9"}},
		&RepairDone{},
		&ProofStates{Shards: [][]ReplicaProof{{{Miner: testPeer(t), State: ProofProven, Proven: 2, LastPass: 9}}, {}}},
	}
}

func TestProofsMessagesRoundTrip(t *testing.T) {
	checkRoundTrip(t, proofsSamples(t))
	// A challenge naming more shards than allowed is refused before allocating.
	e := Enc{}
	e.U64(1)
	e.Digest([32]byte{})
	e.U64(0)
	e.U32(MaxPoStShards + 1)
	e.B = append(e.B, make([]byte, 5*(MaxPoStShards+1))...)
	if err := new(PoStChallenge).Decode(e.B); !errors.Is(err, ErrMalformed) {
		t.Fatalf("oversized challenge: %v", err)
	}
	if !errors.Is(ToError(Errorf(CodeBadProof, "x")), ErrBadProof) || CodeLate.String() != "late" {
		t.Fatal("proofs codes lost their identity or name")
	}
}

// FuzzDecodeProofs is FuzzDecode seeded with the proofs messages.
func FuzzDecodeProofs(f *testing.F) { fuzzFrames(f, proofsSamples(f)) }

func testPeer(t testing.TB) identity.PeerID {
	return identity.FromSeed(bytes.Repeat([]byte{3}, 32)).ID()
}
