package shard

import (
	"hash/crc32"
	"io"
	"runtime"
	"testing"
)

// TestLargeFile streams 2.5 GiB through Split and Join, regenerating each
// shard for Join from its offset, and checks the heap stays small.
func TestLargeFile(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("large file test skipped in -short and -race runs")
	}
	const (
		size     = 5 << 29 // 2.5 GiB
		seed     = 42
		maxHeap  = 128 << 20
		checkGap = 16 // shards between heap checks
	)
	var maxInuse uint64
	checkHeap := func(i int) {
		if i%checkGap != 0 {
			return
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		maxInuse = max(maxInuse, ms.HeapInuse)
		if ms.HeapInuse > maxHeap {
			t.Fatalf("shard %d: heap in use %d MiB, limit %d MiB", i, ms.HeapInuse>>20, maxHeap>>20)
		}
	}

	table := crc32.MakeTable(crc32.Castagnoli)
	in := crc32.New(table)
	m, err := Split(io.TeeReader(&genReader{seed: seed, size: size}, in), Params{}, func(s *Shard) error {
		checkHeap(s.Index)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.Size != size || len(m.Shards) != size/DefaultShardSize {
		t.Fatalf("manifest: size %d, %d shards", m.Size, len(m.Shards))
	}

	out := crc32.New(table)
	err = Join(out, m, func(i int) ([]byte, error) {
		checkHeap(i)
		b := make([]byte, m.ShardLen(i))
		fillAt(seed, b, int64(i)*m.ShardSize)
		return b, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if in.Sum32() != out.Sum32() {
		t.Fatalf("joined stream crc %08x, input crc %08x", out.Sum32(), in.Sum32())
	}
	t.Logf("%d shards, file CID %s, peak heap in use %d MiB", len(m.Shards), m.CID(), maxInuse>>20)
}
