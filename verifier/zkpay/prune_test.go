package zkpay

import (
	"encoding/binary"
	"maps"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/ppstore/ppstore/verifier"
	dto "github.com/prometheus/client_model/go"
)

// paidByEpoch counts the ledger's paid-pass records ('d') per epoch.
func paidByEpoch(h *harness, p *Payer) map[uint64]int {
	h.t.Helper()
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: []byte{'d'}, UpperBound: []byte{'e'}})
	if err != nil {
		h.t.Fatal(err)
	}
	defer it.Close()
	out := map[uint64]int{}
	for it.First(); it.Valid(); it.Next() {
		out[binary.BigEndian.Uint64(it.Key()[1:9])]++
	}
	if err := it.Error(); err != nil {
		h.t.Fatal(err)
	}
	return out
}

// epochs lists the epochs of a paidByEpoch map in order.
func epochs(m map[uint64]int) []uint64 { return slices.Sorted(maps.Keys(m)) }

func counter(h *harness, c interface{ Write(*dto.Metric) error }) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		h.t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// passRecord is the round record of epoch in which m passed shards.
func passRecord(h *harness, epoch uint64, m *miner, shards ...int) *verifier.RoundRecord {
	mr := verifier.MinerRound{Miner: m.id.ID(), Answered: true}
	for _, s := range shards {
		mr.Replicas = append(mr.Replicas, verifier.RoundReplica{Shard: shardCID(h.t, s), Verdict: verifier.VerdictPass})
	}
	return &verifier.RoundRecord{Epoch: epoch, Miners: []verifier.MinerRound{mr}}
}

// After many settlements the ledger holds the paid passes of the last
// KeepPaidEpochs epochs only, and the metric counts what went. A ledger
// that grew under a longer window is pruned a bounded step per
// settlement, whole epochs at a time.
func TestLedgerKeepsOnlyTheWindow(t *testing.T) {
	h := newHarness(t)
	a := h.add(honest)
	p := h.payerWith(func(c *Config) { c.KeepPaidEpochs = 4 })
	h.fund(p.Address(), 10_000)
	for e := uint64(1); e <= 12; e++ {
		if err := p.PayRound(h.ctx(), e, passes(t, e, a, 1, 2)); err != nil {
			t.Fatal(err)
		}
	}
	if got := epochs(paidByEpoch(h, p)); !slices.Equal(got, []uint64{9, 10, 11, 12}) {
		t.Fatalf("paid records of epochs %v, want 9-12", got)
	}
	if n := counter(h, p.metrics.pruned); n != 16 {
		t.Fatalf("%v records counted pruned, want 16 (epochs 1-8, two passes each)", n)
	}
	if floor, _ := p.meta('p'); floor != 9 {
		t.Fatalf("floor %d, want 9", floor)
	}
	if got, _ := h.pending(a.key); got != 240 {
		t.Fatalf("a holds %d, want 240", got)
	}

	// A shorter window, three records a step: epochs 9 and 10 go at the next
	// settlement (four records: the step ends at an epoch's end), 11 and 12
	// at the one after.
	p.Close()
	p = h.payerWith(func(c *Config) { c.KeepPaidEpochs = 2 })
	p.pruneStep = 3
	if err := p.PayRound(h.ctx(), 13, passes(t, 13, a, 1, 2)); err != nil {
		t.Fatal(err)
	}
	if got := epochs(paidByEpoch(h, p)); !slices.Equal(got, []uint64{11, 12, 13}) {
		t.Fatalf("after one bounded step: paid records of epochs %v, want 11-13", got)
	}
	if floor, _ := p.meta('p'); floor != 11 {
		t.Fatalf("floor %d after one bounded step, want 11", floor)
	}
	if err := p.PayRound(h.ctx(), 14, passes(t, 14, a, 1, 2)); err != nil {
		t.Fatal(err)
	}
	if got := epochs(paidByEpoch(h, p)); !slices.Equal(got, []uint64{13, 14}) {
		t.Fatalf("after two bounded steps: paid records of epochs %v, want 13-14", got)
	}
	if n := counter(h, p.metrics.pruned); n != 8 {
		t.Fatalf("%v records counted pruned by the second payer, want 8", n)
	}
}

