package shard

import (
	"bytes"
	"crypto/sha256"
	"os"
	"testing"
)

const benchSize = 256 << 20

var benchData []byte

func benchInput() []byte {
	if benchData == nil {
		benchData = genBytes(99, benchSize)
	}
	return benchData
}

// BenchmarkSplitHash measures Split with the default sizes: reading,
// cutting, hashing every piece and building every Merkle tree.
func BenchmarkSplitHash(b *testing.B) {
	data := benchInput()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := Split(bytes.NewReader(data), Params{}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSHA256 is the baseline: plain SHA-256 over the same bytes, one
// piece at a time on one goroutine.
func BenchmarkSHA256(b *testing.B) {
	data := benchInput()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		for off := 0; off < len(data); off += DefaultPieceSize {
			sha256.Sum256(data[off : off+DefaultPieceSize])
		}
	}
}

// TestSplitThroughputRatio checks that splitting keeps up with plain
// SHA-256: at least 80% of its throughput, measured in the same run. Set
// PPSTORE_BENCH=1 to run it.
func TestSplitThroughputRatio(t *testing.T) {
	if os.Getenv("PPSTORE_BENCH") != "1" {
		t.Skip("set PPSTORE_BENCH=1 to measure split throughput")
	}
	if raceEnabled {
		t.Skip("throughput is meaningless under -race")
	}
	mbps := func(r testing.BenchmarkResult) float64 {
		return float64(r.Bytes) * float64(r.N) / r.T.Seconds() / (1 << 20)
	}
	plain := mbps(testing.Benchmark(BenchmarkSHA256))
	split := mbps(testing.Benchmark(BenchmarkSplitHash))
	ratio := split / plain
	t.Logf("split+hash %.0f MiB/s, plain SHA-256 %.0f MiB/s, ratio %.2f", split, plain, ratio)
	if ratio < 0.80 {
		t.Errorf("split+hash runs at %.2f of plain SHA-256, want at least 0.80", ratio)
	}
}
