package proofs

import (
	"testing"

	"github.com/ppstore/ppstore/shard"
)

// testParams keep the unit tests fast: 64 KiB shards sealed in two layers.
var testParams = Params{Rounds: 2, MinSealBlocks: 4096, PoRepChallenges: 8, PoStChallenges: 8}

// fixture is one honestly sealed replica and what its miner keeps.
type fixture struct {
	data    []byte
	digests []shard.Digest
	rep     *Replica
	replica []byte
	tree    *Tree
}

func (f *fixture) read(p []byte, off int64) error {
	copy(p, f.replica[off:])
	return nil
}

func (f *fixture) held() Held { return Held{Replica: f.rep, Tree: f.tree, Read: f.read} }

func pieceDigests(data []byte, pieceSize int) []shard.Digest {
	var ds []shard.Digest
	for off := 0; off < len(data); off += pieceSize {
		ds = append(ds, shard.PieceDigest(data[off:min(off+pieceSize, len(data))]))
	}
	return ds
}

// sealFixture seals data for miner as replica number with params p.
func sealFixture(t testing.TB, miner string, data []byte, pieceSize int, number uint32, p Params) *fixture {
	t.Helper()
	ds := pieceDigests(data, pieceSize)
	rep := &Replica{
		Miner: []byte(miner), CommD: shard.MerkleRoot(ds), Size: int64(len(data)),
		PieceSize: int64(pieceSize), Number: number, Layers: p.Layers(int64(len(data))),
	}
	buf := make([]byte, ReplicaSize(rep.Size))
	copy(buf, data)
	if err := Seal(rep.ID(), rep.Size, rep.Layers, buf); err != nil {
		t.Fatal(err)
	}
	tree := NewTree(buf)
	rep.CommR = tree.Root()
	return &fixture{data: data, digests: ds, rep: rep, replica: buf, tree: tree}
}
