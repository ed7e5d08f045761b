package proofs

import (
	"math/big"
	"math/rand/v2"
	"testing"
)

var bigP = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 127), big.NewInt(1))

func toBig(a elem) *big.Int {
	v := new(big.Int).SetUint64(a.hi)
	v.Lsh(v, 64)
	return v.Or(v, new(big.Int).SetUint64(a.lo))
}

func randElem(r *rand.Rand) elem {
	for {
		e := elem{lo: r.Uint64(), hi: r.Uint64() & mask63}
		if e != pElem {
			return e
		}
	}
}

func TestFieldMulMatchesBig(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	edge := []elem{{}, {lo: 1}, {lo: ^uint64(0), hi: mask63 - 0}, {lo: ^uint64(0) - 1, hi: mask63}, {hi: 1 << 62}}
	edge[2] = elem{lo: ^uint64(0) - 1, hi: mask63} // p-1
	for i := 0; i < 20000; i++ {
		var a, b elem
		if i < len(edge)*len(edge) {
			a, b = edge[i%len(edge)], edge[i/len(edge)]
		} else {
			a, b = randElem(r), randElem(r)
		}
		want := new(big.Int).Mul(toBig(a), toBig(b))
		want.Mod(want, bigP)
		if got := toBig(mul(a, b)); got.Cmp(want) != 0 {
			t.Fatalf("mul(%v, %v) = %v, want %v", a, b, got, want)
		}
		want2 := new(big.Int).Mul(toBig(a), toBig(a))
		want2.Mod(want2, bigP)
		if got := toBig(sqr(a)); got.Cmp(want2) != 0 {
			t.Fatalf("sqr(%v) = %v, want %v", a, got, want2)
		}
	}
}

func TestSlothIsAPermutation(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 2000; i++ {
		x := randElem(r)
		if i == 0 {
			x = elem{}
		}
		y := slothEncode(x)
		if toBig(y).Cmp(bigP) >= 0 {
			t.Fatalf("slothEncode(%v) = %v, not below p", x, y)
		}
		if got := slothDecode(y); got != x {
			t.Fatalf("slothDecode(slothEncode(%v)) = %v", x, got)
		}
	}
}
