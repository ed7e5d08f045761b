package indexer

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/ppstore/ppstore/config"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/internal/faultfs"
	"github.com/ppstore/ppstore/internal/pebbledb"
	"github.com/ppstore/ppstore/internal/testutil"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
)

// fullDiskRegion is an indexer on a file system a test can fill, a fake
// bootstrap listing five miners, and a client.
type fullDiskRegion struct {
	dir    string
	cfg    Config
	ffs    *faultfs.FS
	p      *Peer
	done   chan error // Run's result
	cancel context.CancelFunc
	key    *identity.Key
	cli    *transport.Node
	miners []*identity.Key
	addrOf map[identity.PeerID]*identity.Key
}

func newFullDiskRegion(t *testing.T) *fullDiskRegion {
	t.Helper()
	r := &fullDiskRegion{dir: t.TempDir(), miners: testKeys(0, 5), key: testKey(1000), addrOf: map[identity.PeerID]*identity.Key{}}
	for _, k := range r.miners {
		r.addrOf[k.ID()] = k
	}
	boot := newStubBootstrap(t, minerRecords(r.miners, 1<<30, 1))
	r.ffs = faultfs.Wrap(vfs.Default, filepath.Join(r.dir, "db"))
	r.cfg = Config{DataDir: r.dir, Region: "test", Bootstrap: []string{config.FormatPeerAddr(boot.node.Self())}, fs: r.ffs}
	r.start(t)
	return r
}

// start runs an indexer on r's data directory.
func (r *fullDiskRegion) start(t *testing.T) {
	t.Helper()
	p, err := New(r.cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.p, r.cancel, r.done = p, cancel, make(chan error, 1)
	go func() { r.done <- p.Run(ctx) }()
	t.Cleanup(func() { r.stop(t, nil) })
	if err := p.RefreshMiners(ctx); err != nil {
		t.Fatal(err)
	}
	r.cli = newClient(t, r.key) // a fresh client: no pooled connection to a stopped indexer
}

// stop stops the indexer; Run and Close must return errors matching want
// (nil: no error).
func (r *fullDiskRegion) stop(t *testing.T, want error) {
	t.Helper()
	if r.p == nil {
		return
	}
	p := r.p
	r.p = nil
	r.cancel()
	err, ok := testutil.Within(r.done, testutil.Wait)
	if !ok {
		t.Errorf("the indexer's Run did not return within %v", testutil.Wait)
	}
	if (want == nil && err != nil) || (want != nil && !errors.Is(err, want)) {
		t.Errorf("Run = %v, want %v", err, want)
	}
	if err := p.Close(); (want == nil && err != nil) || (want != nil && !errors.Is(err, want)) {
		t.Errorf("Close = %v, want %v", err, want)
	}
}

// commit places and commits m under name, with receipts of the placed miners.
func (r *fullDiskRegion) commit(t *testing.T, m *shard.Manifest, name string) error {
	t.Helper()
	ctx := context.Background()
	var pl wire.Placement
	if err := r.cli.Call(ctx, r.p.Addr(), &wire.Place{Replicas: 3, ShardSize: uint64(m.ShardSize), Count: uint32(len(m.Shards))}, &pl); err != nil {
		t.Fatal(err)
	}
	receipts := signedReceipts(m, r.key.ID(), func(i int) []*identity.Key {
		var ks []*identity.Key
		for _, a := range pl.Chains[i] {
			ks = append(ks, r.addrOf[a.Peer])
		}
		return ks
	})
	return r.cli.Call(ctx, r.p.Addr(), &wire.Commit{Manifest: m.Encode(), Name: name, Receipts: receipts}, &wire.Committed{})
}

// stored reports whether the index holds m under its owner: located and
// listed, or neither (a commit half done is an error).
func (r *fullDiskRegion) stored(t *testing.T, m *shard.Manifest) bool {
	t.Helper()
	ctx := context.Background()
	var loc wire.Location
	err := r.cli.Call(ctx, r.p.Addr(), &wire.Locate{CID: m.CID()}, &loc)
	located := err == nil
	if err != nil && !errors.Is(err, wire.ErrNotFound) {
		t.Fatalf("locate: %v", err)
	}
	if located && len(loc.Shards) != len(m.Shards) {
		t.Fatalf("located with %d shards, the manifest has %d", len(loc.Shards), len(m.Shards))
	}
	for i, rs := range loc.Shards {
		if len(rs) < 3 {
			t.Fatalf("shard %d located on %d miners, the commit gave 3", i, len(rs))
		}
	}
	var fl wire.FileList
	if err := r.cli.Call(ctx, r.p.Addr(), &wire.ListFiles{}, &fl); err != nil {
		t.Fatal(err)
	}
	listed := false
	for _, f := range fl.Files {
		listed = listed || f.CID.Equals(m.CID())
	}
	if located != listed {
		t.Fatalf("half a commit: located %v, listed %v", located, listed)
	}
	return located
}

// A commit while the indexer's disk is below its database's reserve is
// refused before pebble sees it: the client gets CodeNoSpace saying the disk
// is full, the index holds nothing of the file, the indexer keeps serving,
// and the same commit succeeds once the disk has room.
func TestCommitBelowTheReserve(t *testing.T) {
	r := newFullDiskRegion(t)
	before := testManifest(t, 4)
	if err := r.commit(t, before, "before"); err != nil {
		t.Fatal(err)
	}

	m := testManifest(t, 6)
	r.ffs.SetAvail(1 << 20)
	err := r.commit(t, m, "full.bin")
	if !errors.Is(err, wire.ErrNoSpace) || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("commit on a full disk: err = %v, want CodeNoSpace saying the disk is full", err)
	}
	if r.stored(t, m) {
		t.Fatal("a refused commit is in the index")
	}
	if !r.stored(t, before) {
		t.Fatal("the file committed before is gone")
	}
	r.ffs.SetAvail(-1)
	if err := r.commit(t, m, "full.bin"); err != nil {
		t.Fatalf("commit with room again: %v", err)
	}
	if !r.stored(t, m) {
		t.Fatal("the commit is not in the index")
	}
}

