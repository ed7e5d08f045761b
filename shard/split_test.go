package shard

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"
)

// checkRoundTrip splits data with p and checks everything that can be
// checked about the result, then joins it back. It returns the manifest.
func checkRoundTrip(t testing.TB, data []byte, p Params) *Manifest {
	t.Helper()
	var shards []*Shard
	m, err := Split(bytes.NewReader(data), p, func(s *Shard) error {
		shards = append(shards, s)
		return nil
	})
	if err != nil {
		t.Fatalf("Split: %v", err)
	}
	p = p.WithDefaults()
	if m.Size != int64(len(data)) || m.Params() != p || m.Flags != 0 {
		t.Fatalf("manifest size %d params %+v flags %d, want %d %+v 0", m.Size, m.Params(), m.Flags, len(data), p)
	}
	wantShards := (int64(len(data)) + p.ShardSize - 1) / p.ShardSize
	if int64(len(m.Shards)) != wantShards || len(shards) != len(m.Shards) {
		t.Fatalf("%d manifest roots, %d shards, want %d", len(m.Shards), len(shards), wantShards)
	}

	var joined []byte
	for i, s := range shards {
		off := int64(i) * p.ShardSize
		want := data[off:min(off+p.ShardSize, int64(len(data)))]
		if s.Index != i || s.Offset != off || !bytes.Equal(s.Data, want) {
			t.Fatalf("shard %d: index %d offset %d len %d, want offset %d len %d",
				i, s.Index, s.Offset, len(s.Data), off, len(want))
		}
		if s.Root != m.Shards[i] || s.Root != MerkleRoot(s.Pieces) || !s.CID().Equals(m.ShardCID(i)) {
			t.Fatalf("shard %d: root %s, manifest %s", i, s.Root, m.Shards[i])
		}
		if int64(len(s.Data)) != m.ShardLen(i) || len(s.Pieces) != m.PieceCount(i) || len(s.Pieces) < 1 {
			t.Fatalf("shard %d: %d bytes %d pieces, manifest says %d bytes %d pieces",
				i, len(s.Data), len(s.Pieces), m.ShardLen(i), m.PieceCount(i))
		}
		for j, d := range s.Pieces {
			piece := s.Piece(j, p.PieceSize)
			if int64(len(piece)) != m.PieceLen(i, j) || PieceDigest(piece) != d {
				t.Fatalf("shard %d piece %d: %d bytes, manifest says %d; digest mismatch %v",
					i, j, len(piece), m.PieceLen(i, j), PieceDigest(piece) != d)
			}
			if err := VerifyPiece(s.Root, j, len(s.Pieces), piece, MerkleProof(s.Pieces, j)); err != nil {
				t.Fatalf("shard %d piece %d: %v", i, j, err)
			}
			joined = append(joined, piece...)
		}
		if s.Piece(len(s.Pieces), p.PieceSize) != nil || m.PieceLen(i, len(s.Pieces)) != 0 {
			t.Fatalf("shard %d: piece past the end exists", i)
		}
		if err := CheckShard(m, i, s.Data); err != nil {
			t.Fatalf("CheckShard: %v", err)
		}
	}
	if !bytes.Equal(joined, data) {
		t.Fatal("pieces do not concatenate to the input")
	}

	enc := m.Encode()
	m2, err := DecodeManifest(enc)
	if err != nil {
		t.Fatalf("DecodeManifest: %v", err)
	}
	if !bytes.Equal(m2.Encode(), enc) || !m2.CID().Equals(m.CID()) || !m.CID().Equals(ManifestCIDOf(enc)) {
		t.Fatalf("manifest does not survive encoding")
	}

	var out bytes.Buffer
	err = Join(&out, m2, func(i int) ([]byte, error) { return shards[i].Data, nil })
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("Join wrote %d bytes, not the %d input bytes", out.Len(), len(data))
	}
	return m
}

func TestSplitSizes(t *testing.T) {
	for _, p := range []Params{
		{},
		{ShardSize: 64, PieceSize: 16},
		{ShardSize: 48, PieceSize: 16}, // pieces per shard not a power of two
		{ShardSize: 7, PieceSize: 7},   // one piece per shard
		{ShardSize: 1, PieceSize: 1},
		{ShardSize: 5 * 1000, PieceSize: 1000},
	} {
		ps, ss := p.WithDefaults().PieceSize, p.WithDefaults().ShardSize
		sizes := []int64{0, 1, 2, ps - 1, ps, ps + 1, 2*ps - 1, 2 * ps, 2*ps + 1,
			ss - 1, ss, ss + 1, 2*ss - 1, 2 * ss, 2*ss + 1, 3*ss + ps, 3*ss + ps + 1}
		seen := map[int64]bool{}
		for _, n := range sizes {
			if n < 0 || seen[n] {
				continue
			}
			seen[n] = true
			t.Run(fmt.Sprintf("shard=%d,piece=%d,size=%d", ss, ps, n), func(t *testing.T) {
				checkRoundTrip(t, genBytes(uint64(n), int(n)), p)
			})
		}
	}
}

