package proofs

import (
	"bytes"
	"testing"
	"time"
)

// FuzzParsePoRepProof checks that the PoRep parser never panics, and that
// what it accepts re-encodes to the same bytes (one encoding per proof).
func FuzzParsePoRepProof(f *testing.F) {
	fx := sealFixture(f, "miner-a", randBytes(1, 8<<10), 1<<10, 0, Params{Rounds: 1, MinSealBlocks: 1, PoRepChallenges: 2})
	proof, err := ProvePoRep(fx.rep, fx.tree, [32]byte{}, Params{Rounds: 1, MinSealBlocks: 1, PoRepChallenges: 2}, fx.digests, fx.read)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(proof.Append(nil))
	f.Add([]byte{0, 0})
	f.Add([]byte{0, 1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePoRepProof(b)
		if err != nil {
			return
		}
		if !bytes.Equal(p.Append(nil), b) {
			t.Fatalf("re-encoding differs")
		}
		// A parsed proof never makes the verifier panic.
		_ = VerifyPoRep(fx.rep, [32]byte{}, Params{Rounds: 1, MinSealBlocks: 1, PoRepChallenges: 2}, p)
	})
}

// FuzzParsePoStResponse is FuzzParsePoRepProof for PoSt responses.
func FuzzParsePoStResponse(f *testing.F) {
	fx := sealFixture(f, "miner-a", randBytes(1, 8<<10), 1<<10, 0, Params{Rounds: 1, MinSealBlocks: 1, PoStChallenges: 2})
	p := Params{Rounds: 1, MinSealBlocks: 1, PoStChallenges: 2}
	round := &Round{Epoch: 3}
	resp, err := ProvePoSt(round, p, []Held{fx.held()})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(resp.Append(nil))
	f.Add(make([]byte, 12))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParsePoStResponse(b)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Append(nil), b) {
			t.Fatalf("re-encoding differs")
		}
		_, _ = VerifyPoSt(round, p, fx.rep.Miner, []*Replica{fx.rep}, r, time.Time{})
	})
}

// FuzzParseTree: a miner's cached tree file, if damaged, is refused, not a panic.
func FuzzParseTree(f *testing.F) {
	enc, _ := NewTree(randBytes(2, 20<<10)).AppendBinary(nil)
	f.Add(enc)
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := ParseTree(b)
		if err != nil {
			return
		}
		back, _ := tr.AppendBinary(nil)
		if !bytes.Equal(back, b) {
			t.Fatalf("re-encoding differs")
		}
	})
}
