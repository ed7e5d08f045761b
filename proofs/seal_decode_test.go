package proofs

import (
	"bytes"
	"encoding/binary"
	"testing"
	"unsafe"
)

// unsealReference is the unsealing loop as first written (before
// seal_decode.go): block by block with slothDecode and load/store, in
// place, then the keystream, then a copy into dst. It is the oracle of the
// tests below and the baseline of BenchmarkUnsealReference.
func unsealReference(dst []byte, id ReplicaID, size int64, layers int, off int64, rep []byte) {
	a, b := off/BlockSize, (off+int64(len(dst))+BlockSize-1)/BlockSize
	n := Blocks(size)
	lo, hi := Window(a, b, n, layers)
	buf := make([]byte, (hi-lo)*BlockSize)
	copy(buf, rep[lo*BlockSize:])
	s := newSealer(id, size, layers)
	a, b = lo, hi
	for l := layers; l >= 1 && a < b; l-- {
		w := buf[(a-lo)*BlockSize : (b-lo)*BlockSize]
		m := len(w) / BlockSize
		if forward(l) {
			cur, ctop := load(w[(m-1)*BlockSize:])
			for k := m - 1; k > 0; k-- {
				prev, ptop := load(w[(k-1)*BlockSize:])
				x := cur
				if x != pElem {
					x = slothDecode(x)
				}
				store(w[k*BlockSize:], elem{lo: x.lo ^ prev.lo, hi: x.hi ^ prev.hi}, ctop^ptop)
				cur, ctop = prev, ptop
			}
			if a == 0 {
				unpermute(w[:BlockSize])
			} else {
				a++
			}
		} else {
			cur, ctop := load(w)
			for k := 0; k < m-1; k++ {
				next, ntop := load(w[(k+1)*BlockSize:])
				x := cur
				if x != pElem {
					x = slothDecode(x)
				}
				store(w[k*BlockSize:], elem{lo: x.lo ^ next.lo, hi: x.hi ^ next.hi}, ctop^ntop)
				cur, ctop = next, ntop
			}
			if b == n {
				unpermute(w[(m-1)*BlockSize:])
			} else {
				b--
			}
		}
		if a < b {
			s.mask(buf[(a-lo)*BlockSize:(b-lo)*BlockSize], l, a)
		}
	}
	copy(dst, buf[(off/BlockSize-lo)*BlockSize+off%BlockSize:])
}

// edgeBlocks are blocks that take the decoder's special paths: zero, one,
// p - 1, p itself (not a field element: left as it is), odd and even
// values, each with the top bit clear and set.
func edgeBlocks() []byte {
	var out []byte
	for _, e := range []elem{{}, {lo: 1}, {lo: 2}, {lo: pLo - 1, hi: pHi}, {lo: pLo, hi: pHi}, {lo: 3, hi: 1 << 62}, {hi: 1}} {
		for _, top := range []uint64{0, 1 << 63} {
			var b [BlockSize]byte
			binary.LittleEndian.PutUint64(b[0:8], e.lo)
			binary.LittleEndian.PutUint64(b[8:16], e.hi|top)
			out = append(out, b[:]...)
		}
	}
	return out
}

func TestDecodeMatchesReference(t *testing.T) {
	src := append(edgeBlocks(), randBytes(5, 64*BlockSize)...)
	src = append(src, edgeBlocks()...)
	n := len(src)/BlockSize - 1
	up, down := make([]byte, n*BlockSize), make([]byte, n*BlockSize)
	decodeUp(up, src)
	decodeDown(down, src)
	for k := 0; k < n; k++ {
		y, ytop := load(src[(k+1)*BlockSize:])
		x := y
		if x != pElem {
			x = slothDecode(x)
		}
		want := make([]byte, BlockSize)
		store(want, x, ytop)
		xorBlock(want, src[k*BlockSize:(k+1)*BlockSize])
		if !bytes.Equal(up[k*BlockSize:(k+1)*BlockSize], want) {
			t.Fatalf("decodeUp block %d = %x, want %x", k, up[k*BlockSize:(k+1)*BlockSize], want)
		}
		y, ytop = load(src[k*BlockSize:])
		x = y
		if x != pElem {
			x = slothDecode(x)
		}
		store(want, x, ytop)
		xorBlock(want, src[(k+1)*BlockSize:(k+2)*BlockSize])
		if !bytes.Equal(down[k*BlockSize:(k+1)*BlockSize], want) {
			t.Fatalf("decodeDown block %d = %x, want %x", k, down[k*BlockSize:(k+1)*BlockSize], want)
		}
	}
	// In place, as Unseal calls them.
	inUp := bytes.Clone(src)
	decodeUp(inUp[BlockSize:], inUp)
	if !bytes.Equal(inUp[BlockSize:], up) {
		t.Error("decodeUp in place differs from decodeUp into another buffer")
	}
	inDown := bytes.Clone(src)
	decodeDown(inDown[:n*BlockSize], inDown)
	if !bytes.Equal(inDown[:n*BlockSize], down) {
		t.Error("decodeDown in place differs from decodeDown into another buffer")
	}
}

// TestUnsealIntoWholeBlocks checks the path that decodes the last layer
// straight into the caller's buffer (whole blocks, as a miner's pieces
// are) against the reference, with the chain's first and last blocks in
// the range and not, and one to four layers.
func TestUnsealIntoWholeBlocks(t *testing.T) {
	const size = 64 * BlockSize
	data := randBytes(11, size)
	data = append(data[:size-len(edgeBlocks())], edgeBlocks()...)
	id := NewReplicaID([]byte("miner-w"), [32]byte{2}, 0)
	for layers := 1; layers <= 4; layers++ {
		rep := sealed(t, id, data, layers)
		read := func(p []byte, off int64) error { copy(p, rep[off:]); return nil }
		for _, r := range [][2]int{{0, size}, {0, 16}, {16, 32}, {size - 16, 16}, {5 * 16, 40 * 16}, {0, 63 * 16}, {16, 63 * 16}} {
			off, n := int64(r[0]), r[1]
			got := make([]byte, n)
			if err := UnsealInto(got, id, size, layers, off, read); err != nil {
				t.Fatalf("layers %d: UnsealInto(%d, %d): %v", layers, off, n, err)
			}
			if !bytes.Equal(got, data[off:off+int64(n)]) {
				t.Fatalf("layers %d: UnsealInto(%d, %d) differs from the data", layers, off, n)
			}
			ref := make([]byte, n)
			unsealReference(ref, id, size, layers, off, rep)
			if !bytes.Equal(ref, got) {
				t.Fatalf("layers %d: the reference unsealing of (%d, %d) differs", layers, off, n)
			}
		}
	}
}

func TestWindowBufFollowsTheFileOffset(t *testing.T) {
	for _, roff := range []int64{0, 16, 4080, 4096, 262128, 1<<20 - 32, 12345 * 16} {
		for _, n := range []int{16, 4096, 256<<10 + 16, 256<<10 + 48} {
			b, bp := windowBuf(n, roff)
			if len(b) != n {
				t.Fatalf("windowBuf(%d, %d) has %d bytes", n, roff, len(b))
			}
			if got := int64(uintptr(unsafe.Pointer(&b[0])) % pageSize); got != roff%pageSize {
				t.Fatalf("windowBuf(%d, %d) starts at %d past a page, want %d", n, roff, got, roff%pageSize)
			}
			windowPool.Put(bp)
		}
	}
}
