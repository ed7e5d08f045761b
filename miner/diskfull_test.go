package miner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/ppstore/ppstore/internal/faultfs"
	"github.com/ppstore/ppstore/wire"
)

// A full disk at the other steps of storing a shard, not only at Write:
// when the shard's temp file is fsynced, and when pebble writes or syncs the
// shard's record. Each time the uploader gets CodeNoSpace naming the full
// disk, nothing of the shard stays (temp file, shard file, record; after a
// restart too), and the miner stores the shard once the disk has room.
// (A full disk at the rename into place is not tested: the store renames
// with os.Rename directly and has no seam there yet. The pebble cases are
// skipped until the store keeps pebble off a full disk: see below.)
func TestDiskFullAfterWrite(t *testing.T) {
	cli := newClient(t)
	ctx := context.Background()
	wantNoSpace := func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, wire.ErrNoSpace) || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("upload on a full disk: err = %v, want CodeNoSpace saying the disk is full", err)
		}
	}

	t.Run("fsync of the shard file", func(t *testing.T) {
		m := startMiner(t, "", nil)
		sh := makeShard(t, testShardSize, testPieceSize)
		var syncs atomic.Int32 // counted on the miner's goroutine, read here
		m.store.mu.Lock()
		m.store.createTemp = func(dir string) (file, error) {
			f, err := createTemp(dir)
			if err != nil {
				return nil, err
			}
			return &noSyncFile{file: f, syncs: &syncs}, nil
		}
		m.store.mu.Unlock()
		_, err := put(ctx, cli, m.Addr(), sh, nil, defaultPut(testPieceSize))
		wantNoSpace(t, err)
		if syncs.Load() == 0 {
			t.Fatal("the upload failed before its fsync: the test exercised nothing")
		}
		nothingKept(t, sh, m)
		restoreDisk(m.store)
		res, err := put(ctx, cli, m.Addr(), sh, nil, defaultPut(testPieceSize))
		if err != nil {
			t.Fatalf("upload once the disk has room: %v", err)
		}
		checkReceipts(t, res, sh, cli.ID(), m)
		checkServes(t, cli, m, sh)
	})

	for _, op := range []faultfs.Op{faultfs.Write, faultfs.Sync} {
		t.Run("pebble "+op.String()+" of the record", func(t *testing.T) {
			// pebble v1.1.5 takes a failed WAL write or sync as fatal
			// (db.go: "fatal commit error") and calls Logger.Fatalf, which
			// the store's pebbleLogger turns into a panic: the miner dies
			// instead of answering CodeNoSpace. pebble cannot go on after a
			// WAL error, so the fix is to keep it from meeting one: the store
			// must refuse an upload (CodeNoSpace) unless the disk keeps
			// headroom for pebble beyond the shard. That is in store.go,
			// outside this branch; remove this skip with that fix.
			if os.Getenv("PPSTORE_PENDING_FIXES") == "" {
				t.Skip("a full disk at pebble's WAL crashes the miner (see the comment); set PPSTORE_PENDING_FIXES=1 to run")
			}
			dir := t.TempDir()
			// The store opens pebble on vfs.Default; the miner's database
			// keeps the wrapped file system it was opened with.
			ffs := faultfs.Wrap(vfs.Default, filepath.Join(dir, "db"))
			orig := vfs.Default
			vfs.Default = ffs
			m := startMiner(t, dir, nil)
			vfs.Default = orig

			sh := makeShard(t, testShardSize, testPieceSize)
			ffs.Fail(op)
			_, err := put(ctx, cli, m.Addr(), sh, nil, defaultPut(testPieceSize))
			ffs.Fail()
			wantNoSpace(t, err)
			if ffs.Injected(op) == 0 {
				t.Fatalf("no pebble %v failed: the test exercised nothing", op)
			}
			nothingKept(t, sh, m)

			// Whatever pebble kept of the failed write, a restart keeps no
			// record of the shard and no file.
			m.stop()
			m2 := startMiner(t, dir, nil)
			nothingKept(t, sh, m2)
			res, err := put(ctx, cli, m2.Addr(), sh, nil, defaultPut(testPieceSize))
			if err != nil {
				t.Fatalf("upload after the restart, the disk having room: %v", err)
			}
			checkReceipts(t, res, sh, cli.ID(), m2)
			checkServes(t, cli, m2, sh)
		})
	}
}

// noSyncFile is a temp file whose fsync fails as on a full disk (the file
// system found no room for delayed allocations).
type noSyncFile struct {
	file
	syncs *atomic.Int32
}

func (f *noSyncFile) Sync() error {
	f.syncs.Add(1)
	return &os.PathError{Op: "fsync", Path: f.Name(), Err: syscall.ENOSPC}
}