// A commit whose log write or sync fails on a full disk: the client gets
// CodeNoSpace, the indexer stops with an error naming its database and what
// to do (no panic inside pebble), and restarted with room it holds every
// file committed before, the failed commit whole or not at all, and takes
// the commit again.
func TestCommitWhenTheLogWriteFails(t *testing.T) {
	for _, op := range []faultfs.Op{faultfs.Write, faultfs.Sync} {
		t.Run(op.String(), func(t *testing.T) {
			r := newFullDiskRegion(t)
			before := testManifest(t, 4)
			if err := r.commit(t, before, "before"); err != nil {
				t.Fatal(err)
			}

			m := testManifest(t, 6)
			r.ffs.Fail(op)
			err := r.commit(t, m, "full.bin")
			r.ffs.Fail()
			if !errors.Is(err, wire.ErrNoSpace) || !strings.Contains(err.Error(), "disk full") {
				t.Fatalf("commit on a full disk: err = %v, want CodeNoSpace saying the disk is full", err)
			}
			if r.ffs.Injected(op) == 0 {
				t.Fatalf("no %v failed: the test exercised nothing", op)
			}
			runErr, ok := testutil.Within(r.done, testutil.Wait)
			if !ok {
				t.Fatalf("the indexer did not stop within %v of its database failing", testutil.Wait)
			}
			dbDir := filepath.Join(r.dir, "db")
			if !errors.Is(runErr, pebbledb.ErrDiskFull) || !strings.Contains(runErr.Error(), dbDir) || !strings.Contains(runErr.Error(), "free space") {
				t.Fatalf("Run = %v, want the disk-full failure naming %s and the remedy", runErr, dbDir)
			}
			r.done <- runErr // for stop
			r.stop(t, pebbledb.ErrFailed)

			r.cfg.fs = nil
			r.start(t)
			if !r.stored(t, before) {
				t.Fatal("a file committed before the failure is lost")
			}
			r.stored(t, m) // whole or not at all
			if err := r.commit(t, m, "full.bin"); err != nil {
				t.Fatalf("commit after the restart: %v", err)
			}
			if !r.stored(t, m) {
				t.Fatal("the commit is not in the index")
			}
		})
	}
}
