package indexer

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/wire"
)

func TestCommitLocateRoundTrip(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	owner := testKey(1000).ID()
	miners := testKeys(0, 5)
	m := testManifest(t, 7)
	pick := rotating(miners, 3)

	noteMiners(t, s, miners...)
	got, err := s.Commit(owner, &wire.Commit{Manifest: m.Encode(), Name: "a.txt", Receipts: signedReceipts(m, owner, pick)}, time.Unix(1000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equals(m.CID()) {
		t.Fatalf("committed %v, want the manifest CID %v", got, m.CID())
	}
	loc, err := s.Locate(got)
	if err != nil {
		t.Fatal(err)
	}
	checkLocation(t, loc, m, pick)
	if s.Files() != 1 || s.Shards() != 7 || s.ShardRecords() != 7*3 || s.Miners() != 5 {
		t.Fatalf("files %d shards %d records %d miners %d, want 1, 7, 21, 5", s.Files(), s.Shards(), s.ShardRecords(), s.Miners())
	}

	// Miner records give the addresses Locate answers with; a changed address replaces the old one.
	recs := minerRecords(miners, 1<<30, 1)
	if err := s.NoteMiners(recs); err != nil {
		t.Fatal(err)
	}
	recs[2].Addrs = []string{"10.9.9.9:1"}
	if err := s.NoteMiners(recs); err != nil {
		t.Fatal(err)
	}
	loc, err = s.Locate(got)
	if err != nil {
		t.Fatal(err)
	}
	want := map[identity.PeerID]string{}
	for _, r := range recs {
		want[r.Peer] = r.Addrs[0]
	}
	for i, rs := range loc.Shards {
		for _, r := range rs {
			if r.Addr != want[r.Peer] {
				t.Fatalf("shard %d: miner %v at %q, want %q", i, r.Peer.Short(), r.Addr, want[r.Peer])
			}
		}
	}

	files, err := s.ListFiles(owner, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || !files[0].CID.Equals(got) || files[0].Name != "a.txt" || files[0].Size != uint64(m.Size) || files[0].Created != 1000 {
		t.Fatalf("listing %+v", files)
	}
	if other, _ := s.ListFiles(testKey(1001).ID(), 0); len(other) != 0 {
		t.Fatalf("another peer lists %d files", len(other))
	}
}

func TestEmptyFile(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	owner := testKey(1000).ID()
	m := testManifest(t, 0)
	c, err := s.Commit(owner, &wire.Commit{Manifest: m.Encode(), Name: "empty"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	loc, err := s.Locate(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(loc.Shards) != 0 || string(loc.Manifest) != string(m.Encode()) {
		t.Fatalf("location of the empty file: %+v", loc)
	}
}

func TestLocateUnknownAndBadCIDs(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	m := testManifest(t, 2)
	_, err := s.Locate(m.CID())
	wantCode(t, err, wire.CodeNotFound)
	if !errors.Is(err, wire.ErrNotFound) {
		t.Fatalf("%v does not match wire.ErrNotFound", err)
	}
	_, err = s.Locate(cid.Undef)
	wantCode(t, err, wire.CodeBadRequest)
	_, err = s.Locate(m.ShardCID(0)) // a shard, not a file
	wantCode(t, err, wire.CodeBadRequest)
}

func TestStoreRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	owner := testKey(1000).ID()
	miners := testKeys(0, 4)
	m1, m2 := testManifest(t, 5), testManifest(t, 3)
	pick1, pick2 := rotating(miners, 2), rotating(miners[1:], 3)
	noteMiners(t, s, miners...)
	c1, err := s.Commit(owner, &wire.Commit{Manifest: m1.Encode(), Name: "one", Receipts: signedReceipts(m1, owner, pick1)}, time.Unix(100, 0))
	if err != nil {
		t.Fatal(err)
	}
	c2, err := s.Commit(owner, &wire.Commit{Manifest: m2.Encode(), Name: "two", Receipts: signedReceipts(m2, owner, pick2)}, time.Unix(200, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.NoteMiners(minerRecords(miners, 1<<30, 1)); err != nil {
		t.Fatal(err)
	}
	files, shards, records := s.Files(), s.Shards(), s.ShardRecords()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTestStore(t, dir)
	if s.Files() != files || s.Shards() != shards || s.ShardRecords() != records || s.Miners() != len(miners) {
		t.Fatalf("after restart: files %d records %d miners %d, want %d %d %d", s.Files(), s.ShardRecords(), s.Miners(), files, records, len(miners))
	}
	for _, f := range []struct {
		c    cid.Cid
		m    *shard.Manifest
		pick func(int) []*identity.Key
	}{{c1, m1, pick1}, {c2, m2, pick2}} {
		loc, err := s.Locate(f.c)
		if err != nil {
			t.Fatal(err)
		}
		checkLocation(t, loc, f.m, f.pick)
		for _, rs := range loc.Shards {
			for _, r := range rs {
				if r.Addr == "" {
					t.Fatalf("miner %v lost its address across the restart", r.Peer.Short())
				}
			}
		}
	}
	list, err := s.ListFiles(owner, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "two" || list[1].Name != "one" {
		t.Fatalf("listing after restart %+v, want two then one (newest first)", list)
	}

	// A miner first seen after the restart gets a fresh index; old bitmaps still name the old miners.
	newcomer := testKey(50)
	noteMiners(t, s, newcomer)
	m3 := testManifest(t, 2)
	pick3 := func(int) []*identity.Key { return []*identity.Key{newcomer, miners[0]} }
	c3, err := s.Commit(owner, &wire.Commit{Manifest: m3.Encode(), Receipts: signedReceipts(m3, owner, pick3)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if s.Miners() != len(miners)+1 {
		t.Fatalf("%d miners, want %d", s.Miners(), len(miners)+1)
	}
	loc, _ := s.Locate(c3)
	checkLocation(t, loc, m3, pick3)
	loc, _ = s.Locate(c1)
	checkLocation(t, loc, m1, pick1)
}

func TestCommitRejectsAndWritesNothing(t *testing.T) {
	owner := testKey(1000).ID()
	stranger := testKey(1001)
	miners := testKeys(0, 4)
	m := testManifest(t, 4)
	pick := rotating(miners, 2)

	cases := []struct {
		name   string
		code   wire.Code
		commit func() *wire.Commit
	}{
		{"bad signature", wire.CodeUnauthorized, func() *wire.Commit {
			rs := signedReceipts(m, owner, pick)
			rs[2][1].Sig[0] ^= 1
			return &wire.Commit{Manifest: m.Encode(), Receipts: rs}
		}},
		{"signed by another key", wire.CodeUnauthorized, func() *wire.Commit {
			rs := signedReceipts(m, owner, pick)
			miner := rs[1][0].Miner
			rs[1][0].Sign(stranger)
			rs[1][0].Miner = miner
			return &wire.Commit{Manifest: m.Encode(), Receipts: rs}
		}},
		{"wrong shard CID", wire.CodeBadRequest, func() *wire.Commit {
			rs := signedReceipts(m, owner, pick)
			rs[3][0].Shard = m.ShardCID(2)
			rs[3][0].Sign(pick(3)[0])
			return &wire.Commit{Manifest: m.Encode(), Receipts: rs}
		}},
		{"wrong size", wire.CodeBadRequest, func() *wire.Commit {
			rs := signedReceipts(m, owner, pick)
			rs[3][1].Size = 1 << 20 // the last shard is short
			rs[3][1].Sign(pick(3)[1])
			return &wire.Commit{Manifest: m.Encode(), Receipts: rs}
		}},
		{"wrong owner", wire.CodeUnauthorized, func() *wire.Commit {
			return &wire.Commit{Manifest: m.Encode(), Receipts: signedReceipts(m, stranger.ID(), pick)}
		}},
		{"missing shard", wire.CodeBadRequest, func() *wire.Commit {
			rs := signedReceipts(m, owner, pick)
			rs[1] = nil
			return &wire.Commit{Manifest: m.Encode(), Receipts: rs}
		}},
		{"too few receipt lists", wire.CodeBadRequest, func() *wire.Commit {
			return &wire.Commit{Manifest: m.Encode(), Receipts: signedReceipts(m, owner, pick)[:3]}
		}},
		{"same miner twice", wire.CodeBadRequest, func() *wire.Commit {
			return &wire.Commit{Manifest: m.Encode(), Receipts: signedReceipts(m, owner, func(int) []*identity.Key {
				return []*identity.Key{miners[0], miners[0]}
			})}
		}},
		{"bad manifest", wire.CodeBadRequest, func() *wire.Commit {
			enc := m.Encode()
			return &wire.Commit{Manifest: enc[:len(enc)-1], Receipts: signedReceipts(m, owner, pick)}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openTestStore(t, dir)
			_, err := s.Commit(owner, tc.commit(), time.Now())
			wantCode(t, err, tc.code)
			checkEmpty(t, s, owner, m.CID())
			// Nothing was written to disk either.
			s.Close()
			checkEmpty(t, openTestStore(t, dir), owner, m.CID())
		})
	}
}

func checkEmpty(t *testing.T, s *Store, owner identity.PeerID, c cid.Cid) {
	t.Helper()
	_, err := s.Locate(c)
	wantCode(t, err, wire.CodeNotFound)
	if ls, err := s.ListFiles(owner, 0); err != nil || len(ls) != 0 {
		t.Fatalf("listing %v, %v; want empty", ls, err)
	}
	if s.Files() != 0 || s.Shards() != 0 || s.ShardRecords() != 0 || s.Miners() != 0 {
		t.Fatalf("files %d records %d miners %d after a rejected commit", s.Files(), s.ShardRecords(), s.Miners())
	}
}

func TestCommitMergesReplicas(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	alice, bob := testKey(1000).ID(), testKey(1001).ID()
	miners := testKeys(0, 6)
	m := testManifest(t, 4)
	first := rotating(miners[:3], 2)  // shard i on miners i, i+1 of the first three
	second := rotating(miners[2:], 2) // shard i on two of the last four
	union := func(i int) []*identity.Key {
		seen := map[identity.PeerID]bool{}
		var out []*identity.Key
		for _, k := range append(first(i), second(i)...) {
			if !seen[k.ID()] {
				seen[k.ID()] = true
				out = append(out, k)
			}
		}
		return out
	}

	noteMiners(t, s, miners...)
	c, err := s.Commit(alice, &wire.Commit{Manifest: m.Encode(), Name: "v1", Receipts: signedReceipts(m, alice, first)}, time.Unix(100, 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(alice, &wire.Commit{Manifest: m.Encode(), Name: "v2", Receipts: signedReceipts(m, alice, second)}, time.Unix(200, 0)); err != nil {
		t.Fatal(err)
	}
	loc, err := s.Locate(c)
	if err != nil {
		t.Fatal(err)
	}
	checkLocation(t, loc, m, union)
	want := 0
	for i := range m.Shards {
		want += len(union(i))
	}
	if s.Files() != 1 || s.ShardRecords() != uint64(want) {
		t.Fatalf("files %d records %d, want 1 and %d", s.Files(), s.ShardRecords(), want)
	}
	ls, _ := s.ListFiles(alice, 0)
	if len(ls) != 1 || ls[0].Name != "v2" || ls[0].Created != 100 {
		t.Fatalf("alice's listing %+v, want one entry named v2 created at 100", ls)
	}

	// Another owner committing the same file (with receipts issued to them) gets a listing entry too.
	if _, err := s.Commit(bob, &wire.Commit{Manifest: m.Encode(), Name: "bob's", Receipts: signedReceipts(m, bob, first)}, time.Unix(300, 0)); err != nil {
		t.Fatal(err)
	}
	if ls, _ := s.ListFiles(bob, 0); len(ls) != 1 || ls[0].Name != "bob's" {
		t.Fatalf("bob's listing %+v", ls)
	}
	if s.ShardRecords() != uint64(want) {
		t.Fatalf("records %d after a commit of known replicas, want %d", s.ShardRecords(), want)
	}
}

func TestListFilesNewestFirst(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	owner := testKey(1000).ID()
	miner := testKey(0)
	one := func(int) []*identity.Key { return []*identity.Key{miner} }
	for i, name := range []string{"b", "c", "a"} {
		m := testManifest(t, 1)
		noteMiners(t, s, miner)
		if _, err := s.Commit(owner, &wire.Commit{Manifest: m.Encode(), Name: name, Receipts: signedReceipts(m, owner, one)}, time.Unix(int64(100+i%2), 0)); err != nil {
			t.Fatal(err)
		}
	}
	ls, err := s.ListFiles(owner, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range ls {
		names = append(names, f.Name)
	}
	if !sameStrings(names, []string{"c", "a", "b"}) {
		t.Fatalf("order %v, want [c a b] (newest first, then by name)", names)
	}
	if ls, _ := s.ListFiles(owner, 2); len(ls) != 2 {
		t.Fatalf("limit 2 gave %d", len(ls))
	}
}

// A receipt signed by a key that never registered as a miner in this region
// is refused, and nothing is written.
func TestCommitRefusesUnknownMiners(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	owner := testKey(1000).ID()
	miners := testKeys(0, 3)
	noteMiners(t, s, miners[:2]...)
	m := testManifest(t, 2)
	_, err := s.Commit(owner, &wire.Commit{Manifest: m.Encode(), Receipts: signedReceipts(m, owner, rotating(miners, 2))}, time.Unix(1, 0))
	if !errors.Is(err, wire.ErrUnauthorized) {
		t.Fatalf("receipt from an unregistered miner: err = %v, want ErrUnauthorized", err)
	}
	if _, err := s.Locate(m.CID()); !errors.Is(err, wire.ErrNotFound) {
		t.Fatalf("refused commit left a file: %v", err)
	}
	if s.Miners() != 2 {
		t.Fatalf("refused commit grew the miner table to %d", s.Miners())
	}
}

// Receipts from keys that are not miners of the region are refused before
// any signature is checked: a flood of self-signed receipts costs a lookup
// each, not an ed25519 verification.
func TestCommitChecksMinersBeforeSignatures(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	owner := testKey(1000).ID()
	strangers := testKeys(500, 3)
	m := testManifest(t, 4)
	receipts := signedReceipts(m, owner, rotating(strangers, 2))
	receipts[0][0].Sig[0] ^= 1 // a bad signature as well
	_, err := s.Commit(owner, &wire.Commit{Manifest: m.Encode(), Receipts: receipts}, time.Unix(1, 0))
	if !errors.Is(err, wire.ErrUnauthorized) || !strings.Contains(err.Error(), "not a miner registered") {
		t.Fatalf("err = %v, want the unregistered-miner refusal", err)
	}
	// Registered miners with a bad signature: the signature is checked.
	noteMiners(t, s, strangers...)
	_, err = s.Commit(owner, &wire.Commit{Manifest: m.Encode(), Receipts: receipts}, time.Unix(1, 0))
	if !errors.Is(err, wire.ErrUnauthorized) || !strings.Contains(err.Error(), "bad signature") {
		t.Fatalf("err = %v, want a bad-signature refusal", err)
	}
}
