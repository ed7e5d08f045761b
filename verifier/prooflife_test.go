package verifier

import (
	"context"
	"errors"
	"slices"
	"testing"

	cid "github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/proofs"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/wire"
)

func recordedMiners(t *testing.T, v *testVerifier) map[identity.PeerID]*ReplicaState {
	t.Helper()
	reps, err := v.Replicas()
	if err != nil {
		t.Fatal(err)
	}
	out := map[identity.PeerID]*ReplicaState{}
	for _, r := range reps {
		out[r.Miner] = r
	}
	return out
}

// A passed PoRep is recorded only for a holder of a committed shard, and
// the indexer is told.
func TestPoRepRecordedOnlyForACommittedHolder(t *testing.T) {
	a, b := newFakeMiner(t), newFakeMiner(t)
	v := startVerifier(t, a, b)
	v.index.mu.Lock()
	v.index.all = false
	v.index.mu.Unlock()
	s := a.seal(16<<10, 4<<10)
	if _, err := a.prove(v.Addr(), s, nil); !errors.Is(err, wire.ErrNotCommitted) {
		t.Fatalf("PoRep of an uncommitted shard: %v, want ErrNotCommitted", err)
	}
	v.index.commit(s, b)
	if _, err := a.prove(v.Addr(), s, nil); !errors.Is(err, wire.ErrNotHolder) {
		t.Fatalf("PoRep by a miner the index does not list: %v, want ErrNotHolder", err)
	}
	if len(recordedMiners(t, v)) != 0 {
		t.Fatal("a replica the index refused was recorded")
	}
	v.index.commit(s, a)
	epoch, err := a.prove(v.Addr(), s, nil)
	if err != nil {
		t.Fatal(err)
	}
	v.index.mu.Lock()
	got := v.index.proven[s.c][a.key.ID()]
	v.index.mu.Unlock()
	if got != epoch || epoch == 0 {
		t.Fatalf("the index was told epoch %d, the miner %d", got, epoch)
	}
	if r := recordedMiners(t, v)[a.key.ID()]; r == nil || r.Status != StatusProven {
		t.Fatalf("recorded %+v", r)
	}
}

// A failing replica is replaced, at the indexer and here, only once its
// repair's new replica passes its PoRep; a repair not proven in time goes
// to another miner, and the late one is refused: the shard never has more
// or fewer replicas than it was stored with.
func TestRepairReplacesTheFailingReplicaOnceProven(t *testing.T) {
	a, b := newFakeMiner(t), newFakeMiner(t)
	c, d := newFakeMiner(t), newFakeMiner(t)
	miners := []*fakeMiner{a, b, c, d}
	v := startVerifier(t, miners...)
	sa := provenOnTwo(t, v, a, b)
	for _, m := range miners {
		m.mu.Lock()
		m.source = func(root shard.Digest) []byte {
			if root == sa.c {
				return sa.data
			}
			return nil
		}
		m.mu.Unlock()
	}
	b.mu.Lock()
	b.cheat = func(r *proofs.PoStResponse) { r.Proofs[0].Openings[0].Leaf[0] ^= 1 }
	b.mu.Unlock()
	for i := 0; i < v.cfg.MissesToRepair; i++ {
		v.round(t)
	}
	if r := recordedMiners(t, v)[b.key.ID()]; r.Status != StatusRepairing {
		t.Fatalf("cheater's status %s", StatusName(r.Status))
	}
	holds := func(m *fakeMiner) bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.held[sa.c] != nil
	}
	ctx := context.Background()
	if err := v.RunRepairs(ctx); err != nil {
		t.Fatal(err)
	}
	first := recordedMiners(t, v)[b.key.ID()].RepairTo
	var t1, t2 *fakeMiner
	for _, m := range []*fakeMiner{c, d} {
		if m.key.ID() == first {
			t1 = m
		} else {
			t2 = m
		}
	}
	if t1 == nil || !holds(t1) || holds(t2) {
		t.Fatalf("repair target %v; c holds %v, d holds %v", first, holds(c), holds(d))
	}
	// Under way: not sent again; the failing replica stays until the new one is proven.
	if err := v.RunRepairs(ctx); err != nil || holds(t2) {
		t.Fatalf("a repair under way was sent again: %v", err)
	}
	if got := v.index.holdersOf(sa.c); len(got) != 2 || !slices.Contains(got, b.key.ID()) {
		t.Fatalf("index holders before the new replica is proven: %v", got)
	}
	// Not proven in time: the repair goes to the other miner.
	v.clock.add(v.cfg.RepairTimeout + 1)
	if err := v.RunRepairs(ctx); err != nil {
		t.Fatal(err)
	}
	if !holds(t2) || recordedMiners(t, v)[b.key.ID()].RepairTo != t2.key.ID() {
		t.Fatal("a repair not proven in time was not sent to another miner")
	}
	t2.mu.Lock()
	s2 := t2.held[sa.c]
	t2.mu.Unlock()
	if _, err := t2.prove(v.Addr(), s2, nil); err != nil {
		t.Fatalf("the repair's PoRep: %v", err)
	}
	got := recordedMiners(t, v)
	if len(got) != 2 || got[a.key.ID()] == nil || got[t2.key.ID()] == nil || got[t2.key.ID()].Status != StatusProven {
		t.Fatalf("records after the repair: %v", got)
	}
	if hs := v.index.holdersOf(sa.c); len(hs) != 2 || !slices.Contains(hs, t2.key.ID()) || slices.Contains(hs, b.key.ID()) {
		t.Fatalf("index holders after the repair: %v", hs)
	}
	// The first target's late PoRep is no new replica: refused.
	t1.mu.Lock()
	s1 := t1.held[sa.c]
	t1.mu.Unlock()
	if _, err := t1.prove(v.Addr(), s1, nil); !errors.Is(err, wire.ErrNotHolder) {
		t.Fatalf("late PoRep of an abandoned repair: %v, want ErrNotHolder", err)
	}
	v.index.mu.Lock()
	replaced := v.index.replaced
	v.index.mu.Unlock()
	if n := len(recordedMiners(t, v)); n != 2 || replaced != 1 {
		t.Fatalf("%d replicas recorded, %d replacements", n, replaced)
	}
	// Both pass the next round; nothing is left to repair.
	_, rec := v.round(t)
	for _, m := range []*fakeMiner{a, t2} {
		if got := verdictsOf(rec, m.key.ID()); len(got) != 1 || got[0] != VerdictPass {
			t.Fatalf("verdicts of %s: %v", m.key.ID().Short(), got)
		}
	}
}

