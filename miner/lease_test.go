package miner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
)

// fakeIndexer answers LeaseCheck from a table of states (unknown by default)
// and counts the questions.
type fakeIndexer struct {
	node *transport.Node
	key  *identity.Key

	mu     sync.Mutex
	states map[string]wire.LeaseState
	asked  int
}

func newFakeIndexer(t *testing.T) *fakeIndexer {
	t.Helper()
	k, _ := identity.Generate()
	n, err := transport.Listen(transport.Config{Key: k, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeIndexer{node: n, key: k, states: map[string]wire.LeaseState{}}
	n.Handle(wire.TypeLeaseCheck, transport.Unary(func(_ context.Context, _ identity.PeerID, req *wire.LeaseCheck) (wire.Message, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.asked++
		st := &wire.LeaseStatus{}
		for _, c := range req.Shards {
			st.States = append(st.States, f.states[c.KeyString()])
		}
		return st, nil
	}))
	ctx, cancel := context.WithCancel(context.Background())
	go n.Serve(ctx)
	t.Cleanup(func() { cancel(); n.Close() })
	return f
}

func (f *fakeIndexer) set(c cid.Cid, s wire.LeaseState) {
	f.mu.Lock()
	f.states[c.KeyString()] = s
	f.mu.Unlock()
}

func storeOne(t *testing.T, cli *transport.Node, m *testMiner) *shard.Shard {
	t.Helper()
	sh := makeShard(t, testShardSize, testPieceSize)
	if _, err := put(context.Background(), cli, m.Addr(), sh, nil, defaultPut(testPieceSize)); err != nil {
		t.Fatal(err)
	}
	return sh
}

// When a replica's lease ends the miner asks the indexer: a committed one is
// kept for good, a pending one waits another lease, an unknown one is
// deleted and its space is free again. While the indexer cannot be asked,
// nothing is deleted.
func TestLeaseChoreKeepsCommittedAndReclaimsTheRest(t *testing.T) {
	const lease = time.Second
	ix := newFakeIndexer(t)
	dir := t.TempDir()
	m := startMiner(t, dir, func(c *Config) {
		c.UploadLease = lease
		c.indexers = []wire.NodeAddr{ix.node.Self()}
	})
	cli := newClient(t)
	// The miner's own chore may ask as soon as a lease ends: the indexer's
	// answers are set before the uploads.
	committed, pending, unknown := makeShard(t, testShardSize, testPieceSize), makeShard(t, testShardSize, testPieceSize), makeShard(t, testShardSize, testPieceSize)
	ix.set(committed.CID(), wire.LeaseCommitted)
	ix.set(pending.CID(), wire.LeasePending)
	for _, sh := range []*shard.Shard{committed, pending, unknown} {
		if _, err := put(context.Background(), cli, m.Addr(), sh, nil, defaultPut(testPieceSize)); err != nil {
			t.Fatal(err)
		}
	}
	usedBefore := 3 * int64(len(unknown.Data))

	eventually(t, func() error {
		if err := m.CheckLeases(context.Background()); err != nil {
			return err
		}
		if m.store.get(unknown.Root) != nil {
			return errors.New("the unknown replica is still stored")
		}
		if n := m.store.pendingCount(); n != 1 {
			return fmt.Errorf("%d pending, want 1 (the committed one confirmed)", n)
		}
		return nil
	})
	if m.store.get(committed.Root) == nil || m.store.get(pending.Root) == nil {
		t.Fatal("a committed or pending replica was deleted")
	}
	if _, shards, _ := leftovers(m, unknown); len(shards) != 2 {
		t.Fatalf("shard files %v, want the two kept", shards)
	}
	used, _, _ := m.store.usage()
	if used != usedBefore-int64(len(unknown.Data)) {
		t.Fatalf("used %d, want %d less than %d", used, len(unknown.Data), usedBefore)
	}
	// A restart keeps the confirmed replica confirmed and the pending one
	// pending; with the indexer gone nothing is deleted.
	ix.node.Close()
	m.stop()
	m = startMiner(t, dir, func(c *Config) {
		c.UploadLease = lease
		c.indexers = []wire.NodeAddr{ix.node.Self()}
	})
	if n := m.store.pendingCount(); n != 1 || m.store.get(committed.Root) == nil || m.store.get(pending.Root) == nil {
		t.Fatalf("after a restart: %d pending, committed kept %v, pending kept %v", n, m.store.get(committed.Root) != nil, m.store.get(pending.Root) != nil)
	}
	deadline := time.Now().Add(2 * lease)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := m.CheckLeases(ctx)
		cancel()
		if err == nil && m.store.pendingCount() > 0 && len(m.store.dueLeases(time.Now(), 1)) > 0 {
			t.Fatal("a due lease was checked with no indexer to ask")
		}
	}
	if m.store.get(pending.Root) == nil {
		t.Fatal("a pending replica was deleted while the indexer could not be asked")
	}
}

// A replica uploaded again while pending gets a fresh lease; one confirmed
// stays confirmed when uploaded again.
func TestUploadAgainExtendsAPendingLease(t *testing.T) {
	m := startMiner(t, "", func(c *Config) { c.UploadLease = time.Hour })
	cli := newClient(t)
	sh := storeOne(t, cli, m)
	first := time.Now().Add(-time.Minute) // as if the lease were about to end
	if err := m.store.setLease(sh.CID(), sh.Root, first, false); err != nil {
		t.Fatal(err)
	}
	if _, err := put(context.Background(), newClient(t), m.Addr(), sh, nil, defaultPut(testPieceSize)); err != nil {
		t.Fatal(err)
	}
	m.store.mu.Lock()
	second := m.store.leases[sh.Root].until
	m.store.mu.Unlock()
	if second.Before(time.Now().Add(time.Hour - time.Minute)) {
		t.Fatalf("lease %v after a second upload, was %v", second, first)
	}
	if err := m.store.confirm(sh.CID(), sh.Root); err != nil {
		t.Fatal(err)
	}
	if _, err := put(context.Background(), newClient(t), m.Addr(), sh, nil, defaultPut(testPieceSize)); err != nil {
		t.Fatal(err)
	}
	if m.store.pendingCount() != 0 {
		t.Fatal("a confirmed replica became pending again")
	}
}

// Only the region's indexer may drop replicas; bad CIDs are refused.
func TestDropShardsOnlyFromTheIndexer(t *testing.T) {
	ix := newFakeIndexer(t)
	m := startMiner(t, "", func(c *Config) { c.indexers = []wire.NodeAddr{ix.node.Self()} })
	cli := newClient(t)
	sh, other := storeOne(t, cli, m), storeOne(t, cli, m)
	ctx := context.Background()

	err := cli.Call(ctx, m.Addr(), &wire.DropShards{Shards: []cid.Cid{sh.CID()}}, &wire.Dropped{})
	if !errors.Is(err, wire.ErrUnauthorized) {
		t.Fatalf("drop from a client: %v, want ErrUnauthorized", err)
	}
	if m.store.get(sh.Root) == nil {
		t.Fatal("a client's drop deleted a replica")
	}
	notShard := cid.NewCidV1(cid.Raw, sh.CID().Hash())
	err = ix.node.Call(ctx, m.Addr(), &wire.DropShards{Shards: []cid.Cid{notShard}}, &wire.Dropped{})
	if !errors.Is(err, wire.ErrBadRequest) {
		t.Fatalf("drop of a raw CID: %v, want ErrBadRequest", err)
	}
	var d wire.Dropped
	if err := ix.node.Call(ctx, m.Addr(), &wire.DropShards{Shards: []cid.Cid{sh.CID(), sh.CID(), makeShard(t, 1000, 100).CID()}}, &d); err != nil {
		t.Fatal(err)
	}
	if d.Count != 1 {
		t.Fatalf("dropped %d, want 1 (once, and not a shard it never held)", d.Count)
	}
	if tmp, shards, rec := leftovers(m, sh); rec || len(tmp) > 0 || len(shards) != 1 {
		t.Fatalf("after the drop: record %v, temp files %v, shard files %v", rec, tmp, shards)
	}
	if m.store.get(other.Root) == nil {
		t.Fatal("the drop took another replica")
	}
	checkServes(t, cli, m, other)
	if err := getPiece(ctx, cli, m.Addr(), sh, 0); !errors.Is(err, wire.ErrNotFound) {
		t.Fatalf("piece of a dropped shard: %v, want ErrNotFound", err)
	}
}

// A lease key without its record (a record dropped at start) is removed.
func TestLeaseKeysWithoutRecordAreDropped(t *testing.T) {
	dir := t.TempDir()
	m := startMiner(t, dir, nil)
	sh := storeOne(t, newClient(t), m)
	m.stop()
	s, err := openStore(dir, "test", 1<<30, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Delete(recordKey(sh.CID()), nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = openStore(dir, "test", 1<<30, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := s.pendingCount(); n != 0 {
		t.Fatalf("%d leases without records", n)
	}
	if _, closer, err := s.db.Get(leaseKey(sh.CID())); err == nil {
		closer.Close()
		t.Fatal("the lease key of a shard without a record is still there")
	}
}
