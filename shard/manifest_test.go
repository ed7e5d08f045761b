package shard

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.txt")

func testManifest() *Manifest {
	_, roots := testPieces(3)
	return &Manifest{Size: 2*64 + 5, ShardSize: 64, PieceSize: 16, Flags: FlagEncrypted, Shards: roots}
}

func TestManifestEncoding(t *testing.T) {
	m := testManifest()
	enc := m.Encode()
	want := []byte("PPMF\x01" +
		"\x00\x00\x00\x01" + // flags
		"\x00\x00\x00\x00\x00\x00\x00\x85" + // size 133
		"\x00\x00\x00\x40" + // shard size 64
		"\x00\x00\x00\x10" + // piece size 16
		"\x00\x00\x00\x00\x00\x00\x00\x03") // count
	for _, r := range m.Shards {
		want = append(want, r[:]...)
	}
	if !bytes.Equal(enc, want) {
		t.Fatalf("Encode() =\n%x\nwant\n%x", enc, want)
	}
	got, err := DecodeManifest(enc)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(*got) != fmt.Sprint(*m) {
		t.Fatalf("decoded %+v, want %+v", got, m)
	}
	if !m.CID().Equals(ManifestCIDOf(enc)) {
		t.Error("CID is not the CID of the encoding")
	}
	if d, err := DigestOf(m.CID(), ManifestCodec); err != nil || d != PieceDigest(enc) {
		t.Errorf("DigestOf(manifest CID) = %s, %v", d, err)
	}
}

func TestDecodeManifestRejects(t *testing.T) {
	good := testManifest().Encode()
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	withHeader := func(m Manifest) []byte { return m.Encode() }
	cases := map[string][]byte{
		"nil":            nil,
		"magic only":     []byte("PPMF"),
		"short header":   good[:headerLen-1],
		"truncated root": good[:len(good)-1],
		"missing root":   good[:len(good)-32],
		"trailing byte":  append(bytes.Clone(good), 0),
		"trailing root":  append(bytes.Clone(good), make([]byte, 32)...),
		"wrong magic":    edit(func(b []byte) []byte { b[0] = 'X'; return b }),
		"version 0":      edit(func(b []byte) []byte { b[4] = 0; return b }),
		"version 2":      edit(func(b []byte) []byte { b[4] = 2; return b }),
		"unknown flag":   edit(func(b []byte) []byte { b[8] |= 2; return b }),
		"high flag":      edit(func(b []byte) []byte { b[5] = 0x80; return b }),
		"huge count": edit(func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[25:], 1<<62)
			return b
		}),
		"negative size": edit(func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[9:], 1<<63)
			return b
		}),
		"size one shard short": withHeader(Manifest{Size: 128, ShardSize: 64, PieceSize: 16, Shards: make([]Digest, 3)}),
		"size one shard long":  withHeader(Manifest{Size: 129, ShardSize: 64, PieceSize: 16, Shards: make([]Digest, 2)}),
		"empty with a shard":   withHeader(Manifest{Size: 0, ShardSize: 64, PieceSize: 16, Shards: make([]Digest, 1)}),
		"zero shard size":      withHeader(Manifest{Size: 0, ShardSize: 0, PieceSize: 16}),
		"zero piece size":      withHeader(Manifest{Size: 0, ShardSize: 64, PieceSize: 0}),
		"shard not multiple":   withHeader(Manifest{Size: 0, ShardSize: 65, PieceSize: 16}),
		"piece too large":      withHeader(Manifest{Size: 0, ShardSize: 2*MaxPieceSize + 2, PieceSize: MaxPieceSize + 1}),
		"too many pieces":      withHeader(Manifest{Size: 0, ShardSize: 2048, PieceSize: 1}),
	}
	for name, b := range cases {
		m, err := DecodeManifest(b)
		if !errors.Is(err, ErrBadManifest) {
			t.Errorf("%s: DecodeManifest = %+v, %v; want ErrBadManifest", name, m, err)
		}
	}
}

func TestManifestAccessors(t *testing.T) {
	m := &Manifest{Size: 2*64 + 20, ShardSize: 64, PieceSize: 16, Shards: make([]Digest, 3)}
	for _, c := range []struct {
		shard      int
		len        int64
		pieces     int
		lastPieceN int64
	}{{0, 64, 4, 16}, {1, 64, 4, 16}, {2, 20, 2, 4}, {3, 0, 0, 0}, {-1, 0, 0, 0}} {
		if got := m.ShardLen(c.shard); got != c.len {
			t.Errorf("ShardLen(%d) = %d, want %d", c.shard, got, c.len)
		}
		if got := m.PieceCount(c.shard); got != c.pieces {
			t.Errorf("PieceCount(%d) = %d, want %d", c.shard, got, c.pieces)
		}
		if got := m.PieceLen(c.shard, c.pieces-1); got != c.lastPieceN {
			t.Errorf("PieceLen(%d, %d) = %d, want %d", c.shard, c.pieces-1, got, c.lastPieceN)
		}
		if got := m.PieceLen(c.shard, c.pieces); got != 0 {
			t.Errorf("PieceLen(%d, %d) = %d, want 0", c.shard, c.pieces, got)
		}
		if defined := m.ShardCID(c.shard).Defined(); defined != (c.len > 0) {
			t.Errorf("ShardCID(%d).Defined() = %v", c.shard, defined)
		}
	}
	if m.PieceLen(0, -1) != 0 {
		t.Error("PieceLen(0, -1) != 0")
	}
}

// goldenCases are fixed inputs whose identifiers must never change: they
// pin the Merkle tree, the CID construction and the manifest encoding.
func goldenCases() map[string]string {
	pattern := make([]byte, 100_003)
	for i := range pattern {
		pattern[i] = byte(i*i + i/251)
	}
	cases := map[string]string{}
	manifest := func(name string, data []byte, p Params) *Manifest {
		m, err := Split(bytes.NewReader(data), p, nil)
		if err != nil {
			panic(err)
		}
		cases[name] = m.CID().String()
		return m
	}
	manifest("empty", nil, Params{})
	hello := []byte("hello, ppstore\n")
	manifest("hello", hello, Params{})
	cases["hello-piece"] = PieceCID(PieceDigest(hello)).String()
	m := manifest("pattern", pattern, Params{ShardSize: 12 << 10, PieceSize: 4 << 10})
	cases["pattern-shard-8"] = m.ShardCID(8).String()
	m.Flags = FlagEncrypted
	cases["pattern-encrypted"] = m.CID().String()
	return cases
}

func TestGolden(t *testing.T) {
	path := filepath.Join("testdata", "golden.txt")
	got := goldenCases()
	if *update {
		var b strings.Builder
		b.WriteString("# name CID; regenerate with: go test ./shard -run TestGolden -update\n")
		for _, name := range []string{"empty", "hello", "hello-piece", "pattern", "pattern-shard-8", "pattern-encrypted"} {
			fmt.Fprintf(&b, "%s %s\n", name, got[name])
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, want, _ := strings.Cut(line, " ")
		if got[name] != want {
			t.Errorf("%s: CID %s, golden %s", name, got[name], want)
		}
		seen++
	}
	if seen != len(got) {
		t.Errorf("golden file has %d entries, want %d", seen, len(got))
	}
}