func TestSplitEmpty(t *testing.T) {
	m := checkRoundTrip(t, nil, Params{})
	if len(m.Shards) != 0 || m.Size != 0 {
		t.Fatalf("empty file: %d shards, size %d", len(m.Shards), m.Size)
	}
	if got := len(m.Encode()); got != headerLen {
		t.Errorf("empty manifest is %d bytes, want %d", got, headerLen)
	}
	m2, _ := Split(bytes.NewReader(nil), Params{}, nil)
	if !m.CID().Equals(m2.CID()) {
		t.Errorf("empty-file CID not stable: %s vs %s", m.CID(), m2.CID())
	}
	if !m.CID().Equals(ManifestCIDOf(m.Encode())) {
		t.Error("CID is not the CID of the encoding")
	}
	if other, _ := Split(bytes.NewReader(nil), Params{ShardSize: 64, PieceSize: 16}, nil); other.CID().Equals(m.CID()) {
		t.Error("empty files cut with different params have the same CID")
	}
}

func TestSplitDifferentDataDifferentCID(t *testing.T) {
	a := genBytes(1, 1000)
	b := bytes.Clone(a)
	b[999] ^= 1
	ma, _ := Split(bytes.NewReader(a), Params{ShardSize: 256, PieceSize: 64}, nil)
	mb, _ := Split(bytes.NewReader(b), Params{ShardSize: 256, PieceSize: 64}, nil)
	if ma.CID().Equals(mb.CID()) {
		t.Error("one flipped bit does not change the file CID")
	}
	for i := range 3 {
		if ma.Shards[i] != mb.Shards[i] {
			t.Errorf("shard %d changed though its bytes did not", i)
		}
	}
}

// The split does not depend on how the reader hands out its bytes.
func TestSplitReaders(t *testing.T) {
	data := genBytes(7, 1000)
	p := Params{ShardSize: 96, PieceSize: 32}
	want, _ := Split(bytes.NewReader(data), p, nil)
	for name, r := range map[string]io.Reader{
		"one byte":  iotest.OneByteReader(bytes.NewReader(data)),
		"half":      iotest.HalfReader(bytes.NewReader(data)),
		"data+EOF":  iotest.DataErrReader(bytes.NewReader(data)),
		"generator": &genReader{seed: 7, size: 1000},
	} {
		m, err := Split(r, p, nil)
		if err != nil || !bytes.Equal(m.Encode(), want.Encode()) {
			t.Errorf("%s: manifest differs (err %v)", name, err)
		}
	}
}

func TestSplitterLifecycle(t *testing.T) {
	s, err := NewSplitter(bytes.NewReader(genBytes(1, 100)), Params{ShardSize: 64, PieceSize: 32})
	if err != nil {
		t.Fatal(err)
	}
	if s.Manifest() != nil {
		t.Error("Manifest() before the first Next is not nil")
	}
	var keep []*Shard
	for range 2 {
		sh, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		if s.Manifest() != nil {
			t.Error("Manifest() before EOF is not nil")
		}
		keep = append(keep, sh)
	}
	// A short last shard does not keep a full shard's buffer.
	if len(keep[1].Data) != 36 || cap(keep[1].Data) != 36 {
		t.Errorf("short shard has length %d capacity %d, want 36", len(keep[1].Data), cap(keep[1].Data))
	}
	if &keep[0].Data[0] == &keep[1].Data[0] {
		t.Error("shards share a buffer")
	}
	for range 2 {
		if _, err := s.Next(); err != io.EOF {
			t.Fatalf("Next after the last shard: %v, want io.EOF", err)
		}
	}
	if m := s.Manifest(); m == nil || m.Size != 100 || len(m.Shards) != 2 {
		t.Fatalf("Manifest() = %+v", m)
	}
}

func TestSplitErrors(t *testing.T) {
	if _, err := NewSplitter(bytes.NewReader(nil), Params{ShardSize: 10, PieceSize: 3}); !errors.Is(err, ErrBadParams) {
		t.Errorf("NewSplitter with bad params: %v", err)
	}
	if _, err := Split(bytes.NewReader(nil), Params{PieceSize: -1}, nil); !errors.Is(err, ErrBadParams) {
		t.Errorf("Split with bad params: %v", err)
	}

	boom := errors.New("boom")
	r := io.MultiReader(bytes.NewReader(genBytes(1, 100)), iotest.ErrReader(boom))
	s, _ := NewSplitter(r, Params{ShardSize: 64, PieceSize: 32})
	if _, err := s.Next(); err != nil {
		t.Fatalf("first shard: %v", err)
	}
	for range 2 {
		if _, err := s.Next(); !errors.Is(err, boom) {
			t.Fatalf("Next after a read error: %v, want %v", err, boom)
		}
	}
	if s.Manifest() != nil {
		t.Error("Manifest() after a read error is not nil")
	}

	calls := 0
	_, err := Split(bytes.NewReader(genBytes(1, 100)), Params{ShardSize: 32, PieceSize: 32}, func(*Shard) error {
		calls++
		return boom
	})
	if err != boom || calls != 1 {
		t.Errorf("Split with failing fn: err %v after %d calls, want %v after 1", err, calls, boom)
	}
}
