package proofs

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func sealed(t testing.TB, id ReplicaID, data []byte, layers int) []byte {
	t.Helper()
	buf := make([]byte, ReplicaSize(int64(len(data))))
	copy(buf, data)
	if err := Seal(id, int64(len(data)), layers, buf); err != nil {
		t.Fatal(err)
	}
	return buf
}

func TestSealUnsealRoundTrip(t *testing.T) {
	id := NewReplicaID([]byte("miner-a"), [32]byte{1}, 0)
	for _, tc := range []struct {
		size   int
		layers int
	}{{1, 1}, {15, 3}, {16, 2}, {17, 2}, {1000, 1}, {1000, 2}, {1000, 5}, {4096, 4}, {5000, 200}} {
		data := randBytes(uint64(tc.size), tc.size)
		rep := sealed(t, id, data, tc.layers)
		if bytes.Contains(rep, data[:min(len(data), 32)]) && tc.size >= 16 {
			t.Errorf("size %d: replica still holds the data's first bytes", tc.size)
		}
		read := func(p []byte, off int64) error { copy(p, rep[off:]); return nil }
		// Every range, short ones at every offset near the edges.
		step := max(1, tc.size/37)
		if raceEnabled {
			step = max(1, tc.size/5)
		}
		for off := 0; off < tc.size; off += step {
			for _, n := range []int{1, 15, 16, 33, tc.size - off} {
				if off+n > tc.size || n < 1 {
					continue
				}
				got, err := UnsealRange(id, int64(tc.size), tc.layers, int64(off), int64(n), read)
				if err != nil {
					t.Fatalf("size %d layers %d: UnsealRange(%d, %d): %v", tc.size, tc.layers, off, n, err)
				}
				if !bytes.Equal(got, data[off:off+n]) {
					t.Fatalf("size %d layers %d: UnsealRange(%d, %d) differs from the data", tc.size, tc.layers, off, n)
				}
				into := make([]byte, n)
				if err := UnsealInto(into, id, int64(tc.size), tc.layers, int64(off), read); err != nil || !bytes.Equal(into, got) {
					t.Fatalf("size %d layers %d: UnsealInto(%d, %d): %v", tc.size, tc.layers, off, n, err)
				}
			}
		}
	}
}

func TestSealIsUniquePerReplica(t *testing.T) {
	data := randBytes(9, 4096)
	commD := [32]byte{7}
	a := sealed(t, NewReplicaID([]byte("miner-a"), commD, 0), data, 2)
	b := sealed(t, NewReplicaID([]byte("miner-b"), commD, 0), data, 2)
	c := sealed(t, NewReplicaID([]byte("miner-a"), commD, 1), data, 2)
	for i := 0; i < len(a); i += BlockSize {
		if bytes.Equal(a[i:i+BlockSize], b[i:i+BlockSize]) || bytes.Equal(a[i:i+BlockSize], c[i:i+BlockSize]) {
			t.Fatalf("block %d equal in two replicas of the same shard", i/BlockSize)
		}
	}
}

func TestSealRefusesBadSizes(t *testing.T) {
	id := ReplicaID{}
	if err := Seal(id, 17, 1, make([]byte, 17)); err == nil {
		t.Error("Seal accepted a buffer not padded to whole blocks")
	}
	if err := Seal(id, 16, 0, make([]byte, 16)); err == nil {
		t.Error("Seal accepted zero layers")
	}
	if _, err := UnsealRange(id, 16, 1, 10, 10, nil); err == nil {
		t.Error("UnsealRange accepted a range past the shard")
	}
}

func TestLayersForSmallShards(t *testing.T) {
	p := Params{Rounds: 2, MinSealBlocks: 1000}
	if got := p.Layers(16 * 1000); got != 2 {
		t.Errorf("Layers(1000 blocks) = %d, want 2", got)
	}
	if got := p.Layers(16 * 10); got != 100 {
		t.Errorf("Layers(10 blocks) = %d, want 100", got)
	}
}