// Responses are signed: a bad signature, one by another key and a replay of
// an earlier round are unsigned; Check catches a verifier that alters or
// invents a recorded response.
func TestPoStResponsesAreSigned(t *testing.T) {
	honest, flipped, other, replay := newFakeMiner(t), newFakeMiner(t), newFakeMiner(t), newFakeMiner(t)
	all := []*fakeMiner{honest, flipped, other, replay}
	v := startVerifier(t, all...)
	for _, m := range all {
		if _, err := m.prove(v.Addr(), m.seal(8<<10, 4<<10), nil); err != nil {
			t.Fatal(err)
		}
	}
	var saved struct {
		parts [][]byte
		sig   []byte
	}
	replay.mu.Lock()
	replay.resign = func(parts [][]byte, sig []byte) ([][]byte, []byte) {
		saved.parts, saved.sig = parts, sig
		return parts, sig
	}
	replay.mu.Unlock()
	_, rec := v.round(t)
	for _, m := range all {
		if got := verdictsOf(rec, m.key.ID()); got[0] != VerdictPass {
			t.Fatalf("round 1: %v", got)
		}
	}
	flipped.mu.Lock()
	flipped.resign = func(parts [][]byte, sig []byte) ([][]byte, []byte) {
		sig[0] ^= 1
		return parts, sig
	}
	flipped.mu.Unlock()
	other.mu.Lock()
	other.signer, _ = identity.Generate()
	other.mu.Unlock()
	replay.mu.Lock()
	replay.resign = func([][]byte, []byte) ([][]byte, []byte) { return saved.parts, saved.sig }
	replay.mu.Unlock()
	_, rec = v.round(t)
	for _, m := range all {
		want := VerdictUnsigned
		if m == honest {
			want = VerdictPass
		}
		if got := verdictsOf(rec, m.key.ID()); got[0] != want {
			t.Fatalf("miner %d: %v, want %v", slices.Index(all, m), got, want)
		}
	}
	if mm, err := Check(rec); err != nil || len(mm) != 0 {
		t.Fatalf("check of the round as recorded: %v, %v", mm, err)
	}

	// A verifier that alters the honest response and records it invalid,
	// or invents a passing response for a miner that answered with
	// another's, is caught: the record's response is not the miner's.
	forge := func(edit func(rec *RoundRecord, i int)) []Mismatch {
		back, err := ParseRoundRecord(rec.Append(nil))
		if err != nil {
			t.Fatal(err)
		}
		for i := range back.Miners {
			edit(back, i)
		}
		mm, err := Check(back)
		if err != nil {
			t.Fatal(err)
		}
		return mm
	}
	mm := forge(func(r *RoundRecord, i int) {
		if m := &r.Miners[i]; m.Miner == honest.key.ID() {
			m.Parts[0][len(m.Parts[0])-1] ^= 1
			m.Replicas[0].Verdict = VerdictInvalid
		}
	})
	if len(mm) != 1 || mm[0].Miner != honest.key.ID() || mm[0].Judged != VerdictUnsigned {
		t.Fatalf("altered response: %v", mm)
	}
	var honestEntry MinerRound
	for _, m := range rec.Miners {
		if m.Miner == honest.key.ID() {
			honestEntry = m
		}
	}
	mm = forge(func(r *RoundRecord, i int) {
		if m := &r.Miners[i]; m.Miner == other.key.ID() {
			m.Parts, m.Streams = honestEntry.Parts, honestEntry.Streams
			m.Replicas[0].Verdict = VerdictPass
		}
	})
	if len(mm) != 1 || mm[0].Miner != other.key.ID() || mm[0].Recorded != VerdictPass || mm[0].Judged != VerdictUnsigned {
		t.Fatalf("another miner's response recorded as this one's: %v", mm)
	}
	// A record naming another verifier than the one the miners answered.
	mm = forge(func(r *RoundRecord, _ int) { r.Verifier = other.key.ID() })
	if len(mm) != 1 || mm[0].Miner != honest.key.ID() || mm[0].Recorded != VerdictPass {
		t.Fatalf("record of another verifier: %v", mm)
	}
}

