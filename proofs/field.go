package proofs

import "math/bits"

// elem is an element of the prime field F_p with p = 2^127 - 1, held as
// lo + hi·2^64 with the value in [0, p).
type elem struct{ lo, hi uint64 }

const mask63 = 1<<63 - 1

// pElem is p itself (all 127 low bits set); as a block value it is the one
// 127-bit pattern that is not a field element.
var pElem = elem{lo: ^uint64(0), hi: mask63}

// mul returns a·b mod p for a, b in [0, p).
func mul(a, b elem) elem {
	h00, l00 := bits.Mul64(a.lo, b.lo)
	h01, l01 := bits.Mul64(a.lo, b.hi)
	h10, l10 := bits.Mul64(a.hi, b.lo)
	h11, l11 := bits.Mul64(a.hi, b.hi)
	r1, c1 := bits.Add64(h00, l01, 0)
	r1, c2 := bits.Add64(r1, l10, 0)
	r2, c3 := bits.Add64(h01, h10, c1)
	r2, c4 := bits.Add64(r2, l11, c2)
	r3 := h11 + c3 + c4
	return fold(l00, r1, r2, r3)
}

// sqr returns a² mod p.
func sqr(a elem) elem {
	h00, l00 := bits.Mul64(a.lo, a.lo)
	h01, l01 := bits.Mul64(a.lo, a.hi)
	h11, l11 := bits.Mul64(a.hi, a.hi)
	// 2·a.lo·a.hi < 2^127, so doubling the cross term cannot overflow 128 bits.
	x1 := l01 << 1
	x2 := h01<<1 | l01>>63
	r1, c1 := bits.Add64(h00, x1, 0)
	r2, c2 := bits.Add64(l11, x2, c1)
	r3 := h11 + c2
	return fold(l00, r1, r2, r3)
}

// fold reduces the 256-bit value r0 + r1·2^64 + r2·2^128 + r3·2^192, which
// is below 2^254, modulo p = 2^127 - 1: with v = H·2^127 + L, v ≡ H + L.
func fold(r0, r1, r2, r3 uint64) elem {
	lLo, lHi := r0, r1&mask63
	hLo, hHi := r1>>63|r2<<1, r2>>63|r3<<1
	sLo, c := bits.Add64(lLo, hLo, 0)
	sHi := lHi + hHi + c // both < 2^63: no overflow
	// s < 2^128 - 1: fold its top bit once more; the result is at most p.
	x := elem{}
	x.lo, c = bits.Add64(sLo, sHi>>63, 0)
	x.hi = sHi&mask63 + c
	if x == pElem {
		return elem{}
	}
	return x
}

// neg returns -a mod p.
func neg(a elem) elem {
	if a == (elem{}) {
		return a
	}
	return elem{lo: pElem.lo - a.lo, hi: pElem.hi - a.hi}
}

// sqrtSteps is the number of squarings in slothEncode: (p+1)/4 = 2^125.
const sqrtSteps = 125

// slothEncode is the slow direction of the sloth permutation of F_p
// (Lenstra and Wesolowski, "A random zoo: sloth, unicorn, and trx", 2015):
// a square root, t = x^((p+1)/4), computed by 125 dependent squarings. A
// quadratic residue x maps to its even root; a non-residue x (then -x is a
// residue, as p ≡ 3 mod 4) maps to the odd root of -x. This is a
// permutation of F_p whose inverse, slothDecode, costs one squaring.
func slothEncode(x elem) elem {
	t := x
	for i := 0; i < sqrtSteps; i++ {
		t = sqr(t)
	}
	residue := sqr(t) == x
	odd := t.lo&1 == 1
	if residue == odd { // residue wants the even root, non-residue the odd one
		t = neg(t)
	}
	return t
}

// slothDecode inverts slothEncode: y² for an even y, -y² for an odd y.
func slothDecode(y elem) elem {
	x := sqr(y)
	if y.lo&1 == 1 {
		x = neg(x)
	}
	return x
}
