package proofs

import (
	"encoding/binary"
	"math/bits"
)

// This file holds the unsealing hot loop: one sloth inverse (a squaring in
// F_p, p = 2^127 - 1) and one XOR with a neighbouring block per 16 bytes.
// It computes exactly what slothDecode and the reference loop in Unseal
// compute (TestDecodeMatchesReference checks it against them), written so
// that the compiler keeps every block in registers: the squaring is
// inlined, the sign of the root is applied without a branch (half the
// blocks are odd, so a branch mispredicts half the time) and blocks are
// loaded as two little-endian words.

// decodeUp decodes a forward (odd) layer: for k in [0, n) it sets block k
// of dst to π⁻¹(src block k+1) ⊕ src block k, where src holds n+1 blocks.
// It walks from the top down, so dst may be src[BlockSize:] (in place).
func decodeUp(dst, src []byte) {
	n := len(dst) / BlockSize
	_ = src[n*BlockSize+BlockSize-1]
	for k := n - 1; k >= 0; k-- {
		s := src[k*BlockSize : k*BlockSize+2*BlockSize : k*BlockSize+2*BlockSize]
		yLo, yHi := binary.LittleEndian.Uint64(s[16:24]), binary.LittleEndian.Uint64(s[24:32])
		nLo, nHi := binary.LittleEndian.Uint64(s[0:8]), binary.LittleEndian.Uint64(s[8:16])
		// unpermuteWords(yLo, yHi) ⊕ neighbour, inlined by hand.
		top := yHi &^ mask63
		yHi &= mask63
		var xLo, xHi uint64
		if yLo == pLo && yHi == pHi {
			xLo, xHi = yLo, yHi
		} else {
			odd := -(yLo & 1)
			h00, l00 := bits.Mul64(yLo, yLo)
			h01, l01 := bits.Mul64(yLo, yHi)
			h11, l11 := bits.Mul64(yHi, yHi)
			r1, c := bits.Add64(h00, l01<<1, 0)
			r2, c := bits.Add64(l11, h01<<1|l01>>63, c)
			r3 := h11 + c
			sLo, c := bits.Add64(l00, r1>>63|r2<<1, 0)
			sHi := r1&mask63 + (r2>>63 | r3<<1) + c
			xLo, c = bits.Add64(sLo, sHi>>63, 0)
			xHi = sHi&mask63 + c
			if xLo == pLo && xHi == pHi {
				xLo, xHi = 0, 0
			}
			xLo, xHi = xLo^odd, xHi^odd&mask63
		}
		d := dst[k*BlockSize : k*BlockSize+BlockSize : k*BlockSize+BlockSize]
		binary.LittleEndian.PutUint64(d[0:8], xLo^nLo)
		binary.LittleEndian.PutUint64(d[8:16], (xHi|top)^nHi)
	}
}

// decodeDown decodes a backward (even) layer: for k in [0, n) it sets
// block k of dst to π⁻¹(src block k) ⊕ src block k+1, where src holds n+1
// blocks. It walks upwards, so dst may be src[:n·BlockSize] (in place).
func decodeDown(dst, src []byte) {
	n := len(dst) / BlockSize
	_ = src[n*BlockSize+BlockSize-1]
	for k := 0; k < n; k++ {
		s := src[k*BlockSize : k*BlockSize+2*BlockSize : k*BlockSize+2*BlockSize]
		yLo, yHi := binary.LittleEndian.Uint64(s[0:8]), binary.LittleEndian.Uint64(s[8:16])
		nLo, nHi := binary.LittleEndian.Uint64(s[16:24]), binary.LittleEndian.Uint64(s[24:32])
		// unpermuteWords(yLo, yHi) ⊕ neighbour, inlined by hand.
		top := yHi &^ mask63
		yHi &= mask63
		var xLo, xHi uint64
		if yLo == pLo && yHi == pHi {
			xLo, xHi = yLo, yHi
		} else {
			odd := -(yLo & 1)
			h00, l00 := bits.Mul64(yLo, yLo)
			h01, l01 := bits.Mul64(yLo, yHi)
			h11, l11 := bits.Mul64(yHi, yHi)
			r1, c := bits.Add64(h00, l01<<1, 0)
			r2, c := bits.Add64(l11, h01<<1|l01>>63, c)
			r3 := h11 + c
			sLo, c := bits.Add64(l00, r1>>63|r2<<1, 0)
			sHi := r1&mask63 + (r2>>63 | r3<<1) + c
			xLo, c = bits.Add64(sLo, sHi>>63, 0)
			xHi = sHi&mask63 + c
			if xLo == pLo && xHi == pHi {
				xLo, xHi = 0, 0
			}
			xLo, xHi = xLo^odd, xHi^odd&mask63
		}
		d := dst[k*BlockSize : k*BlockSize+BlockSize : k*BlockSize+BlockSize]
		binary.LittleEndian.PutUint64(d[0:8], xLo^nLo)
		binary.LittleEndian.PutUint64(d[8:16], (xHi|top)^nHi)
	}
}

// The words of p = 2^127 - 1, as constants the compiler folds into compares.
const (
	pLo = ^uint64(0)
	pHi = uint64(mask63)
)
