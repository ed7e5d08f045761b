package verifier

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/ppstore/ppstore/proofs"
)

// roundPayer records whole rounds, and fails when told to.
type roundPayer struct {
	mu     sync.Mutex
	rounds map[uint64][]PassEvent
	fail   error
	single int
}

func (r *roundPayer) Pay(context.Context, PassEvent) error {
	r.mu.Lock()
	r.single++
	r.mu.Unlock()
	return nil
}

func (r *roundPayer) PayRound(_ context.Context, epoch uint64, passes []PassEvent) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rounds == nil {
		r.rounds = map[uint64][]PassEvent{}
	}
	r.rounds[epoch] = append(r.rounds[epoch], passes...)
	return r.fail
}

// A RoundPayer gets each judged round once, with exactly the round's passes
// (a miner that misses gets nothing), and a failing payer neither fails
// the round nor changes its verdicts.
func TestRoundPayerGetsEachRoundOnce(t *testing.T) {
	honest, cheat := newFakeMiner(t), newFakeMiner(t)
	v := startVerifier(t, honest, cheat)
	rp := &roundPayer{}
	v.SetPayer(rp)
	for _, m := range []*fakeMiner{honest, cheat} {
		for _, size := range []int{20 << 10, 3000} {
			if _, err := m.prove(v.Addr(), m.seal(size, 4<<10), nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	e1, _ := v.round(t)
	cheat.mu.Lock()
	cheat.cheat = func(r *proofs.PoStResponse) { r.Proofs[0].Openings[0].Leaf[0] ^= 1 }
	cheat.mu.Unlock()
	rp.mu.Lock()
	rp.fail = errors.New("payment rail down")
	rp.mu.Unlock()
	e2, rec := v.round(t)
	if got := verdictsOf(rec, honest.key.ID()); got[0] != VerdictPass || got[1] != VerdictPass {
		t.Fatalf("a failing payer changed the honest miner's verdicts: %v", got)
	}
	if err := v.RunRound(context.Background()); err != nil {
		t.Fatal(err)
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.single != 0 || len(rp.rounds) != 2 {
		t.Fatalf("rounds paid %d, single passes %d; want 2 rounds through PayRound", len(rp.rounds), rp.single)
	}
	if n := len(rp.rounds[e1]); n != 4 {
		t.Fatalf("epoch %d: %d passes, want 4", e1, n)
	}
	byMiner := map[string]int{}
	for _, ev := range rp.rounds[e2] {
		if ev.Epoch != e2 {
			t.Fatalf("pass of epoch %d in round %d", ev.Epoch, e2)
		}
		byMiner[ev.Miner.String()]++
	}
	if byMiner[honest.key.ID().String()] != 2 || byMiner[cheat.key.ID().String()] != 1 {
		t.Fatalf("epoch %d passes by miner: %v (honest 2, the cheat's untouched replica 1)", e2, byMiner)
	}
}
