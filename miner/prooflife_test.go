package miner

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/proofs"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
)

// A miner's PoSt response ends with its signature over the round, the
// verifier asking and the parts: it verifies under the miner's peer ID and
// for nothing else.
func TestPoStResponseIsSigned(t *testing.T) {
	m := startMiner(t, "", withSealing)
	sh := storeSealed(t, m, 40_000, 8<<10)
	if err := m.sealer.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	cli := newClient(t)
	s, err := cli.Open(context.Background(), m.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ch := &wire.PoStChallenge{Epoch: 7, Seed: [32]byte{3}, Deadline: 1 << 50, Shards: []cid.Cid{sh.CID()}}
	if err := s.Send(ch); err != nil {
		t.Fatal(err)
	}
	s.CloseWrite()
	var parts [][]byte
	for {
		var part wire.PoStPart
		if err := s.Expect(&part); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, bytes.Clone(part.Response))
		if part.Last {
			break
		}
	}
	var sig wire.PoStSignature
	if err := s.Expect(&sig); err != nil {
		t.Fatalf("no signature after the last part: %v", err)
	}
	miner := m.Addr().Peer
	if !wire.VerifyPoSt(miner, sig.Sig, ch.Epoch, ch.Seed, cli.Self().Peer, parts) {
		t.Fatal("the miner's signature does not verify")
	}
	if wire.VerifyPoSt(miner, sig.Sig, ch.Epoch+1, ch.Seed, cli.Self().Peer, parts) ||
		wire.VerifyPoSt(miner, sig.Sig, ch.Epoch, ch.Seed, miner, parts) {
		t.Fatal("the signature holds for another round or verifier")
	}
	resp, err := proofs.ParsePoStResponse(parts[0])
	if err != nil || len(resp.Proofs) != 1 || resp.Epoch != ch.Epoch {
		t.Fatalf("response %+v, %v", resp, err)
	}
}

// A PoRep refused because the shard is not committed yet (the put's commit
// follows its uploads) is retried within a second, not after proveRetry,
// and is no error of the proving chore.
func TestPoRepBeforeTheCommitIsRetriedSoon(t *testing.T) {
	m := startMiner(t, "", withSealing)
	storeSealed(t, m, 40_000, 8<<10)
	ctx := context.Background()
	if err := m.sealer.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	v := newClient(t)
	var calls atomic.Int32
	v.Handle(wire.TypeSealCommit, func(context.Context, *transport.Stream, wire.Message) error {
		calls.Add(1)
		return wire.Errorf(wire.CodeNotCommitted, "no committed file holds it yet")
	})
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { v.Serve(sctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	asVerifier(m, v.Self())
	select { // nothing pending
	case <-m.sealer.wake:
	default:
	}
	for i, want := range []time.Duration{earlyRetry, 2 * earlyRetry} {
		start := time.Now()
		if err := m.prover.RunOnce(ctx); err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
		select {
		case <-m.sealer.wake:
		case <-time.After(proveRetry):
			t.Fatalf("attempt %d: no early retry within %v", i, proveRetry)
		}
		if took := time.Since(start); took < want {
			t.Fatalf("attempt %d: retried after %v, want the backoff's %v", i, took, want)
		}
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d PoReps sent, want 2", n)
	}
}
