package proofs

import (
	"errors"
	"testing"
	"time"
)

// Each test here mounts one attack on the proofs against the real code
// and shows that it is caught.

// Sybil: miners A and B both claim the shard, but only A stores a replica.
func TestAttackSybilOneReplicaTwoIdentities(t *testing.T) {
	data := randBytes(1, 64<<10)
	a := sealFixture(t, "miner-a", data, 4<<10, 0, testParams)
	seed := [32]byte{4}

	// B presents A's replica (and its commR) as its own at PoRep time.
	bRep := *a.rep
	bRep.Miner = []byte("miner-b")
	proof, err := ProvePoRep(&bRep, a.tree, seed, testParams, a.digests, a.read)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyPoRep(&bRep, seed, testParams, proof); !errors.Is(err, ErrInvalid) {
		t.Fatalf("B's PoRep with A's replica: %v, want ErrInvalid", err)
	}

	// B sealed once honestly (so its PoRep passed), then deleted its replica
	// and answers its PoSt from A's replica.
	b := sealFixture(t, "miner-b", data, 4<<10, 0, testParams)
	round := newRound(3, 8, time.Minute)
	resp, err := ProvePoSt(round, testParams, []Held{{Replica: b.rep, Tree: a.tree, Read: a.read}})
	if err != nil {
		t.Fatal(err)
	}
	verdicts, err := VerifyPoSt(round, testParams, []byte("miner-b"), []*Replica{b.rep}, resp, time.Now())
	if err != nil || !errors.Is(verdicts[0], ErrInvalid) {
		t.Fatalf("B answering from A's replica: verdict %v, err %v; want ErrInvalid", verdicts, err)
	}
}

