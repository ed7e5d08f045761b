package miner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/wire"
	"github.com/prometheus/client_golang/prometheus"
)

// Uploads in progress keep the room they reserved but have not written yet:
// with 10 MiB free on disk two 4 MiB uploads fit and a third is refused,
// although the disk still shows room for it; an upload that ends gives its
// room back.
func TestReservedRoomIsNotFree(t *testing.T) {
	s, err := openStore(t.TempDir(), "miner test", 1<<30, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The disk has 10 MiB free before the uploads and loses what they write.
	s.mu.Lock()
	s.diskFree = func(string) (int64, error) {
		es, err := os.ReadDir(s.tmpDir())
		if err != nil {
			return 0, err
		}
		free := int64(10 << 20)
		for _, e := range es {
			fi, err := e.Info()
			if err != nil {
				return 0, err
			}
			free -= fi.Size()
		}
		return free, nil
	}
	s.mu.Unlock()
	sh := makeShard(t, 1000, 1000) // begin does not look at the bytes
	const size = 4 << 20

	a, err := s.begin(sh.CID(), sh.Root, size)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.write(make([]byte, 1<<20)); err != nil { // on disk now, and no longer reserved
		t.Fatal(err)
	}
	b, err := s.begin(sh.CID(), sh.Root, size)
	if err != nil {
		t.Fatalf("second upload: %v", err)
	}
	_, err = s.begin(sh.CID(), sh.Root, size)
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != wire.CodeNoSpace || !strings.Contains(we.Message, "no room for") {
		t.Fatalf("third upload: err = %v, want no room", err)
	}
	if _, free, _ := s.usage(); free != 2<<20 {
		t.Fatalf("free %d with 10 MiB on disk and 8 MiB reserved, want 2 MiB", free)
	}

	a.abort()
	c, err := s.begin(sh.CID(), sh.Root, size)
	if err != nil {
		t.Fatalf("upload after another ended: %v", err)
	}
	b.abort()
	c.abort()
	if _, free, _ := s.usage(); free != 10<<20 {
		t.Fatalf("free %d after every upload ended, want 10 MiB", free)
	}
}

// A shard keeps at most MaxOwners owners: one more is refused with
// CodeNoSpace before its pieces are sent, also when it races to the record,
// while an owner already listed may upload the shard again.
func TestOwnersPerShardAreBounded(t *testing.T) {
	m := startMiner(t, "", nil)
	cli := newClient(t)
	ctx := context.Background()
	sh := makeShard(t, 100<<10, testPieceSize)
	if _, err := put(ctx, cli, m.Addr(), sh, nil, defaultPut(testPieceSize)); err != nil {
		t.Fatal(err)
	}
	newOwner := func() identity.PeerID {
		k, err := identity.Generate()
		if err != nil {
			t.Fatal(err)
		}
		return k.ID()
	}
	for range MaxOwners - 1 {
		if _, err := m.store.addOwner(sh.CID(), sh.Root, newOwner()); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(m.store.get(sh.Root).owners); n != MaxOwners {
		t.Fatalf("%d owners, want %d", n, MaxOwners)
	}

	o := defaultPut(testPieceSize)
	o.hdr = header(sh, testPieceSize, newOwner(), nil)
	o.noPieces = true // refused on its header: no piece is needed
	_, err := put(ctx, cli, m.Addr(), sh, nil, o)
	if !errors.Is(err, wire.ErrNoSpace) || !strings.Contains(err.Error(), "owners") {
		t.Fatalf("owner %d: err = %v, want no space for owners", MaxOwners+1, err)
	}
	_, err = m.store.addOwner(sh.CID(), sh.Root, newOwner())
	if !errors.Is(err, wire.ErrNoSpace) {
		t.Fatalf("owner %d added to the record: err = %v, want no space", MaxOwners+1, err)
	}

	res, err := put(ctx, cli, m.Addr(), sh, nil, defaultPut(testPieceSize))
	if err != nil {
		t.Fatalf("an owner already listed: %v", err)
	}
	checkReceipts(t, res, sh, cli.ID(), m)
	if n := len(m.store.get(sh.Root).owners); n != MaxOwners {
		t.Fatalf("%d owners, want %d", n, MaxOwners)
	}
}

// A miner whose shard folder is gone or empty while pebble holds records
// refuses to start, naming the folder, and deletes nothing: with the folder
// back it serves its shards.
func TestShardFolderMissing(t *testing.T) {
	dir := t.TempDir()
	m := startMiner(t, dir, nil)
	cli := newClient(t)
	sh := makeShard(t, testShardSize, testPieceSize)
	if _, err := put(context.Background(), cli, m.Addr(), sh, nil, defaultPut(testPieceSize)); err != nil {
		t.Fatal(err)
	}
	m.stop()
	shards, moved := filepath.Join(dir, "shards"), filepath.Join(dir, "shards.moved")
	if err := os.Rename(shards, moved); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name  string
		setup func()
	}{
		{"moved", func() {}},
		{"empty mount point", func() {
			if err := os.Mkdir(shards, 0o755); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		c.setup()
		_, err := New(testConfig(dir), testLogger(), prometheus.NewRegistry())
		if err == nil || !strings.Contains(err.Error(), shards) || !strings.Contains(err.Error(), "missing or empty") {
			t.Fatalf("%s: err = %v, want the shard folder named as missing", c.name, err)
		}
		if es, err := os.ReadDir(shards); err == nil && len(es) > 0 {
			t.Fatalf("%s: the refused start created %d entries in %s", c.name, len(es), shards)
		}
	}

	if err := os.Remove(shards); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(moved, shards); err != nil {
		t.Fatal(err)
	}
	m = startMiner(t, dir, nil)
	if m.store.get(sh.Root) == nil {
		t.Fatal("the record is gone")
	}
	checkServes(t, newClient(t), m, sh)
}

// When most records (and more than a few) lack their file, the miner refuses
// to start and deletes nothing; with the files back it serves every shard.
// A few missing files are dropped as before (TestRecovery).
func TestMostShardFilesMissing(t *testing.T) {
	dir := t.TempDir()
	m := startMiner(t, dir, nil)
	cli := newClient(t)
	var shs []*shard.Shard
	for range 2*fewMissing + 2 {
		sh := makeShard(t, 10<<10, 4096)
		if _, err := put(context.Background(), cli, m.Addr(), sh, nil, defaultPut(4096)); err != nil {
			t.Fatal(err)
		}
		shs = append(shs, sh)
	}
	st := m.store
	m.stop()

	// Half of the files plus one go missing; an orphan file appears.
	aside := t.TempDir()
	gone := shs[:len(shs)/2+1]
	for _, sh := range gone {
		if err := os.Rename(st.shardPath(sh.Root), filepath.Join(aside, sh.Root.String())); err != nil {
			t.Fatal(err)
		}
	}
	orphan := st.shardPath(makeShard(t, 1000, 1000).Root)
	if err := os.WriteFile(orphan, []byte("orphan"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := New(testConfig(dir), testLogger(), prometheus.NewRegistry())
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "shards")) || !strings.Contains(err.Error(), "have no file") {
		t.Fatalf("err = %v, want a refusal naming the shard folder", err)
	}
	if _, err := os.Stat(orphan); err != nil {
		t.Fatalf("the refused start removed a file: %v", err)
	}

	for _, sh := range gone {
		if err := os.Rename(filepath.Join(aside, sh.Root.String()), st.shardPath(sh.Root)); err != nil {
			t.Fatal(err)
		}
	}
	m = startMiner(t, dir, nil)
	cli = newClient(t)
	for _, sh := range shs {
		checkServes(t, cli, m, sh)
	}
	if _, err := os.Stat(orphan); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("orphan survived a normal start: %v", err)
	}
}

// A lost database (every shard file without a record) stops the start
// instead of deleting every shard; with the database back, all are served.
func TestDatabaseMissing(t *testing.T) {
	dir := t.TempDir()
	m := startMiner(t, dir, nil)
	cli := newClient(t)
	var shs []*shard.Shard
	for range fewMissing + 2 {
		sh := makeShard(t, 10<<10, 4096)
		if _, err := put(context.Background(), cli, m.Addr(), sh, nil, defaultPut(4096)); err != nil {
			t.Fatal(err)
		}
		shs = append(shs, sh)
	}
	m.stop()
	db, aside := filepath.Join(dir, "db"), filepath.Join(t.TempDir(), "db")
	if err := os.Rename(db, aside); err != nil {
		t.Fatal(err)
	}
	_, err := New(testConfig(dir), testLogger(), prometheus.NewRegistry())
	if err == nil || !strings.Contains(err.Error(), "have no record") {
		t.Fatalf("err = %v, want a refusal naming the missing records", err)
	}
	os.RemoveAll(db) // the empty database the refused start made
	if err := os.Rename(aside, db); err != nil {
		t.Fatal(err)
	}
	m = startMiner(t, dir, nil)
	for _, sh := range shs {
		checkServes(t, cli, m, sh)
	}
}

// Shard files left by a crash between their rename and their record are
// removed at start, however many there are, when the database is there.
func TestManyCrashLeftoversAreRemoved(t *testing.T) {
	dir := t.TempDir()
	m := startMiner(t, dir, nil)
	st := m.store
	m.stop()
	var leftovers []string
	for range fewMissing + 3 {
		p := st.shardPath(makeShard(t, 1000, 1000).Root)
		if err := os.WriteFile(p, []byte("renamed, never recorded"), 0o644); err != nil {
			t.Fatal(err)
		}
		leftovers = append(leftovers, p)
	}
	startMiner(t, dir, nil)
	for _, p := range leftovers {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s kept after start: %v", p, err)
		}
	}
}
