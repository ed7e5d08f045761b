package proofs

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/ppstore/ppstore/shard"
)

func TestTreeRangeProofs(t *testing.T) {
	for _, size := range []int{16, 256, 272, 1000 * 16, 33 * 256, 200 * 256} {
		replica := randBytes(uint64(size), size)
		tree := NewTree(replica)
		read := func(p []byte, off int64) error { copy(p, replica[off:]); return nil }
		n := Leaves(int64(size))
		for lo := int64(0); lo < n; lo += max(1, n/13) {
			for _, w := range []int64{1, 2, 3, 7, 40, n} {
				hi := min(n, lo+w)
				data, proof, err := tree.ProveRange(lo, hi, int64(size), read)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(data, replica[lo*LeafSize:min(int64(size), hi*LeafSize)]) {
					t.Fatalf("size %d: range [%d, %d) returned other bytes", size, lo, hi)
				}
				if !VerifyRange(tree.Root(), int64(size), lo, data, proof) {
					t.Fatalf("size %d: range [%d, %d) does not verify", size, lo, hi)
				}
				if lo+1 < n && VerifyRange(tree.Root(), int64(size), lo+1, data, proof) {
					t.Fatalf("size %d: range [%d, %d) verifies at another position", size, lo, hi)
				}
			}
		}
		enc, _ := tree.AppendBinary(nil)
		back, err := ParseTree(enc)
		if err != nil || back.Root() != tree.Root() {
			t.Fatalf("size %d: ParseTree: %v", size, err)
		}
	}
}

func TestPoRepHonestPasses(t *testing.T) {
	for _, tc := range []struct{ size, piece int }{{64 << 10, 4 << 10}, {64<<10 - 5, 4 << 10}, {100, 4 << 10}, {3 << 10, 1 << 10}} {
		f := sealFixture(t, "miner-a", randBytes(uint64(tc.size), tc.size), tc.piece, 0, testParams)
		seed := [32]byte{1, 2, 3}
		proof, err := ProvePoRep(f.rep, f.tree, seed, testParams, f.digests, f.read)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := ParsePoRepProof(proof.Append(nil))
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyPoRep(f.rep, seed, testParams, parsed); err != nil {
			t.Fatalf("size %d: honest PoRep refused: %v", tc.size, err)
		}
		// The same proof for another seed opens other pieces (if there are enough).
		if f.rep.Pieces() > 8 {
			if err := VerifyPoRep(f.rep, [32]byte{9}, testParams, parsed); !errors.Is(err, ErrInvalid) {
				t.Errorf("size %d: a PoRep answered for another seed: %v", tc.size, err)
			}
		}
	}
}

func TestPoRepRefusesTooFewLayers(t *testing.T) {
	f := sealFixture(t, "miner-a", randBytes(1, 64<<10), 4<<10, 0, Params{Rounds: 1, MinSealBlocks: 1})
	proof, err := ProvePoRep(f.rep, f.tree, [32]byte{}, testParams, f.digests, f.read)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyPoRep(f.rep, [32]byte{}, testParams, proof); !errors.Is(err, ErrBadParams) {
		t.Fatalf("a replica sealed with 1 layer passed a verifier asking for 2: %v", err)
	}
}

func newRound(epoch uint64, seed byte, deadline time.Duration) *Round {
	return &Round{Epoch: epoch, Seed: [32]byte{seed}, Deadline: time.Now().Add(deadline)}
}

func TestPoStHonestPassesForManyReplicas(t *testing.T) {
	var held []Held
	var asked []*Replica
	for i := 0; i < 5; i++ {
		f := sealFixture(t, "miner-a", randBytes(uint64(10+i), 20<<10+i*333), 4<<10, uint32(i), testParams)
		held = append(held, f.held())
		asked = append(asked, f.rep)
	}
	round := newRound(7, 1, time.Minute)
	resp, err := ProvePoSt(round, testParams, held)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParsePoStResponse(resp.Append(nil))
	if err != nil {
		t.Fatal(err)
	}
	verdicts, err := VerifyPoSt(round, testParams, []byte("miner-a"), asked, parsed, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range verdicts {
		if v != nil {
			t.Errorf("replica %d: honest proof refused: %v", i, v)
		}
	}
	// A replica left out of the response is a miss, the others still pass.
	parsed.Proofs = parsed.Proofs[1:]
	verdicts, err = VerifyPoSt(round, testParams, []byte("miner-a"), asked, parsed, time.Now())
	if err != nil || !errors.Is(verdicts[0], ErrMissing) || verdicts[1] != nil {
		t.Fatalf("verdicts with replica 0 left out: %v, %v", verdicts, err)
	}
}

func TestParamsValidate(t *testing.T) {
	if err := (Params{}).Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	for _, p := range []Params{{Rounds: -1}, {PoStChallenges: MaxPoStChallenges + 1}, {PoRepChallenges: -2}, {MinSealBlocks: -1}} {
		if err := p.Validate(); !errors.Is(err, ErrBadParams) {
			t.Errorf("%+v: %v", p, err)
		}
	}
}

var _ = shard.Digest{}
