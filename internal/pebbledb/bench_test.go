package pebbledb

import (
	"encoding/binary"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
)

// BenchmarkSet measures what the disk-full rules cost a write: one unsynced
// Set of a 100-byte value straight to pebble, against the same through DB
// (a statfs for the reserve and the guard around the write). Synced writes
// cost a disk flush each, which dwarfs either.
func BenchmarkSet(b *testing.B) { benchSet(b, pebble.NoSync) }

// BenchmarkSyncedSet is BenchmarkSet with each write synced, as the daemons
// write their records.
func BenchmarkSyncedSet(b *testing.B) { benchSet(b, pebble.Sync) }

// benchSet runs b's Sets with o straight to pebble ("pebble") and through
// DB ("pebbledb").
func benchSet(b *testing.B, o *pebble.WriteOptions) {
	val := make([]byte, 100)
	for _, tc := range []struct {
		name string
		set  func(db *DB, k []byte) error
	}{
		{"pebble", func(db *DB, k []byte) error { return db.DB.Set(k, val, o) }},
		{"pebbledb", func(db *DB, k []byte) error { return db.Set(k, val, o) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			db, err := Open(filepath.Join(b.TempDir(), "db"), Options{FS: vfs.Default})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			k := make([]byte, 8)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				binary.BigEndian.PutUint64(k, uint64(i))
				if err := tc.set(db, k); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDiskUsage is the statfs each write that adds data costs.
func BenchmarkDiskUsage(b *testing.B) {
	dir := b.TempDir()
	for i := 0; i < b.N; i++ {
		if _, err := vfs.Default.GetDiskUsage(dir); err != nil {
			b.Fatal(err)
		}
	}
}
