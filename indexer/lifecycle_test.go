package indexer

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
)

// lifecyclePeer is an indexer without a bootstrap that knows the given miners.
func lifecyclePeer(t *testing.T, miners []*identity.Key) *Peer {
	t.Helper()
	p, err := New(Config{DataDir: t.TempDir(), UploadLease: time.Minute}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.UpdateMiners(minerRecords(miners, 1<<30, 1)); err != nil {
		t.Fatal(err)
	}
	return p
}

func receipt(k *identity.Key, sc cid.Cid, size uint64, owner identity.PeerID) wire.Receipt {
	r := wire.Receipt{Shard: sc, Size: size, Owner: owner, Stored: uint64(time.Now().Unix())}
	r.Sign(k)
	return r
}

func peersOfAddrs(as []wire.NodeAddr) []identity.PeerID {
	out := make([]identity.PeerID, len(as))
	for i, a := range as {
		out[i] = a.Peer
	}
	return out
}

func keyOf(ks []*identity.Key, p identity.PeerID) *identity.Key {
	for _, k := range ks {
		if k.ID() == p {
			return k
		}
	}
	return nil
}

// Two puts of one shard at once: the second waits while the first holds the
// reservation, then finds the replicas; more replicas add only the
// difference; a private put is told nothing and counts nothing.
func TestReserveCountsHoldersAndOtherPuts(t *testing.T) {
	ctx := context.Background()
	miners := testKeys(0, 9)
	p := lifecyclePeer(t, miners)
	m := testManifest(t, 1)
	sc, size := m.ShardCID(0), uint64(m.ShardLen(0))
	alice, bob, carol := testKey(100).ID(), testKey(101).ID(), testKey(102).ID()

	ans, err := p.handleReserve(ctx, alice, &wire.Reserve{Put: 1, Shard: sc, Size: size, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	a := ans.(*wire.Reservation)
	if len(a.Chain) != 3 || len(a.Have) != 0 {
		t.Fatalf("first reservation %+v, want a chain of 3", a)
	}
	ans, _ = p.handleReserve(ctx, bob, &wire.Reserve{Put: 2, Shard: sc, Size: size, Replicas: 3})
	if b := ans.(*wire.Reservation); b.RetryAfter == 0 || len(b.Chain) != 0 {
		t.Fatalf("second put while the first one uploads: %+v, want a wait", b)
	}
	// Alice's upload stored two of three; the third miner failed.
	var rs []wire.Receipt
	for _, pa := range a.Chain[:2] {
		rs = append(rs, receipt(keyOf(miners, pa.Peer), sc, size, alice))
	}
	ack, err := p.handleShardStored(ctx, alice, &wire.ShardStored{Put: 1, Shard: sc, Receipts: rs})
	if err != nil || ack.(*wire.StoredAck).Replicas != 2 {
		t.Fatalf("shard stored: %+v, %v; want 2 replicas", ack, err)
	}
	// Bob now gets the one missing replica, not three.
	ans, _ = p.handleReserve(ctx, bob, &wire.Reserve{Put: 2, Shard: sc, Size: size, Replicas: 3})
	b := ans.(*wire.Reservation)
	if len(b.Chain) != 1 || len(b.Have) != 2 || slices.Contains(peersOfAddrs(a.Chain[:2]), b.Chain[0].Peer) {
		t.Fatalf("bob's reservation %+v, want one new miner besides the 2 holders", b)
	}
	if _, err := p.handleShardStored(ctx, bob, &wire.ShardStored{Put: 2, Shard: sc,
		Receipts: []wire.Receipt{receipt(keyOf(miners, b.Chain[0].Peer), sc, size, bob)}}); err != nil {
		t.Fatal(err)
	}
	ans, _ = p.handleReserve(ctx, alice, &wire.Reserve{Put: 1, Shard: sc, Size: size, Replicas: 3})
	if a2 := ans.(*wire.Reservation); len(a2.Chain) != 0 || len(a2.Have) != 3 {
		t.Fatalf("alice asking again: %+v, want the 3 holders and nothing to upload", a2)
	}
	// Five replicas: two more.
	ans, _ = p.handleReserve(ctx, carol, &wire.Reserve{Put: 3, Shard: sc, Size: size, Replicas: 5})
	if c := ans.(*wire.Reservation); len(c.Chain) != 2 || len(c.Have) != 3 {
		t.Fatalf("asking for 5 of a shard with 3: %+v, want 2 new", c)
	}
	// Private: three new ones whatever exists, and nothing revealed.
	ans, _ = p.handleReserve(ctx, carol, &wire.Reserve{Put: 4, Shard: sc, Size: size, Replicas: 3, Private: true})
	priv := ans.(*wire.Reservation)
	if len(priv.Chain) != 3 || len(priv.Have) != 0 || priv.RetryAfter != 0 {
		t.Fatalf("private reservation %+v, want 3 new and nothing about others", priv)
	}
	// What a private put stored is not shown to, nor counted for, others.
	var prs []wire.Receipt
	for _, a := range priv.Chain {
		prs = append(prs, receipt(keyOf(miners, a.Peer), sc, size, carol))
	}
	if ack, err := p.handleShardStored(ctx, carol, &wire.ShardStored{Put: 4, Shard: sc, Receipts: prs}); err != nil || ack.(*wire.StoredAck).Replicas != 3 {
		t.Fatalf("private shard stored: %v, %v; want its own 3", ack, err)
	}
	ans, _ = p.handleReserve(ctx, bob, &wire.Reserve{Put: 2, Shard: sc, Size: size, Replicas: 3})
	shown := ans.(*wire.Reservation).Have
	for _, h := range shown {
		if slices.Contains(peersOfAddrs(priv.Chain), h.Peer) {
			t.Fatalf("another put was shown miner %s, which holds only the private put's replica", h.Peer.Short())
		}
	}
	if len(shown) != 3 {
		t.Fatalf("another put was shown %d holders, want the 3 shareable ones", len(shown))
	}
	// A reservation dies with its put: bob's new put is not kept waiting
	// by carol's reservation once carol stops asking.
	p.leases.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	ans, _ = p.handleReserve(ctx, bob, &wire.Reserve{Put: 5, Shard: sc, Size: size, Replicas: 5})
	if c := ans.(*wire.Reservation); len(c.Chain) != 5 {
		t.Fatalf("after every put's lease ended: %+v, want 5 new (nothing committed)", c)
	}
}

func TestReserveAndShardStoredRefuseBadInput(t *testing.T) {
	ctx := context.Background()
	miners := testKeys(0, 3)
	p := lifecyclePeer(t, miners)
	m := testManifest(t, 2)
	sc, size := m.ShardCID(0), uint64(m.ShardLen(0))
	owner := testKey(100).ID()
	for _, req := range []*wire.Reserve{
		{Shard: sc, Size: size, Replicas: 0},
		{Shard: sc, Size: size, Replicas: MaxReplicas + 1},
		{Shard: sc, Size: 0, Replicas: 1},
		{Shard: sc, Size: shard.MaxShardSize + 1, Replicas: 1},
		{Shard: m.CID(), Size: size, Replicas: 1}, // a file CID
	} {
		_, err := p.handleReserve(ctx, owner, req)
		wantCode(t, err, wire.CodeBadRequest)
	}
	_, err := p.handleReserve(ctx, owner, &wire.Reserve{Shard: sc, Size: size, Replicas: 4})
	wantCode(t, err, wire.CodeUnavailable)

	stranger := testKey(50)
	forged := receipt(miners[0], sc, size, owner)
	forged.Stored++ // the signature no longer matches
	for _, tc := range []struct {
		name string
		rs   []wire.Receipt
		code wire.Code
	}{
		{"another owner's receipt", []wire.Receipt{receipt(miners[0], sc, size, testKey(101).ID())}, wire.CodeUnauthorized},
		{"bad signature", []wire.Receipt{forged}, wire.CodeUnauthorized},
		{"unregistered miner", []wire.Receipt{receipt(stranger, sc, size, owner)}, wire.CodeUnauthorized},
		{"another shard", []wire.Receipt{receipt(miners[0], m.ShardCID(1), size, owner)}, wire.CodeBadRequest},
		{"sizes disagree", []wire.Receipt{receipt(miners[0], sc, size, owner), receipt(miners[1], sc, size+1, owner)}, wire.CodeBadRequest},
	} {
		_, err := p.handleShardStored(ctx, owner, &wire.ShardStored{Put: 1, Shard: sc, Receipts: tc.rs})
		if err == nil {
			t.Fatalf("%s: accepted", tc.name)
		}
		wantCode(t, err, tc.code)
	}
	ack, err := p.handleShardStored(ctx, owner, &wire.ShardStored{Put: 1, Shard: sc})
	if err != nil || ack.(*wire.StoredAck).Replicas != 0 {
		t.Fatalf("an upload that stored nothing: %v, %v", ack, err)
	}
}

// A miner asking about its replicas learns committed, pending or unknown;
// an unknown replica can then be neither reported nor committed.
func TestLeaseCheckAndTombstones(t *testing.T) {
	ctx := context.Background()
	miners := testKeys(0, 4)
	p := lifecyclePeer(t, miners)
	m := testManifest(t, 2)
	owner := testKey(100)
	s0, s1 := m.ShardCID(0), m.ShardCID(1)
	l0, l1 := uint64(m.ShardLen(0)), uint64(m.ShardLen(1))

	if _, err := p.handleShardStored(ctx, owner.ID(), &wire.ShardStored{Put: 7, Shard: s0,
		Receipts: []wire.Receipt{receipt(miners[0], s0, l0, owner.ID())}}); err != nil {
		t.Fatal(err)
	}
	check := func(miner *identity.Key, want ...wire.LeaseState) {
		t.Helper()
		ans, err := p.handleLeaseCheck(ctx, miner.ID(), &wire.LeaseCheck{Shards: []cid.Cid{s0, s1}})
		if err != nil {
			t.Fatal(err)
		}
		if got := ans.(*wire.LeaseStatus).States; !slices.Equal(got, want) {
			t.Fatalf("miner %s: states %v, want %v", miner.ID().Short(), got, want)
		}
	}
	check(miners[0], wire.LeasePending, wire.LeaseUnknown)
	// miners[1] was told to drop s1: its late receipt is refused.
	check(miners[1], wire.LeaseUnknown, wire.LeaseUnknown)
	_, err := p.handleShardStored(ctx, owner.ID(), &wire.ShardStored{Put: 7, Shard: s1,
		Receipts: []wire.Receipt{receipt(miners[1], s1, l1, owner.ID())}})
	wantCode(t, err, wire.CodeReclaimed)
	late := &wire.Commit{Manifest: m.Encode(), Receipts: [][]wire.Receipt{nil, {receipt(miners[1], s1, l1, owner.ID())}}}
	_, err = p.commit(owner.ID(), late, time.Now())
	wantCode(t, err, wire.CodeReclaimed)

	// The commit of s0 (held, no receipt) and s1 (receipt from miners[2]).
	c := &wire.Commit{Manifest: m.Encode(), Receipts: [][]wire.Receipt{nil, {receipt(miners[2], s1, l1, owner.ID())}}}
	if _, err := p.commit(owner.ID(), c, time.Now()); err != nil {
		t.Fatal(err)
	}
	check(miners[0], wire.LeaseCommitted, wire.LeaseUnknown)
	check(miners[2], wire.LeaseUnknown, wire.LeaseCommitted)
	loc, err := p.store.Locate(m.CID())
	if err != nil || len(loc.Shards[0]) != 1 || loc.Shards[0][0].Peer != miners[0].ID() {
		t.Fatalf("located %+v, %v: want shard 0 on the miner that reported it", loc, err)
	}
	// A stored replica whose put stopped asking is unknown after the lease.
	if _, err := p.handleShardStored(ctx, owner.ID(), &wire.ShardStored{Put: 8, Shard: s1,
		Receipts: []wire.Receipt{receipt(miners[3], s1, l1, owner.ID())}}); err != nil {
		t.Fatal(err)
	}
	check(miners[3], wire.LeaseUnknown, wire.LeasePending)
	p.leases.now = func() time.Time { return time.Now().Add(time.Minute + time.Second) }
	check(miners[3], wire.LeaseUnknown, wire.LeaseUnknown)
}

// manifestOf makes a manifest of the given shard roots (1 MiB each).
func manifestOf(t *testing.T, roots ...shard.Digest) *shard.Manifest {
	t.Helper()
	m := &shard.Manifest{ShardSize: 1 << 20, PieceSize: 64 << 10, Shards: roots, Size: int64(len(roots)) << 20}
	if _, err := shard.DecodeManifest(m.Encode()); err != nil {
		t.Fatal(err)
	}
	return m
}

// rm removes only the owner's listing while another owner lists the file;
// the last rm frees the shards no other file references and queues them
// for their miners, who are told by the drop chore.
func TestRemoveFreesOnlyUnreferencedShards(t *testing.T) {
	miners := testKeys(0, 2)
	p := lifecyclePeer(t, miners)
	var a, b, c shard.Digest
	a[0], b[0], c[0] = 1, 2, 3
	x, y := manifestOf(t, a, b), manifestOf(t, b, c)
	alice, bob := testKey(100).ID(), testKey(101).ID()
	both := func(int) []*identity.Key { return miners }
	for _, cm := range []struct {
		owner identity.PeerID
		m     *shard.Manifest
	}{{alice, x}, {bob, x}, {alice, y}} {
		if _, err := p.commit(cm.owner, &wire.Commit{Manifest: cm.m.Encode(), Receipts: signedReceipts(cm.m, cm.owner, both)}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	res, err := p.store.Remove(alice, x.CID())
	if err != nil || res.FileGone || res.Shards != 0 {
		t.Fatalf("alice's rm of a file bob lists: %+v, %v", res, err)
	}
	if _, err := p.store.Remove(alice, x.CID()); err == nil {
		t.Fatal("a second rm by the same owner succeeded")
	} else {
		wantCode(t, err, wire.CodeNotFound)
	}
	if _, err := p.store.Locate(x.CID()); err != nil {
		t.Fatalf("file gone while bob lists it: %v", err)
	}
	res, err = p.store.Remove(bob, x.CID())
	if err != nil || !res.FileGone || res.Shards != 1 {
		t.Fatalf("bob's rm: %+v, %v; want the file gone and shard a freed (b is in y)", res, err)
	}
	_, err = p.store.Locate(x.CID())
	wantCode(t, err, wire.CodeNotFound)
	drops, err := p.store.PendingDrops()
	if err != nil || len(drops) != 2 {
		t.Fatalf("drops %+v, %v; want shard a on each of 2 miners", drops, err)
	}
	for _, d := range drops {
		if len(d.Shards) != 1 || !d.Shards[0].Equals(x.ShardCID(0)) {
			t.Fatalf("drop %+v, want only shard a", d)
		}
	}
	if p.store.Files() != 1 || p.store.Shards() != 2 {
		t.Fatalf("stats: %d files, %d shards; want 1, 2", p.store.Files(), p.store.Shards())
	}

	// The drop chore: a miner that answers has its queue emptied; one that
	// does not keeps it.
	got := make(chan []cid.Cid, 1)
	mnode, err := transport.Listen(transport.Config{Key: miners[0], Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	mnode.Handle(wire.TypeDropShards, func(_ context.Context, s *transport.Stream, m wire.Message) error {
		got <- m.(*wire.DropShards).Shards
		return s.Send(&wire.Dropped{Count: 1})
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go mnode.Serve(ctx)
	defer mnode.Close()
	recs := minerRecords(miners, 1<<30, 2)
	recs[0] = minerRecord(miners[0], mnode.Addr().String(), 1<<30, 2)
	recs[1] = minerRecord(miners[1], "127.0.0.1:9", 1<<30, 2) // nobody there
	if err := p.UpdateMiners(recs); err != nil {
		t.Fatal(err)
	}
	dctx, dcancel := context.WithTimeout(ctx, 20*time.Second)
	defer dcancel()
	if err := p.DropReplicas(dctx); err == nil {
		t.Fatal("dropping at a miner that is down reported no error")
	}
	select {
	case s := <-got:
		if len(s) != 1 || !s[0].Equals(x.ShardCID(0)) {
			t.Fatalf("miner told to drop %v", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the miner was not told")
	}
	drops, _ = p.store.PendingDrops()
	if len(drops) != 1 || drops[0].Miner.Peer != miners[1].ID() {
		t.Fatalf("queue after the chore: %+v; want only the miner that is down", drops)
	}
	// A put of the same shard again keeps its replica on that miner.
	if _, err := p.commit(alice, &wire.Commit{Manifest: x.Encode(), Receipts: signedReceipts(x, alice, both)}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if drops, _ = p.store.PendingDrops(); len(drops) != 0 {
		t.Fatalf("a replica committed again is still queued for deletion: %+v", drops)
	}
}
