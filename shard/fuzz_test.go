package shard

import (
	"bytes"
	"testing"
)

func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{}, uint8(0), uint8(0))
	f.Add([]byte("x"), uint8(3), uint8(1))
	f.Add(genBytes(1, 300), uint8(2), uint8(15))
	f.Add(genBytes(2, 1000), uint8(6), uint8(31))
	f.Fuzz(func(t *testing.T, data []byte, piecesPerShard, pieceSize uint8) {
		ps := 1 + int64(pieceSize%32)
		p := Params{ShardSize: ps * (1 + int64(piecesPerShard%8)), PieceSize: ps}
		var shards [][]byte
		m, err := Split(bytes.NewReader(data), p, func(s *Shard) error {
			shards = append(shards, s.Data)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		m2, err := DecodeManifest(m.Encode())
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := Join(&out, m2, func(i int) ([]byte, error) { return shards[i], nil }); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("joined %x, want %x", out.Bytes(), data)
		}
	})
}

func FuzzDecodeManifest(f *testing.F) {
	f.Add(testManifest().Encode())
	f.Add((&Manifest{ShardSize: 1, PieceSize: 1}).Encode())
	f.Add((&Manifest{Size: 1, ShardSize: DefaultShardSize, PieceSize: DefaultPieceSize, Shards: make([]Digest, 1)}).Encode())
	f.Add([]byte("PPMF"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeManifest(b)
		if err != nil {
			return
		}
		if enc := m.Encode(); !bytes.Equal(enc, b) {
			t.Fatalf("decoded %x, re-encoded as %x", b, enc)
		}
		if err := m.validate(); err != nil {
			t.Fatalf("decoded manifest does not validate: %v", err)
		}
		for i := range m.Shards {
			if n := m.ShardLen(i); n < 1 || n > m.ShardSize || m.PieceCount(i) < 1 {
				t.Fatalf("shard %d: length %d, %d pieces", i, n, m.PieceCount(i))
			}
		}
	})
}
