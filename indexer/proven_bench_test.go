package indexer

import (
	"math/rand/v2"
	"testing"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/cockroachdb/pebble"
	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/wire"
)

// BenchmarkLocateProofStatus measures what the proof status costs Locate:
// 256-shard files with 3 replicas per shard, none proven (Locate looks for
// a "q/" bitmap and finds none), all proven (it finds the empty "all"
// value) and two thirds proven (it decodes and consults a bitmap), in one
// index:
//
//	go test -run '^$' -bench BenchmarkLocateProofStatus ./indexer/
func BenchmarkLocateProofStatus(b *testing.B) {
	s := openTestStore(b, b.TempDir())
	miners := make([]identity.PeerID, 30)
	for i := range miners {
		miners[i] = testKey(i).ID()
	}
	const files = 66
	var stored, proven, partly []cid.Cid
	batch := make([]fileRecord, 0, files)
	for f := range files {
		m := testManifest(b, benchShards)
		rec := fileRecord{cid: m.CID(), manifest: m.Encode(), shards: benchShards, size: uint64(m.Size),
			owner: testKey(999).ID(), created: uint64(f), replicas: make([][]identity.PeerID, benchShards)}
		for i := range rec.replicas {
			for j := range benchReplicas {
				rec.replicas[i] = append(rec.replicas[i], miners[(f+i+j*11)%len(miners)])
			}
		}
		batch = append(batch, rec)
		switch f % 3 {
		case 0:
			stored = append(stored, rec.cid)
		case 1:
			proven = append(proven, rec.cid)
		default:
			partly = append(partly, rec.cid)
		}
	}
	if err := s.write(batch, pebble.NoSync); err != nil {
		b.Fatal(err)
	}
	wb := s.db.NewBatch()
	for _, c := range proven { // every replica proven: q/ = b/
		bm, err := s.readBitmap(keyBitmap(c))
		if err != nil {
			b.Fatal(err)
		}
		if err := setProven(wb, c, bm, bm); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range partly { // all but the first replica of each shard proven
		bm, err := s.readBitmap(keyBitmap(c))
		if err != nil {
			b.Fatal(err)
		}
		q := roaring64.New()
		last := int64(-1)
		for it := bm.Iterator(); it.HasNext(); {
			v := it.Next()
			if si := int64(v >> minerBits); si == last {
				q.Add(v)
			} else {
				last = si
			}
		}
		if err := setProven(wb, c, q, bm); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.db.Commit(wb, pebble.Sync); err != nil {
		b.Fatal(err)
	}
	if err := s.db.Flush(); err != nil {
		b.Fatal(err)
	}
	for _, set := range []struct {
		name  string
		cids  []cid.Cid
		state wire.ReplicaStatus
	}{{"none-proven", stored, wire.StatusStored}, {"all-proven", proven, wire.StatusProven}, {"two-thirds-proven", partly, wire.StatusStored}} {
		b.Run(set.name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			b.ReportAllocs()
			for b.Loop() {
				loc, err := s.Locate(set.cids[r.IntN(len(set.cids))])
				if err != nil || len(loc.Shards) != benchShards || loc.Shards[0][0].Status != set.state {
					b.Fatalf("locate: %v", err)
				}
			}
		})
	}
}