// A replica the indexer no longer lists (its file was removed with ppstore
// rm) is dropped when it comes up for repair: no copy is made and it is not
// challenged again. While the indexer cannot be asked, it stays.
func TestUnlistedReplicaIsDroppedNotRepaired(t *testing.T) {
	a, b, c := newFakeMiner(t), newFakeMiner(t), newFakeMiner(t)
	v := startVerifier(t, a, b, c)
	sa := provenOnTwo(t, v, a, b)
	for _, m := range []*fakeMiner{a, b, c} {
		m.mu.Lock()
		m.source = func(shard.Digest) []byte { return sa.data }
		m.mu.Unlock()
	}
	// The owner removes the file: the indexer forgets the shard and b,
	// told to drop it, answers no more.
	v.index.mu.Lock()
	delete(v.index.holders, sa.c)
	v.index.mu.Unlock()
	b.mu.Lock()
	b.cheat = func(r *proofs.PoStResponse) { r.Proofs[0].Openings[0].Leaf[0] ^= 1 }
	b.mu.Unlock()
	for i := 0; i < v.cfg.MissesToRepair; i++ {
		v.round(t)
	}
	if r := recordedMiners(t, v)[b.key.ID()]; r == nil || r.Status != StatusRepairing {
		t.Fatalf("b's record before RunRepairs: %+v", r)
	}
	if err := v.RunRepairs(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	copied := c.held[sa.c] != nil
	c.mu.Unlock()
	if copied {
		t.Fatal("a replica of a removed file was repaired onto another miner")
	}
	got := recordedMiners(t, v)
	if got[b.key.ID()] != nil {
		t.Fatal("the unlisted replica is still recorded (and challenged)")
	}
	if got[a.key.ID()] == nil {
		t.Fatal("a replica that did not come up for repair was dropped")
	}
	_, rec := v.round(t)
	if vs := verdictsOf(rec, b.key.ID()); len(vs) != 0 {
		t.Fatalf("the dropped replica was challenged again: %v", vs)
	}
}

// An indexer that cannot be asked leaves a repairing replica recorded and
// the error is reported.
func TestUnreachableIndexLeavesTheRepairingReplica(t *testing.T) {
	a, b := newFakeMiner(t), newFakeMiner(t)
	v := startVerifier(t, a, b)
	sa := a.seal(20<<10, 4<<10)
	if _, err := a.prove(v.Addr(), sa, nil); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	a.cheat = func(r *proofs.PoStResponse) { r.Proofs[0].Openings[0].Leaf[0] ^= 1 }
	a.mu.Unlock()
	for i := 0; i < v.cfg.MissesToRepair; i++ {
		v.round(t)
	}
	v.SetIndex(downIndex{})
	if err := v.RunRepairs(context.Background()); err == nil || !errors.Is(err, wire.ErrUnavailable) {
		t.Fatalf("RunRepairs with the indexer down: %v, want ErrUnavailable", err)
	}
	if r := recordedMiners(t, v)[a.key.ID()]; r == nil || r.Status != StatusRepairing {
		t.Fatalf("record after a failed ask: %+v", r)
	}
}

// downIndex is an indexer that cannot be reached.
type downIndex struct{}

func (downIndex) Proven(context.Context, cid.Cid, identity.PeerID, uint64) error {
	return wire.Errorf(wire.CodeUnavailable, "indexer unreachable")
}

func (downIndex) Replace(context.Context, cid.Cid, identity.PeerID, identity.PeerID, uint64) error {
	return wire.Errorf(wire.CodeUnavailable, "indexer unreachable")
}

// provenOnTwo makes v's index check reports, seals one shard on a and b,
// commits it with both as holders and proves both replicas.
func provenOnTwo(t *testing.T, v *testVerifier, a, b *fakeMiner) *sealedShard {
	t.Helper()
	v.index.mu.Lock()
	v.index.all = false
	v.index.mu.Unlock()
	sa := a.seal(20<<10, 4<<10)
	sb := b.sealData(sa.data, 4<<10)
	v.index.commit(sa, a, b)
	for _, p := range []struct {
		m *fakeMiner
		s *sealedShard
	}{{a, sa}, {b, sb}} {
		if _, err := p.m.prove(v.Addr(), p.s, nil); err != nil {
			t.Fatal(err)
		}
	}
	return sa
}