// Outsourcing: a miner keeps nothing and, when challenged, fetches what
// it needs from elsewhere: another miner's replica (which is of no use, see
// Sybil) or the unsealed shard, which it must then seal: too late.
func TestAttackOutsourcing(t *testing.T) {
	data := randBytes(2, 64<<10)
	other := sealFixture(t, "miner-a", data, 4<<10, 0, testParams)
	self := sealFixture(t, "miner-c", data, 4<<10, 1, testParams)
	round := newRound(5, 2, time.Minute)

	// Fetch the other miner's replica and answer from it.
	resp, err := ProvePoSt(round, testParams, []Held{{Replica: self.rep, Tree: self.tree, Read: other.read}})
	if err != nil {
		t.Fatal(err)
	}
	verdicts, err := VerifyPoSt(round, testParams, []byte("miner-c"), []*Replica{self.rep}, resp, time.Now())
	if err != nil || !errors.Is(verdicts[0], ErrInvalid) {
		t.Fatalf("answer from another miner's replica: %v, %v", verdicts, err)
	}

	// Fetch the unsealed shard and seal it on demand: with the deadline the
	// verifier sets, the response is late (the cost is measured in
	// TestAttackGenerationIsLate at the default parameters).
	round = &Round{Epoch: 6, Seed: [32]byte{3}}
	start := time.Now()
	round.Deadline = DeadlineFor(start, 1, DefaultDeadlineBase, DefaultDeadlinePerReplica)
	fetched := append([]byte(nil), data...) // the fetch itself counted as free
	params := Params{}
	if raceEnabled {
		params.MinSealBlocks = 1 << 16
	}
	g := generate(t, self, fetched, params)
	resp, err = ProvePoSt(round, params, []Held{g.held()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyPoSt(round, params, []byte("miner-c"), []*Replica{g.rep}, resp, time.Now()); !errors.Is(err, ErrLate) {
		t.Fatalf("outsourced and sealed on demand in %v: %v, want ErrLate", time.Since(start), err)
	}
}

// generate is the generation attack's work: seal the unsealed shard data
// for the replica f describes, at params p, and build its tree.
func generate(t testing.TB, f *fixture, data []byte, p Params) *fixture {
	t.Helper()
	return sealFixture(t, string(f.rep.Miner), data, int(f.rep.PieceSize), f.rep.Number, p)
}

// Generation: a miner keeps only the unsealed shard and seals on demand.
// At the default parameters (4 MiB shard, 256 KiB pieces) the response
// takes the whole sealing time; an honest one reads 8 × 8 KiB.
func TestAttackGenerationIsLate(t *testing.T) {
	data := randBytes(3, 4<<20)
	params := Params{}
	if raceEnabled { // the race detector slows the arithmetic: a quarter of the work keeps the suite short
		data, params = data[:1<<20], Params{MinSealBlocks: 1 << 16}
	}
	desc := &fixture{rep: &Replica{Miner: []byte("miner-g"), PieceSize: 256 << 10}}

	round := &Round{Epoch: 9, Seed: [32]byte{7}}
	start := time.Now()
	round.Deadline = DeadlineFor(start, 1, DefaultDeadlineBase, DefaultDeadlinePerReplica)
	g := generate(t, desc, data, params)
	resp, err := ProvePoSt(round, params, []Held{g.held()})
	if err != nil {
		t.Fatal(err)
	}
	attack := time.Since(start)
	if _, err := VerifyPoSt(round, params, []byte("miner-g"), []*Replica{g.rep}, resp, time.Now()); !errors.Is(err, ErrLate) {
		t.Fatalf("generation attack answered in %v: %v, want ErrLate", attack, err)
	}

	// The honest miner (the replica now sealed and kept) answers the next
	// round: best of three, as a busy machine may pause any one of them.
	honest := time.Hour
	for i := 0; i < 3; i++ {
		round := &Round{Epoch: 10 + uint64(i), Seed: [32]byte{byte(i)}}
		start := time.Now()
		round.Deadline = DeadlineFor(start, 1, DefaultDeadlineBase, DefaultDeadlinePerReplica)
		resp, err := ProvePoSt(round, params, []Held{g.held()})
		if err != nil {
			t.Fatal(err)
		}
		el := time.Since(start)
		verdicts, err := VerifyPoSt(round, params, []byte("miner-g"), []*Replica{g.rep}, resp, time.Now())
		if err != nil || verdicts[0] != nil {
			t.Fatalf("honest response: %v, %v", verdicts, err)
		}
		honest = min(honest, el)
	}
	t.Logf("honest response %v, generation attack %v (%.0f×), deadline %v",
		honest, attack, float64(attack)/float64(honest), DefaultDeadlineBase+DefaultDeadlinePerReplica)
	if attack < 10*honest {
		t.Fatalf("generation took %v, less than 10× the honest %v", attack, honest)
	}
}

func honestResponse(t *testing.T) (*fixture, *Round, *PoStResponse) {
	t.Helper()
	f := sealFixture(t, "miner-a", randBytes(4, 32<<10), 4<<10, 0, testParams)
	round := newRound(11, 6, time.Minute)
	resp, err := ProvePoSt(round, testParams, []Held{f.held()})
	if err != nil {
		t.Fatal(err)
	}
	return f, round, resp
}

func mustFail(t *testing.T, what string, f *fixture, round *Round, resp *PoStResponse) {
	t.Helper()
	verdicts, err := VerifyPoSt(round, testParams, f.rep.Miner, []*Replica{f.rep}, resp, time.Now())
	if err != nil {
		t.Fatalf("%s: refused whole: %v", what, err)
	}
	var pe *ProofError
	if !errors.As(verdicts[0], &pe) || !errors.Is(verdicts[0], ErrInvalid) {
		t.Fatalf("%s: verdict %v, want a ProofError", what, verdicts[0])
	}
}

func TestAttackWrongLeaf(t *testing.T) {
	f, round, resp := honestResponse(t)
	resp.Proofs[0].Openings[3].Leaf = append([]byte(nil), resp.Proofs[0].Openings[3].Leaf...)
	resp.Proofs[0].Openings[3].Leaf[17] ^= 1
	mustFail(t, "flipped bit in a leaf", f, round, resp)

	// A true leaf of the replica with its true path, at the wrong position.
	_, _, resp = honestResponse(t)
	c := PoStLeaf(f.rep.ID(), f.rep.CommR, f.tree.LeafCount(), round, 0)
	other := (c + 1) % f.tree.LeafCount()
	leaf, path, err := f.tree.ProveRange(other, other+1, int64(len(f.replica)), f.read)
	if err != nil {
		t.Fatal(err)
	}
	resp.Proofs[0].Openings[0] = PoStOpening{Leaf: leaf, Path: path}
	mustFail(t, "another leaf in place of the challenged one", f, round, resp)
}

func TestAttackWrongMerklePath(t *testing.T) {
	f, round, resp := honestResponse(t)
	o := &resp.Proofs[0].Openings[2]
	o.Path = append(o.Path[:0:0], o.Path...)
	o.Path[1][0] ^= 0x80
	mustFail(t, "altered path digest", f, round, resp)

	_, _, resp = honestResponse(t)
	o = &resp.Proofs[0].Openings[2]
	o.Path = o.Path[:len(o.Path)-1]
	mustFail(t, "truncated path", f, round, resp)
}

func TestAttackReplayedResponse(t *testing.T) {
	f, round, resp := honestResponse(t)
	next := newRound(round.Epoch+1, 99, time.Minute)
	_, err := VerifyPoSt(next, testParams, f.rep.Miner, []*Replica{f.rep}, resp, time.Now())
	if !errors.Is(err, ErrStale) {
		t.Fatalf("replayed response: %v, want ErrStale", err)
	}
	// Relabelled with the new epoch: the openings answer the old challenges.
	resp.Epoch = next.Epoch
	mustFail(t, "replayed openings under a new epoch", f, next, resp)
}

func TestAttackAnotherMinersReplica(t *testing.T) {
	a, round, resp := honestResponse(t)
	b := sealFixture(t, "miner-b", randBytes(5, 32<<10), 4<<10, 0, testParams)
	// B answers with a proof of A's replica in place of its own.
	_, err := VerifyPoSt(round, testParams, []byte("miner-b"), []*Replica{b.rep}, resp, time.Now())
	if !errors.Is(err, ErrNotProver) {
		t.Fatalf("B sending A's proof: %v, want ErrNotProver", err)
	}
	// B claims to be asked about A's replica: the verifier never asks it.
	_, err = VerifyPoSt(round, testParams, []byte("miner-b"), []*Replica{a.rep}, resp, time.Now())
	if !errors.Is(err, ErrNotProver) {
		t.Fatalf("B proving A's replica: %v, want ErrNotProver", err)
	}
}

func TestAttackLateResponse(t *testing.T) {
	f, round, resp := honestResponse(t)
	_, err := VerifyPoSt(round, testParams, f.rep.Miner, []*Replica{f.rep}, resp, round.Deadline.Add(time.Millisecond))
	if !errors.Is(err, ErrLate) {
		t.Fatalf("late response: %v, want ErrLate", err)
	}
}

// Forged commR: the miner commits a root that is not its sealing of the
// shard, so that it could answer PoSt without the work or the storage.
func TestAttackForgedCommR(t *testing.T) {
	data := randBytes(6, 64<<10)
	honest := sealFixture(t, "miner-f", data, 4<<10, 0, testParams)
	seed := [32]byte{12}
	try := func(what string, replica []byte, layers int) error {
		f := &fixture{data: data, digests: honest.digests, replica: replica, tree: NewTree(replica)}
		rep := *honest.rep
		rep.CommR, rep.Layers = f.tree.Root(), layers
		f.rep = &rep
		proof, err := ProvePoRep(f.rep, f.tree, seed, testParams, f.digests, f.read)
		if err != nil {
			t.Fatal(err)
		}
		return VerifyPoRep(f.rep, seed, testParams, proof)
	}
	zeros := make([]byte, len(honest.replica))
	if err := try("zeros", zeros, honest.rep.Layers); !errors.Is(err, ErrInvalid) {
		t.Errorf("commR over zeros: %v", err)
	}
	if err := try("unsealed data", append([]byte(nil), data...), honest.rep.Layers); !errors.Is(err, ErrInvalid) {
		t.Errorf("commR over the unsealed data: %v", err)
	}
	cheap := sealFixture(t, "miner-f", data, 4<<10, 0, Params{Rounds: 1, MinSealBlocks: 1})
	if err := try("one layer claimed as two", cheap.replica, honest.rep.Layers); !errors.Is(err, ErrInvalid) {
		t.Errorf("commR of a one-layer sealing claimed as %d layers: %v", honest.rep.Layers, err)
	}
	// One piece of the replica replaced by garbage: caught whenever that
	// piece is challenged, which a fresh seed does with probability K/n.
	part := append([]byte(nil), honest.replica...)
	for i := 5 * 4096; i < 6*4096; i++ {
		part[i] = 0
	}
	forged := *honest.rep
	forged.CommR = NewTree(part).Root()
	caught, total := 0, 0
	for s := 0; s < 64; s++ {
		seed = [32]byte{byte(s), 1}
		err := try("one forged piece", part, honest.rep.Layers)
		near, hit := false, false
		for _, j := range PoRepPieces(&forged, seed, testParams.PoRepChallenges) {
			hit = hit || j == 5
			near = near || j >= 4 && j <= 6 // the unsealing windows of 4 and 6 reach into 5
		}
		if hit && !errors.Is(err, ErrInvalid) || !near && err != nil {
			t.Fatalf("seed %d: forged piece challenged=%v, verdict %v", s, hit, err)
		}
		if err != nil {
			caught++
		}
		total++
	}
	t.Logf("one forged piece of 16 caught by %d of %d PoReps (8 challenges)", caught, total)
	if caught < total/4 {
		t.Fatalf("one forged piece of 16 caught by only %d of %d PoReps", caught, total)
	}
}
