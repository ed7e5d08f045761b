package wire

import (
	"bytes"
	"errors"
	"fmt"

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
	for _, m := range proofsSamples(t) {
		frame := AppendFrame(nil, m)
		hd, body, err := ReadFrame(bytes.NewReader(frame), nil, Fixed(MaxFrame))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(hd, body)
		if err != nil {
			t.Fatalf("%v: %v", m.Type(), err)
		}
		if fmt.Sprint(got) != fmt.Sprint(m) {
			t.Fatalf("%v: decoded %v, want %v", m.Type(), got, m)
		}
		if m.Type().String() == fmt.Sprintf("Type(%d)", uint16(m.Type())) {
			t.Errorf("type %d has no name", m.Type())
		}
	}
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
func FuzzDecodeProofs(f *testing.F) {
	for _, m := range proofsSamples(f) {
		f.Add(AppendFrame(nil, m))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		hd, body, err := ReadFrame(bytes.NewReader(frame), nil, Fixed(MaxFrame))
		if err != nil {
			return
		}
		m, err := Decode(hd, body)
		if err != nil {
			return
		}
		if got := m.Append(nil); !bytes.Equal(got, body) {
			t.Fatalf("%v: re-encoded %x, want %x", hd.Type, got, body)
		}
	})
}

func testPeer(t testing.TB) identity.PeerID {
	return identity.FromSeed(bytes.Repeat([]byte{3}, 32)).ID()
}
