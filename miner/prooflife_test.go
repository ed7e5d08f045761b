package miner

import (
	"bytes"
	"context"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/proofs"
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
