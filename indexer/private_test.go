package indexer

import (
	"bytes"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/sharecode"
	"github.com/ppstore/ppstore/wire"
)

func TestPrivateCommitRefusesAMinerHoldingEveryShard(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	owner := testKey(1000).ID()
	miners := testKeys(0, 4)
	noteMiners(t, s, miners...)
	commit := func(m *shard.Manifest, pick func(int) []*identity.Key) error {
		_, err := s.Commit(owner, &wire.Commit{Manifest: m.Encode(), Receipts: signedReceipts(m, owner, pick)}, time.Unix(1000, 0))
		return err
	}
	private := func(n int) *shard.Manifest {
		m := testManifest(t, n)
		m.Flags = shard.FlagEncrypted
		return m
	}
	// Miner 0 in every shard of a 3-shard file: refused, naming it.
	err := commit(private(3), func(i int) []*identity.Key { return []*identity.Key{miners[0], miners[1+i]} })
	wantCode(t, err, wire.CodeConflict)
	if !bytes.Contains([]byte(err.Error()), []byte(miners[0].ID().String())) {
		t.Fatalf("refusal does not name the miner: %v", err)
	}
	// A private file of one shard is refused whatever its placement.
	wantCode(t, commit(private(1), func(int) []*identity.Key { return miners[:1] }), wire.CodeBadRequest)
	// Overlapping but without a common miner: accepted.
	if err := commit(private(3), rotating(miners, 2)); err != nil {
		t.Fatalf("a private file no miner holds whole: %v", err)
	}
	// Public files are not concerned.
	if err := commit(testManifest(t, 2), func(int) []*identity.Key { return miners[:2] }); err != nil {
		t.Fatalf("public file on the same miners: %v", err)
	}
}

func TestRevocationsAreKeptInOrderAndOnce(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	owner := testKey(1)
	file := cid.NewCidV1(shard.ManifestCodec, testManifest(t, 1).CID().Hash())
	var revs [][]byte
	for i := 0; i < 5; i++ {
		c, err := sharecode.New(owner, file, nil, sharecode.Options{})
		if err != nil {
			t.Fatal(err)
		}
		r, _ := sharecode.Revoke(owner, &c.Grant)
		revs = append(revs, r.Encode())
		seq, err := s.Revoke(r.Encode())
		if err != nil || seq != uint64(i+1) {
			t.Fatalf("revocation %d: seq %d, %v", i, seq, err)
		}
	}
	// The same revocation again keeps its number.
	if seq, err := s.Revoke(revs[2]); err != nil || seq != 3 {
		t.Fatalf("repeated revocation: seq %d, %v; want 3", seq, err)
	}
	// A forged one and garbage are refused.
	bad := bytes.Clone(revs[0])
	bad[len(bad)-1] ^= 1
	if _, err := s.Revoke(bad); err == nil {
		t.Fatal("forged revocation recorded")
	}
	_, err := s.Revoke([]byte("junk"))
	wantCode(t, err, wire.CodeBadRequest)

	list, last, more, err := s.Revocations(0, 2)
	if err != nil || len(list) != 2 || last != 2 || !more || !bytes.Equal(list[0], revs[0]) {
		t.Fatalf("first page: %d, last %d, more %v, %v", len(list), last, more, err)
	}
	list, last, more, err = s.Revocations(last, 10)
	if err != nil || len(list) != 3 || last != 5 || more {
		t.Fatalf("second page: %d, last %d, more %v, %v", len(list), last, more, err)
	}
	if list, last, more, _ := s.Revocations(5, 10); len(list) != 0 || last != 5 || more {
		t.Fatalf("nothing new: %d, last %d, more %v", len(list), last, more)
	}
	// Numbers go on after a restart.
	s.Close()
	s = openTestStore(t, dir)
	c, _ := sharecode.New(owner, file, nil, sharecode.Options{})
	r, _ := sharecode.Revoke(owner, &c.Grant)
	if seq, err := s.Revoke(r.Encode()); err != nil || seq != 6 {
		t.Fatalf("after restart: seq %d, %v; want 6", seq, err)
	}
}
