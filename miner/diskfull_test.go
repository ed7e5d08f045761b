package miner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/ppstore/ppstore/internal/faultfs"
	"github.com/ppstore/ppstore/internal/pebbledb"
	"github.com/ppstore/ppstore/internal/testutil"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/wire"
)

func wantNoSpace(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, wire.ErrNoSpace) || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("upload on a full disk: err = %v, want CodeNoSpace saying the disk is full", err)
	}
}

// nothingOf checks that m keeps nothing of sh: no temp file, no shard file,
// no record (in memory or, after a restart, in pebble).
func nothingOf(t *testing.T, m *testMiner, sh *shard.Shard) {
	t.Helper()
	if es, _ := os.ReadDir(filepath.Join(m.dir, "tmp")); len(es) > 0 {
		t.Fatalf("temp files left: %v", es)
	}
	if _, err := os.Stat(m.store.shardPath(sh.Root)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("shard file of the refused upload: %v", err)
	}
	if m.store.get(sh.Root) != nil {
		t.Fatal("record of the refused upload kept")
	}
}

// A full disk at each step of storing a shard after its bytes are written:
// the fsync of its temp file, the rename into place, the fsync of its
// folder. Each time the uploader gets CodeNoSpace naming the full disk,
// nothing of the shard stays (temp file, shard file, record), the miner
// keeps serving the shard it had, and stores the new one once the disk has
// room. The faults go through the store's file system (Config.fs), the seam
// every shard file operation takes.
func TestDiskFullAfterWrite(t *testing.T) {
	cli := newClient(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		under string // the part of the data dir whose operations fail
		op    faultfs.Op
	}{
		{"fsync of the shard file", "tmp", faultfs.Sync},
		{"rename into place", "shards", faultfs.Rename},
		{"fsync of the shard folder", "shards", faultfs.Sync},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ffs := faultfs.Wrap(vfs.Default, filepath.Join(dir, tc.under))
			m := startMiner(t, dir, func(c *Config) { c.fs = ffs })
			had := makeShard(t, testShardSize, testPieceSize)
			if _, err := put(ctx, cli, m.Addr(), had, nil, defaultPut(testPieceSize)); err != nil {
				t.Fatal(err)
			}
			used, _, _ := m.store.usage()

			sh := makeShard(t, testShardSize, testPieceSize)
			ffs.Fail(tc.op)
			_, err := put(ctx, cli, m.Addr(), sh, nil, defaultPut(testPieceSize))
			ffs.Fail()
			wantNoSpace(t, err)
			if ffs.Injected(tc.op) == 0 {
				t.Fatalf("no %v failed: the test exercised nothing", tc.op)
			}
			nothingOf(t, m, sh)
			if u, _, _ := m.store.usage(); u != used {
				t.Fatalf("used %d after the refused upload, %d before", u, used)
			}
			m.store.mu.Lock()
			reserved := m.store.reserved
			m.store.mu.Unlock()
			if reserved != 0 {
				t.Fatalf("%d bytes still reserved after the refused upload", reserved)
			}
			checkServes(t, cli, m, had)

			res, err := put(ctx, cli, m.Addr(), sh, nil, defaultPut(testPieceSize))
			if err != nil {
				t.Fatalf("upload once the disk has room: %v", err)
			}
			checkReceipts(t, res, sh, cli.ID(), m)
			checkServes(t, cli, m, sh)
		})
	}
}

