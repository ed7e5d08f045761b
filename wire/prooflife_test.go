package wire

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ppstore/ppstore/identity"
)

func proofLifeSamples(t testing.TB) []Message {
	c := testCID(t, "shard")
	a := identity.FromSeed(bytes.Repeat([]byte{4}, 32)).ID()
	return []Message{
		&ReplicaProven{Shard: c, Miner: testPeer(t), Epoch: 7},
		&ReplicaReplace{Shard: c, Failing: testPeer(t), New: a, Epoch: 9},
		&IndexUpdated{Replicas: 3, Proven: 2},
		&PoStSignature{Sig: bytes.Repeat([]byte{5}, 64)},
	}
}

func TestProofLifeMessagesRoundTrip(t *testing.T) {
	checkRoundTrip(t, proofLifeSamples(t))
	for _, c := range []Code{CodeReplicaCount, CodeNotCommitted} {
		if !KnownCode(c) || !errors.Is(ToError(Errorf(c, "x")), &Error{Code: c}) {
			t.Fatalf("code %d lost its identity", c)
		}
	}
	// A signature longer than ed25519's is malformed.
	if err := new(PoStSignature).Decode((&PoStSignature{Sig: make([]byte, 65)}).Append(nil)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("65-byte signature: %v", err)
	}
}

// TestPoStSignature: a signature holds only for its miner, round, verifier
// and parts.
func TestPoStSignature(t *testing.T) {
	miner := identity.FromSeed(bytes.Repeat([]byte{1}, 32))
	other := identity.FromSeed(bytes.Repeat([]byte{2}, 32))
	verifier := testPeer(t)
	seed := [32]byte{9}
	parts := [][]byte{{1, 2, 3}, {4}}
	sig := SignPoSt(miner, 5, seed, verifier, parts)
	if !VerifyPoSt(miner.ID(), sig, 5, seed, verifier, parts) {
		t.Fatal("honest signature refused")
	}
	for name, ok := range map[string]bool{
		"another miner":     VerifyPoSt(other.ID(), sig, 5, seed, verifier, parts),
		"another epoch":     VerifyPoSt(miner.ID(), sig, 4, seed, verifier, parts),
		"another seed":      VerifyPoSt(miner.ID(), sig, 5, [32]byte{8}, verifier, parts),
		"another verifier":  VerifyPoSt(miner.ID(), sig, 5, seed, other.ID(), parts),
		"altered part":      VerifyPoSt(miner.ID(), sig, 5, seed, verifier, [][]byte{{1, 2, 4}, {4}}),
		"parts re-cut":      VerifyPoSt(miner.ID(), sig, 5, seed, verifier, [][]byte{{1, 2}, {3, 4}}),
		"no signature":      VerifyPoSt(miner.ID(), nil, 5, seed, verifier, parts),
		"signed by another": VerifyPoSt(miner.ID(), SignPoSt(other, 5, seed, verifier, parts), 5, seed, verifier, parts),
	} {
		if ok {
			t.Errorf("%s: signature accepted", name)
		}
	}
}

// FuzzDecodeProofLife is FuzzDecode seeded with this file's messages.
func FuzzDecodeProofLife(f *testing.F) { fuzzFrames(f, proofLifeSamples(f)) }
