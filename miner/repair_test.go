package miner

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/ppstore/ppstore/wire"
)

// asVerifier makes m take cli as its region's verifier.
func asVerifier(m *testMiner, cli wire.NodeAddr) {
	m.prover.mu.Lock()
	m.prover.verifier = func(context.Context) (wire.NodeAddr, error) { return cli, nil }
	m.prover.mu.Unlock()
}

func TestRepairCopiesFromAnotherMinerCheckingEveryPiece(t *testing.T) {
	src, dst := startMiner(t, "", withSealing), startMiner(t, "", withSealing)
	sh := storeSealed(t, src, 70_000, 16<<10)
	if err := src.sealer.RunOnce(context.Background()); err != nil { // serve from the sealed replica
		t.Fatal(err)
	}
	cli := newClient(t)
	req := &wire.RepairShard{Shard: sh.CID(), Size: uint64(len(sh.Data)), PieceSize: 16 << 10, Source: src.Addr()}

	// Anyone but the verifier is refused.
	if err := cli.Call(context.Background(), dst.Addr(), req, &wire.RepairDone{}); !errors.Is(err, wire.ErrUnauthorized) {
		t.Fatalf("repair asked by a stranger: %v, want ErrUnauthorized", err)
	}
	asVerifier(dst, cli.Self())
	if err := cli.Call(context.Background(), dst.Addr(), req, &wire.RepairDone{}); err != nil {
		t.Fatal(err)
	}
	checkServes(t, cli, dst, sh)
}

func TestRepairRefusesACorruptSource(t *testing.T) {
	src, dst := startMiner(t, "", nil), startMiner(t, "", nil)
	sh := storeSealed(t, src, 40_000, 8<<10)
	f, err := os.OpenFile(src.store.shardPath(sh.Root), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{^sh.Data[20_000]}, 20_000)
	f.Close()
	cli := newClient(t)
	asVerifier(dst, cli.Self())
	req := &wire.RepairShard{Shard: sh.CID(), Size: uint64(len(sh.Data)), PieceSize: 8 << 10, Source: src.Addr()}
	if err := cli.Call(context.Background(), dst.Addr(), req, &wire.RepairDone{}); !errors.Is(err, wire.ErrCorrupt) {
		t.Fatalf("repair from a corrupt source: %v, want ErrCorrupt", err)
	}
	nothingKept(t, sh, dst)
}