// A full disk at pebble's write or sync of the shard's record (its log):
// pebble cannot go on after that, so the miner answers the upload with
// CodeNoSpace, keeps nothing of the shard, and stops with an error naming
// its database folder and what to do, instead of panicking inside pebble.
// Restarted with room, it has lost nothing it had acknowledged, keeps no
// record or file of the failed shard, and stores it.
func TestDiskFullAtTheRecord(t *testing.T) {
	cli := newClient(t)
	ctx := context.Background()
	for _, op := range []faultfs.Op{faultfs.Write, faultfs.Sync} {
		t.Run("pebble "+op.String(), func(t *testing.T) {
			dir := t.TempDir()
			ffs := faultfs.Wrap(vfs.Default, filepath.Join(dir, "db"))
			m := startMiner(t, dir, func(c *Config) { c.fs = ffs })
			had := makeShard(t, testShardSize, testPieceSize)
			if _, err := put(ctx, cli, m.Addr(), had, nil, defaultPut(testPieceSize)); err != nil {
				t.Fatal(err)
			}

			sh := makeShard(t, testShardSize, testPieceSize)
			ffs.Fail(op)
			_, err := put(ctx, cli, m.Addr(), sh, nil, defaultPut(testPieceSize))
			ffs.Fail()
			wantNoSpace(t, err)
			if ffs.Injected(op) == 0 {
				t.Fatalf("no pebble %v failed: the test exercised nothing", op)
			}
			nothingOf(t, m, sh)

			// The miner stops by itself, saying why and what to do.
			runErr, ok := testutil.Within(m.done, testutil.Wait)
			if !ok {
				t.Fatalf("the miner did not stop within %v of its database failing", testutil.Wait)
			}
			if !errors.Is(runErr, pebbledb.ErrDiskFull) || !strings.Contains(runErr.Error(), filepath.Join(dir, "db")) ||
				!strings.Contains(runErr.Error(), "free space") {
				t.Fatalf("Run = %v, want the disk-full failure naming %s and the remedy", runErr, filepath.Join(dir, "db"))
			}
			m.stopOnce.Do(func() {
				m.cancel()
				if err := m.Close(); !errors.Is(err, pebbledb.ErrFailed) {
					t.Errorf("Close = %v, want the database's failure", err)
				}
			})

			m2 := startMiner(t, dir, nil)
			cli := newClient(t) // a pooled connection to the stopped miner would wait for its idle timeout
			nothingOf(t, m2, sh)
			checkServes(t, cli, m2, had)
			res, err := put(ctx, cli, m2.Addr(), sh, nil, defaultPut(testPieceSize))
			if err != nil {
				t.Fatalf("upload after the restart, the disk having room: %v", err)
			}
			checkReceipts(t, res, sh, cli.ID(), m2)
			checkServes(t, cli, m2, sh)
		})
	}
}

// Below the database's headroom the miner refuses uploads with CodeNoSpace
// before a byte is written, so shards never take the room pebble needs for
// their records; it still serves what it has.
func TestUploadsLeaveTheDatabaseItsRoom(t *testing.T) {
	cli := newClient(t)
	ctx := context.Background()
	dir := t.TempDir()
	ffs := faultfs.Wrap(vfs.Default, dir)
	m := startMiner(t, dir, func(c *Config) { c.fs = ffs })
	had := makeShard(t, testShardSize, testPieceSize)
	if _, err := put(ctx, cli, m.Addr(), had, nil, defaultPut(testPieceSize)); err != nil {
		t.Fatal(err)
	}

	// Room for the shard, but not for the shard and the database's headroom.
	ffs.SetAvail(m.store.db.Headroom() + testShardSize/2)
	if _, free, _ := m.store.usage(); free != testShardSize/2 {
		t.Fatalf("free = %d, want what the disk has beyond the database's headroom (%d)", free, testShardSize/2)
	}
	sh := makeShard(t, testShardSize, testPieceSize)
	_, err := put(ctx, cli, m.Addr(), sh, nil, defaultPut(testPieceSize))
	if !errors.Is(err, wire.ErrNoSpace) {
		t.Fatalf("upload into the database's headroom: err = %v, want CodeNoSpace", err)
	}
	nothingOf(t, m, sh)
	checkServes(t, cli, m, had)

	ffs.SetAvail(-1)
	if _, err := put(ctx, cli, m.Addr(), sh, nil, defaultPut(testPieceSize)); err != nil {
		t.Fatalf("upload with room again: %v", err)
	}
}
