package indexer

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/config"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/wire"
)

// statusOf returns, for shard si of a location, each miner's status.
func statusOf(loc *wire.Location, si int) map[identity.PeerID]wire.ReplicaStatus {
	out := map[identity.PeerID]wire.ReplicaStatus{}
	for _, r := range loc.Shards[si] {
		out[r.Peer] = r.Status
	}
	return out
}

func locate(t *testing.T, s *Store, c cid.Cid) *wire.Location {
	t.Helper()
	loc, err := s.Locate(c)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// A replica is stored at commit and proven when the verifier says so; a
// repair's replica replaces the failing one in every file that lists the
// shard, keeps the count, and queues the failing copy for deletion.
func TestProvenAndReplaceInTheIndex(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	ms := testKeys(0, 6)
	noteMiners(t, s, ms...)
	owner := testKey(100).ID()
	m := testManifest(t, 2)
	pick := func(int) []*identity.Key { return ms[:3] }
	f1, err := s.Commit(owner, &wire.Commit{Manifest: m.Encode(), Receipts: signedReceipts(m, owner, pick)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// A second file shares shard 0 (committed without receipts: the index's holders).
	m2 := testManifest(t, 2)
	m2.Shards[1] = m.Shards[0]
	m2.Size = 2 << 20
	rec2 := signedReceipts(m2, owner, pick)
	rec2[1] = nil
	f2, err := s.Commit(owner, &wire.Commit{Manifest: m2.Encode(), Receipts: rec2}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sc := m.ShardCID(0)
	records := s.ShardRecords()

	up, err := s.MarkProven(sc, ms[0].ID(), 4)
	if err != nil || up.Replicas != 3 || up.Proven != 1 {
		t.Fatalf("mark proven: %+v, %v", up, err)
	}
	for _, at := range []struct {
		file cid.Cid
		si   int
	}{{f1, 0}, {f2, 1}} {
		st := statusOf(locate(t, s, at.file), at.si)
		if st[ms[0].ID()] != wire.StatusProven || st[ms[1].ID()] != wire.StatusStored {
			t.Fatalf("file %v shard %d: statuses %v", at.file, at.si, st)
		}
	}
	if st := statusOf(locate(t, s, f1), 1); st[ms[0].ID()] != wire.StatusStored {
		t.Fatalf("another shard of the same miner shown proven: %v", st)
	}
	if e, _ := s.ProvenEpoch(sc, ms[0].ID()); e != 4 {
		t.Fatalf("proven epoch %d, want 4", e)
	}

	// Refused: unknown shard, a miner that does not hold it, epoch 0.
	other := shard.ShardCID(shard.Digest{9})
	if _, err := s.MarkProven(other, ms[0].ID(), 4); err == nil {
		t.Fatal("proof of an unknown shard accepted")
	} else {
		wantCode(t, err, wire.CodeNotCommitted)
	}
	_, err = s.MarkProven(sc, ms[4].ID(), 4)
	wantCode(t, err, wire.CodeNotHolder)
	_, err = s.MarkProven(sc, testKey(99).ID(), 4)
	wantCode(t, err, wire.CodeNotHolder)

	// Replace the failing ms[1] by ms[4].
	up, err = s.ReplaceHolder(sc, ms[1].ID(), ms[4].ID(), 6)
	if err != nil || up.Replicas != 3 || up.Proven != 2 {
		t.Fatalf("replace: %+v, %v", up, err)
	}
	for _, at := range []struct {
		file cid.Cid
		si   int
	}{{f1, 0}, {f2, 1}} {
		st := statusOf(locate(t, s, at.file), at.si)
		if len(st) != 3 || st[ms[4].ID()] != wire.StatusProven || st[ms[0].ID()] != wire.StatusProven {
			t.Fatalf("file %v shard %d after the repair: %v", at.file, at.si, st)
		}
		if _, still := st[ms[1].ID()]; still {
			t.Fatalf("file %v shard %d still lists the failing holder: %v", at.file, at.si, st)
		}
	}
	if s.ShardRecords() != records {
		t.Fatalf("replica records %d → %d after a replacement", records, s.ShardRecords())
	}
	if ok, _ := s.Committed(sc, ms[4].ID()); !ok {
		t.Fatal("the new replica is not committed: its lease would be reclaimed")
	}
	if ok, _ := s.Committed(sc, ms[1].ID()); ok {
		t.Fatal("the failing replica is still committed")
	}
	if ok, _ := s.Committed(m.ShardCID(1), ms[1].ID()); !ok {
		t.Fatal("the failing miner's other shard was dropped too")
	}
	drops, err := s.PendingDrops()
	if err != nil || len(drops) != 1 || drops[0].Miner.Peer != ms[1].ID() || !drops[0].Shards[0].Equals(sc) {
		t.Fatalf("pending drops %+v, %v; want the failing replica", drops, err)
	}

	// Refused: the same failing holder again (it holds nothing now: a
	// second new replica would exceed the count), a new miner that holds
	// the shard already, a new miner not registered, an unknown shard.
	_, err = s.ReplaceHolder(sc, ms[1].ID(), ms[5].ID(), 7)
	wantCode(t, err, wire.CodeNotHolder)
	_, err = s.ReplaceHolder(sc, ms[2].ID(), ms[0].ID(), 7)
	wantCode(t, err, wire.CodeReplicaCount)
	_, err = s.ReplaceHolder(sc, ms[2].ID(), testKey(99).ID(), 7)
	wantCode(t, err, wire.CodeUnauthorized)
	_, err = s.ReplaceHolder(other, ms[2].ID(), ms[5].ID(), 7)
	wantCode(t, err, wire.CodeNotCommitted)
	if st := statusOf(locate(t, s, f1), 0); len(st) != 3 {
		t.Fatalf("a refused replacement changed the location: %v", st)
	}

	// A file committed later with the shard shows its proven replicas.
	m3 := testManifest(t, 1)
	m3.Shards[0] = m.Shards[0]
	m3.Size = 1 << 20
	f3, err := s.Commit(owner, &wire.Commit{Manifest: m3.Encode(), Receipts: [][]wire.Receipt{nil}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st := statusOf(locate(t, s, f3), 0); len(st) != 3 || st[ms[4].ID()] != wire.StatusProven || st[ms[2].ID()] != wire.StatusStored {
		t.Fatalf("a later file's statuses: %v", st)
	}

	// Every replica of f3 proven: its "q/" is the empty "all" value, and a
	// replacement keeps it so.
	if _, err := s.MarkProven(sc, ms[2].ID(), 7); err != nil {
		t.Fatal(err)
	}
	if v, err := s.get(keyProven(f3)); err != nil || len(v) != 0 {
		t.Fatalf("q/ of an all-proven file: %x, %v", v, err)
	}
	if _, err := s.ReplaceHolder(sc, ms[0].ID(), ms[5].ID(), 8); err != nil {
		t.Fatal(err)
	}
	for _, f := range []cid.Cid{f1, f3} {
		st := statusOf(locate(t, s, f), 0)
		if len(st) != 3 || st[ms[5].ID()] != wire.StatusProven || st[ms[2].ID()] != wire.StatusProven || st[ms[4].ID()] != wire.StatusProven {
			t.Fatalf("file %v after a second replacement: %v", f, st)
		}
	}
	if st := statusOf(locate(t, s, f1), 1); st[ms[0].ID()] != wire.StatusStored || len(st) != 3 {
		t.Fatalf("f1's other shard: %v", st)
	}
	// f3 committed again with a fourth replica: the new one is stored, the
	// three others stay proven.
	extra := signedReceipts(m3, owner, func(int) []*identity.Key { return ms[3:4] })
	if _, err := s.Commit(owner, &wire.Commit{Manifest: m3.Encode(), Receipts: extra}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(locate(t, s, f3), 0); len(st) != 4 || st[ms[3].ID()] != wire.StatusStored || st[ms[5].ID()] != wire.StatusProven {
		t.Fatalf("an all-proven file committed again with a new replica: %v", st)
	}

	// rm of every file forgets the shard: reports about it are refused.
	for _, f := range []cid.Cid{f1, f2, f3} {
		if _, err := s.Remove(owner, f); err != nil {
			t.Fatal(err)
		}
	}
	_, err = s.MarkProven(sc, ms[0].ID(), 8)
	wantCode(t, err, wire.CodeNotCommitted)
}

// A layout 1 index (no proven epochs, no shard → file entries) is migrated
// when opened: its files can then be proven and repaired.
func TestLayoutOneIsMigrated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	s := openTestStore(t, dir)
	ms := testKeys(0, 4)
	noteMiners(t, s, ms...)
	owner := testKey(100).ID()
	m := testManifest(t, 3)
	f, err := s.Commit(owner, &wire.Commit{Manifest: m.Encode(), Receipts: signedReceipts(m, owner, rotating(ms[:3], 2))}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Rewrite it as layout 1 wrote it.
	b := s.db.NewBatch()
	b.DeleteRange([]byte(pfxFileOf), prefixEnd([]byte(pfxFileOf)), nil)
	for i := range m.Shards {
		sr, err := s.shardRecord(m.ShardCID(i))
		if err != nil {
			t.Fatal(err)
		}
		v := binary.BigEndian.AppendUint32(nil, sr.refs)
		v = binary.BigEndian.AppendUint32(v, uint32(len(sr.holders)))
		for _, h := range sr.holders {
			v = binary.BigEndian.AppendUint32(v, h)
		}
		b.Set(keyShard(m.ShardCID(i)), v, nil)
	}
	b.Set(keyVersion, binary.BigEndian.AppendUint32(nil, 1), nil)
	if err := s.db.Commit(b, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = openTestStore(t, dir)
	if v, _ := s.get(keyVersion); binary.BigEndian.Uint32(v) != layoutVersion {
		t.Fatalf("layout version %x after the migration", v)
	}
	holders, _ := s.Holders(m.ShardCID(2))
	if _, err := s.ReplaceHolder(m.ShardCID(2), holders[0].Peer, ms[3].ID(), 2); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(locate(t, s, f), 2); st[ms[3].ID()] != wire.StatusProven || len(st) != 2 {
		t.Fatalf("after the migration and a replacement: %v", st)
	}
}

// Over QUIC: only the verifier registered at the bootstrap may report; a
// replacement whose new miner was told to reclaim its copy is refused.
func TestProofReportsOnlyFromTheVerifier(t *testing.T) {
	ms := testKeys(0, 5)
	b := newStubBootstrap(t, nil)
	p, _ := runningPeer(t, Config{DataDir: t.TempDir(), Region: "test",
		Bootstrap: []string{config.FormatPeerAddr(b.node.Self())}, RefreshInterval: time.Hour}, nil)
	if err := p.UpdateMiners(minerRecords(ms, 1<<30, 1)); err != nil {
		t.Fatal(err)
	}
	owner := testKey(100).ID()
	m := testManifest(t, 1)
	if _, err := p.store.Commit(owner, &wire.Commit{Manifest: m.Encode(), Receipts: signedReceipts(m, owner, func(int) []*identity.Key { return ms[:3] })}, time.Now()); err != nil {
		t.Fatal(err)
	}
	sc := m.ShardCID(0)
	vkey, intruder := testKey(50), testKey(51)
	vrec := wire.NodeRecord{Role: wire.RoleVerifier, Region: "test", Addrs: []string{"127.0.0.1:1"}, Seq: 1, Expires: uint64(time.Now().Add(time.Hour).Unix())}
	vrec.Sign(vkey)
	// A miner record does not make a verifier.
	b.mu.Lock()
	b.records = append(minerRecords([]*identity.Key{intruder}, 1<<30, 1), vrec)
	b.mu.Unlock()

	ctx := context.Background()
	var up wire.IndexUpdated
	err := newClient(t, intruder).Call(ctx, p.Addr(), &wire.ReplicaProven{Shard: sc, Miner: ms[0].ID(), Epoch: 3}, &up)
	wantCode(t, err, wire.CodeUnauthorized)
	err = newClient(t, intruder).Call(ctx, p.Addr(), &wire.ReplicaReplace{Shard: sc, Failing: ms[0].ID(), New: ms[3].ID(), Epoch: 3}, &up)
	wantCode(t, err, wire.CodeUnauthorized)
	if e, _ := p.store.ProvenEpoch(sc, ms[0].ID()); e != 0 {
		t.Fatal("a report from a non-verifier was recorded")
	}

	v := newClient(t, vkey) // found at the bootstrap on first use
	if err := v.Call(ctx, p.Addr(), &wire.ReplicaProven{Shard: sc, Miner: ms[0].ID(), Epoch: 3}, &up); err != nil || up.Proven != 1 {
		t.Fatalf("the verifier's report: %+v, %v", up, err)
	}
	err = v.Call(ctx, p.Addr(), &wire.ReplicaProven{Shard: shard.ShardCID(shard.Digest{7}), Miner: ms[0].ID(), Epoch: 3}, &up)
	wantCode(t, err, wire.CodeNotCommitted)
	err = v.Call(ctx, p.Addr(), &wire.ReplicaProven{Shard: sc, Miner: ms[4].ID(), Epoch: 3}, &up)
	wantCode(t, err, wire.CodeNotHolder)

	// ms[3] asked about its copy before the repair was proven and was
	// told to reclaim it: the replacement is refused.
	var ls wire.LeaseStatus
	if err := newClient(t, ms[3]).Call(ctx, p.Addr(), &wire.LeaseCheck{Shards: []cid.Cid{sc}}, &ls); err != nil || ls.States[0] != wire.LeaseUnknown {
		t.Fatalf("lease check: %+v, %v", ls, err)
	}
	err = v.Call(ctx, p.Addr(), &wire.ReplicaReplace{Shard: sc, Failing: ms[1].ID(), New: ms[3].ID(), Epoch: 4}, &up)
	wantCode(t, err, wire.CodeReclaimed)
	// ms[4]'s replacement goes through and confirms its lease.
	if err := v.Call(ctx, p.Addr(), &wire.ReplicaReplace{Shard: sc, Failing: ms[1].ID(), New: ms[4].ID(), Epoch: 4}, &up); err != nil || up.Replicas != 3 || up.Proven != 2 {
		t.Fatalf("replacement: %+v, %v", up, err)
	}
	if err := newClient(t, ms[4]).Call(ctx, p.Addr(), &wire.LeaseCheck{Shards: []cid.Cid{sc}}, &ls); err != nil || ls.States[0] != wire.LeaseCommitted {
		t.Fatalf("lease check of the repaired replica: %+v, %v", ls, err)
	}
	// A second replacement of the same failing holder would exceed the count.
	err = v.Call(ctx, p.Addr(), &wire.ReplicaReplace{Shard: sc, Failing: ms[1].ID(), New: ms[2].ID(), Epoch: 5}, &up)
	wantCode(t, err, wire.CodeNotHolder)
}
