package miner

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/ppstore/ppstore/proofs"
	"github.com/ppstore/ppstore/shard"
	"github.com/prometheus/client_golang/prometheus"
)

// sealParams keep sealing in tests to milliseconds.
var sealParams = proofs.Params{Rounds: 2, MinSealBlocks: 4096}

func withSealing(c *Config) { c.Proofs = sealParams }

func storeSealed(t testing.TB, m *testMiner, size, pieceSize int) *shard.Shard {
	t.Helper()
	cli := newClient(t)
	sh := makeShard(t, size, pieceSize)
	if _, err := put(context.Background(), cli, m.Addr(), sh, nil, defaultPut(pieceSize)); err != nil {
		t.Fatal(err)
	}
	return sh
}

func TestSealedReplicaServesPiecesWithoutUnsealedCopy(t *testing.T) {
	dir := t.TempDir()
	m := startMiner(t, dir, withSealing)
	// 100,001 bytes: not a whole number of blocks, so the replica has a tail.
	sh := storeSealed(t, m, 100_001, 16<<10)
	if err := m.sealer.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	si := m.sealer.info(sh.Root)
	if si == nil || si.state != sealDone {
		t.Fatalf("shard not sealed: %+v", si)
	}
	file, err := os.ReadFile(m.store.shardPath(sh.Root))
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(file)) != int64(len(sh.Data)) {
		t.Fatalf("sealed file has %d bytes, want the shard's %d", len(file), len(sh.Data))
	}
	for i := range sh.Pieces {
		if bytes.Contains(file, sh.Piece(i, 16<<10)[:64]) {
			t.Fatalf("the shard file still holds unsealed bytes of piece %d", i)
		}
	}
	cli := newClient(t)
	checkServes(t, cli, m, sh)
	getRange(t, cli, m.Addr(), sh, 2, 4)

	// After a restart the miner knows the shard is sealed.
	m.stop()
	m = startMiner(t, dir, withSealing)
	if m.sealer.info(sh.Root) == nil {
		t.Fatal("sealing record lost at restart")
	}
	checkServes(t, cli, m, sh)
}

func TestSealInBackgroundAfterUpload(t *testing.T) {
	m := startMiner(t, "", func(c *Config) { withSealing(c); c.sealOff = false })
	sh := storeSealed(t, m, 40<<10, 8<<10)
	eventually(t, func() error {
		if m.sealer.info(sh.Root) == nil {
			return errors.New("not sealed yet")
		}
		return nil
	})
	checkServes(t, newClient(t), m, sh)
}

// A crash after the sealing record was written and before the sealed file
// was renamed into place: at startup the miner sees the file is still
// plain, drops the record and seals again.
func TestSealPendingAtStartupIsSettled(t *testing.T) {
	dir := t.TempDir()
	m := startMiner(t, dir, withSealing)
	plain := storeSealed(t, m, 30<<10, 8<<10)
	done := storeSealed(t, m, 20<<10, 8<<10)
	if err := m.sealer.seal(context.Background(), done.Root, false); err != nil {
		t.Fatal(err)
	}
	pending := &sealInfo{state: sealPending, layers: 2, commR: shard.Digest{1}}
	if err := m.store.db.Set(sealKey(plain.CID()), pending.encode(), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	si := *m.sealer.info(done.Root)
	si.state = sealPending
	if err := m.store.db.Set(sealKey(done.CID()), si.encode(), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	m.stop()

	m = startMiner(t, dir, withSealing)
	if m.sealer.info(plain.Root) != nil {
		t.Error("a pending record over a plain file was kept")
	}
	if got := m.sealer.info(done.Root); got == nil || got.state != sealDone {
		t.Errorf("a pending record over a sealed file: %+v, want done", got)
	}
	cli := newClient(t)
	checkServes(t, cli, m, plain)
	checkServes(t, cli, m, done)
	if err := m.sealer.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m.sealer.info(plain.Root) == nil {
		t.Error("the plain shard was not sealed again")
	}
	checkServes(t, cli, m, plain)
}

func TestSealRefusesCorruptShard(t *testing.T) {
	m := startMiner(t, "", withSealing)
	sh := storeSealed(t, m, 20<<10, 8<<10)
	f, err := os.OpenFile(m.store.shardPath(sh.Root), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{^sh.Data[100]}, 100)
	f.Close()
	if err := m.sealer.RunOnce(context.Background()); err == nil {
		t.Fatal("sealed a shard that does not match its digests")
	}
	if m.sealer.info(sh.Root) != nil {
		t.Fatal("a corrupt shard was recorded as sealed")
	}
}

var _ = time.Second

// Close called while Run's chores are busy (here the sealer, with shards to
// seal) ends them and waits for them before it closes the store: no chore
// writes to a closed database, and Run returns. Run's context is not
// cancelled first, as a caller may well not.
func TestCloseWaitsForRunsChores(t *testing.T) {
	cfg := testConfig(t.TempDir())
	withSealing(&cfg)
	cfg.sealOff = false
	p, err := New(cfg, testLogger(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	cli := newClient(t)
	for i := 0; i < 4; i++ {
		sh := makeShard(t, 64<<10, 8<<10)
		if _, err := put(context.Background(), cli, p.Addr(), sh, nil, defaultPut(8<<10)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run ended by close: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of Close")
	}
	ran := make(chan error, 1)
	go func() { ran <- p.Run(context.Background()) }()
	select {
	case err := <-ran:
		if err != nil {
			t.Fatalf("run after close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run after Close did not return at once")
	}
}
