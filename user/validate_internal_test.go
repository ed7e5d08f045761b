package user

import (
	"strings"
	"testing"

	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/wire"
)

// commitLen is exact: it matches the encoding of real commits of several
// shapes, with receipts signed by distinct miners.
func TestCommitLenMatchesEncoding(t *testing.T) {
	owner, _ := identity.Generate()
	for _, tc := range []struct{ shards, replicas, name int }{{1, 1, 0}, {1, 3, 7}, {5, 3, 100}, {17, 9, 1024}} {
		m := shard.Manifest{Size: int64(tc.shards) * shard.DefaultShardSize, ShardSize: shard.DefaultShardSize, PieceSize: shard.DefaultPieceSize,
			Shards: make([]shard.Digest, tc.shards)}
		c := wire.Commit{Manifest: m.Encode(), Name: strings.Repeat("x", tc.name)}
		for i := range tc.shards {
			var rs []wire.Receipt
			for range tc.replicas {
				k, _ := identity.Generate()
				r := wire.Receipt{Shard: m.ShardCID(i), Size: shard.DefaultShardSize, Owner: owner.ID(), Stored: 1_800_000_000}
				r.Sign(k)
				rs = append(rs, r)
			}
			c.Receipts = append(c.Receipts, rs)
		}
		want := int64(len(c.Append(nil)))
		if got := commitLen(m.Size, shard.DefaultShardSize, tc.replicas, tc.name); got != want {
			t.Errorf("%+v: commitLen = %d, encoded commit is %d bytes", tc, got, want)
		}
	}
}

// At the limit: the largest file that fits is accepted, one more shard is not.
func TestCheckCommitFitsBoundary(t *testing.T) {
	limit := int64(wire.LimitFor(wire.TypeCommit, 0))
	const ss = shard.DefaultShardSize
	k := measureCommit()
	per := k.perShard + 2*k.perReceipt
	shards := (limit - k.fixed) / per
	if err := checkCommitFits(shards*ss, ss, 3, 0); err != nil {
		t.Fatalf("%d shards (%d bytes of commit, limit %d): %v", shards, k.fixed+shards*per, limit, err)
	}
	if err := checkCommitFits(shards*ss+1, ss, 3, 0); err == nil {
		t.Fatalf("%d shards accepted over the limit", shards+1)
	}
}
