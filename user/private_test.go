package user

import (
	"testing"

	"github.com/ppstore/ppstore/filecrypt"
	"github.com/ppstore/ppstore/shard"
)

// Every private file is cut into at least two shards, with valid sizes.
func TestPrivateParamsGiveTwoShards(t *testing.T) {
	for _, p := range []shard.Params{{}, {ShardSize: 1 << 20, PieceSize: 64 << 10}, {ShardSize: 4096, PieceSize: 4096}} {
		for _, plain := range []int64{0, 1, 100, 65519, 65520, 300 << 10, 4<<20 - 100, 8 << 20} {
			size := filecrypt.CipherSize(plain, filecrypt.ChunkSize)
			got := privateParams(size, p)
			if err := got.Validate(); err != nil {
				t.Fatalf("params %+v, %d bytes: %+v invalid: %v", p, size, got, err)
			}
			if shards := (size + got.ShardSize - 1) / got.ShardSize; shards < 2 {
				t.Fatalf("params %+v, %d bytes: %+v gives %d shard", p, size, got, shards)
			}
			if size > p.WithDefaults().ShardSize && got != p.WithDefaults() {
				t.Fatalf("params %+v, %d bytes: changed to %+v though the file already has two shards", p, size, got)
			}
		}
	}
}
