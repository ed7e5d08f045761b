package indexer

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/wire"
)

// testKey returns a deterministic identity key number i.
func testKey(i int) *identity.Key {
	seed := make([]byte, 32)
	copy(seed, "ppstore-indexer-test")
	binary.BigEndian.PutUint32(seed[28:], uint32(i))
	return identity.FromSeed(seed)
}

func testKeys(from, n int) []*identity.Key {
	ks := make([]*identity.Key, n)
	for i := range ks {
		ks[i] = testKey(from + i)
	}
	return ks
}

// testManifest returns a manifest of n shards of 1 MiB with random roots; the
// last shard is short.
func testManifest(t testing.TB, n int) *shard.Manifest {
	t.Helper()
	m := &shard.Manifest{ShardSize: 1 << 20, PieceSize: 64 << 10, Shards: make([]shard.Digest, n)}
	for i := range m.Shards {
		rand.Read(m.Shards[i][:])
	}
	if n > 0 {
		m.Size = int64(n-1)<<20 + 12345
	}
	if _, err := shard.DecodeManifest(m.Encode()); err != nil {
		t.Fatalf("test manifest: %v", err)
	}
	return m
}

// signedReceipts returns, per shard, receipts to owner signed by the miners
// that pick(i) names.
func signedReceipts(m *shard.Manifest, owner identity.PeerID, pick func(i int) []*identity.Key) [][]wire.Receipt {
	out := make([][]wire.Receipt, len(m.Shards))
	for i := range out {
		for _, k := range pick(i) {
			r := wire.Receipt{Shard: m.ShardCID(i), Size: uint64(m.ShardLen(i)), Owner: owner, Stored: uint64(time.Now().Unix())}
			r.Sign(k)
			out[i] = append(out[i], r)
		}
	}
	return out
}

// rotating picks r of the given miners for shard i, starting at miner i.
func rotating(miners []*identity.Key, r int) func(i int) []*identity.Key {
	return func(i int) []*identity.Key {
		out := make([]*identity.Key, r)
		for j := range out {
			out[j] = miners[(i+j)%len(miners)]
		}
		return out
	}
}

func openTestStore(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := OpenStore(dir, StoreOptions{CacheSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// replicaPeers returns the sorted peer IDs of a shard's replicas.
func replicaPeers(rs []wire.Replica) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Peer.String()
	}
	sort.Strings(out)
	return out
}

func keyPeers(ks []*identity.Key) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.ID().String()
	}
	sort.Strings(out)
	return out
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkLocation checks that loc holds m and, per shard, exactly the miners pick(i).
func checkLocation(t *testing.T, loc *wire.Location, m *shard.Manifest, pick func(i int) []*identity.Key) {
	t.Helper()
	if string(loc.Manifest) != string(m.Encode()) {
		t.Fatalf("location manifest differs from the committed one")
	}
	if len(loc.Shards) != len(m.Shards) {
		t.Fatalf("location has %d shards, manifest %d", len(loc.Shards), len(m.Shards))
	}
	for i, rs := range loc.Shards {
		if got, want := replicaPeers(rs), keyPeers(pick(i)); !sameStrings(got, want) {
			t.Fatalf("shard %d: replicas %v, want %v", i, got, want)
		}
		for _, r := range rs {
			if r.Status != wire.StatusStored {
				t.Fatalf("shard %d: replica status %v, want stored", i, r.Status)
			}
		}
	}
}

// wantCode fails unless err is a *wire.Error with the given code.
func wantCode(t *testing.T, err error, code wire.Code) {
	t.Helper()
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != code {
		t.Fatalf("error %v, want code %v", err, code)
	}
}

// minerRecord is a live miner record for the placer.
func minerRecord(k *identity.Key, addr string, free, seq uint64) wire.NodeRecord {
	r := wire.NodeRecord{
		Role: wire.RoleMiner, Region: "test", Addrs: []string{addr}, Free: free, Capacity: free,
		Seq: seq, Expires: uint64(time.Now().Add(time.Hour).Unix()),
	}
	r.Sign(k)
	return r
}

func minerRecords(ks []*identity.Key, free, seq uint64) []wire.NodeRecord {
	out := make([]wire.NodeRecord, len(ks))
	for i, k := range ks {
		out[i] = minerRecord(k, fmt.Sprintf("10.0.0.%d:4000", i+1), free, seq)
	}
	return out
}

// noteMiners registers miner keys with the store, as the bootstrap refresh
// would: commits accept receipts only from known miners.
func noteMiners(t testing.TB, s *Store, miners ...*identity.Key) {
	t.Helper()
	if err := s.NoteMiners(minerRecords(miners, 1<<30, 1)); err != nil {
		t.Fatal(err)
	}
}