// Pruning pays nothing twice: a round judged and not handed over before a
// crash is read back and paid once; a transfer signed before a crash, whose
// paid records are pruned while the operator is down, is resubmitted and
// applied once; and every round handed over again afterwards, paid records
// pruned or not, is recorded as neither owed nor paid.
func TestReplayAfterPruningPaysNothingTwice(t *testing.T) {
	h := newHarness(t)
	a := h.add(honest)
	keep2 := func(c *Config) { c.KeepPaidEpochs = 2 }
	p := h.payerWith(keep2)
	h.fund(p.Address(), 1000)
	for e := uint64(1); e <= 6; e++ {
		h.writeRound(passRecord(h, e, a, 1))
		if err := p.PayRound(h.ctx(), e, passes(t, e, a, 1)); err != nil {
			t.Fatal(err)
		}
	}
	// Round 7 judged and written; the verifier killed before handing it over.
	h.writeRound(passRecord(h, 7, a, 1))
	p.Close()
	p = h.payerWith(keep2)
	h.writeRound(passRecord(h, 8, a, 1))
	if err := p.PayRound(h.ctx(), 8, passes(t, 8, a, 1)); err != nil {
		t.Fatal(err)
	}
	if got, _ := h.pending(a.key); got != 80 {
		t.Fatalf("a holds %d after rounds 1-8, want 80", got)
	}
	if got := epochs(paidByEpoch(h, p)); !slices.Equal(got, []uint64{7, 8}) {
		t.Fatalf("paid records of epochs %v, want 7-8", got)
	}

	// A pass owed since epoch 3 (paid late: below the floor by now) is
	// signed into a transfer, and the payer crashes before submitting it.
	h.outstanding(p, a, 3, 2)
	p.Close()
	listen := h.op.listen
	h.op.stop()
	p = h.payerWith(keep2)
	if err := p.PayRound(h.ctx(), 9, passes(t, 9, a, 1)); err == nil {
		t.Fatal("a settlement with the operator down reported no failure")
	}
	if o, err := p.loadOutstanding(); err != nil || o == nil {
		t.Fatalf("the signed transfer is no longer outstanding (%v)", err)
	}
	if n := paidByEpoch(h, p)[3]; n != 0 {
		t.Fatalf("%d paid records of epoch 3 left: the outstanding transfer's were not pruned, the test proves nothing", n)
	}
	h.op = startOperator(t, h.op.dir, listen, h.ch)
	if err := p.PayRound(h.ctx(), 10, passes(t, 10, a, 1)); err != nil {
		t.Fatalf("settlement with the operator back: %v", err)
	}
	if got, _ := h.pending(a.key); got != 110 {
		t.Fatalf("a holds %d, want 110 (rounds 1-10 and the late pass of epoch 3)", got)
	}
	_, nonce := h.pending(h.verifierKey(t))

	// Every pass paid handed over again after a restart, the late one too:
	// those of epochs 1-8 are below the floor (9), those of 9-10 paid.
	p.Close()
	p = h.payerWith(keep2)
	for e := uint64(1); e <= 10; e++ {
		again := passes(t, e, a, 1)
		if e == 3 {
			again = passes(t, e, a, 1, 2)
		}
		if err := p.PayRound(h.ctx(), e, again); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Settle(h.ctx()); err != nil {
		t.Fatal(err)
	}
	if got, again := h.pending(h.verifierKey(t)); again != nonce || got != 1000-110 {
		t.Fatalf("rounds handed over again were paid: nonce %d → %d, balance %d", nonce, again, got)
	}
	if n, _ := p.Owed(); n != 0 {
		t.Fatalf("%d passes owed after every round was handed over again", n)
	}
	if n := counter(h, p.metrics.stale); n != 9 {
		t.Fatalf("%v passes counted stale, want 9 (those of epochs 1-8)", n)
	}
}
