package shard

import (
	"fmt"
	"io"
)

// CheckShard verifies that data is exactly shard i of m: that it has the
// right length and that its pieces hash to the shard's Merkle root. A
// mismatch wraps ErrCorrupt. Since m holds only the root, a bad piece cannot
// be pointed out; the error names the shard.
func CheckShard(m *Manifest, i int, data []byte) error {
	if i < 0 || i >= len(m.Shards) {
		return fmt.Errorf("%w: shard %d out of range: the file has %d shards", ErrBadParams, i, len(m.Shards))
	}
	if m.PieceSize <= 0 {
		return fmt.Errorf("%w: piece size %d", ErrBadManifest, m.PieceSize)
	}
	if want := m.ShardLen(i); int64(len(data)) != want {
		return fmt.Errorf("%w: shard %d (%s) has %d bytes, want %d", ErrCorrupt, i, m.ShardCID(i), len(data), want)
	}
	if root := MerkleRoot(hashPieces(data, m.PieceSize)); root != m.Shards[i] {
		return fmt.Errorf("%w: shard %d (%s): %d pieces have root %s", ErrCorrupt, i, m.ShardCID(i), m.PieceCount(i), root)
	}
	return nil
}

// Join writes the file m describes to w. It gets the bytes of each shard,
// in order, from fetch and checks them with CheckShard before writing any
// of them, so everything written is exactly what m's CID names. It stops at
// the first error: from m (wrapping ErrBadManifest), fetch, the check or w.
func Join(w io.Writer, m *Manifest, fetch func(i int) ([]byte, error)) error {
	if err := m.validate(); err != nil {
		return err
	}
	for i := range m.Shards {
		data, err := fetch(i)
		if err != nil {
			return fmt.Errorf("shard: fetching shard %d: %w", i, err)
		}
		if err := CheckShard(m, i, data); err != nil {
			return err
		}
		if _, err := w.Write(data); err != nil {
			return fmt.Errorf("shard: writing shard %d: %w", i, err)
		}
	}
	return nil
}
