package shard

import (
	"encoding/binary"
	"io"
)

// The tests' data comes from a counter-based generator: the 8-byte word at
// offset 8w of stream seed is splitmix64(seed, w). Any range can be
// regenerated directly from its offset, which is what lets the large test
// check Join without keeping the data.

func mix64(seed, w uint64) uint64 {
	z := seed*0x9e3779b97f4a7c15 ^ w
	z += 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// fillAt fills p with the bytes of stream seed starting at offset off.
func fillAt(seed uint64, p []byte, off int64) {
	w := uint64(off) / 8
	if r := int(off % 8); r != 0 { // unaligned head
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], mix64(seed, w))
		n := copy(p, b[r:])
		p = p[n:]
		w++
	}
	for len(p) >= 8 {
		binary.LittleEndian.PutUint64(p, mix64(seed, w))
		p = p[8:]
		w++
	}
	if len(p) > 0 {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], mix64(seed, w))
		copy(p, b[:])
	}
}

// genBytes returns the first n bytes of stream seed.
func genBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	fillAt(seed, b, 0)
	return b
}

// genReader reads size bytes of stream seed.
type genReader struct {
	seed      uint64
	off, size int64
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.off >= g.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), g.size-g.off)]
	fillAt(g.seed, p, g.off)
	g.off += int64(len(p))
	return len(p), nil
}
