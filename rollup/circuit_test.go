package rollup

import (
	"errors"
	"math/big"
	"testing"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"

	"github.com/consensys/gnark-crypto/ecc"
	"github.com/consensys/gnark/test"
)

func isSolved(t *testing.T, ws []TxWitness, edit func(*Circuit)) error {
	t.Helper()
	a, _, err := Assign(Params{Depth: testDepth, BatchSize: len(ws)}, testRegion, ws)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(a)
	}
	return test.IsSolved(NewCircuit(testDepth, len(ws)), a, ecc.BN254.ScalarField())
}

// A batch of two honest transfers, one of them opening a new account,
// satisfies the circuit; the same through forceApply (the helper the failing
// cases use) too.
func TestCircuitAcceptsHonestBatch(t *testing.T) {
	f := newFixture(t, []string{"op", "alice"}, []uint64{1000, 100})
	w1 := f.apply(f.transfer("alice", "bob", 40, 0)) // opens bob
	w2 := f.apply(f.transfer("op", "alice", 7, 0))
	if err := isSolved(t, []TxWitness{w1, w2}, nil); err != nil {
		t.Fatalf("honest batch refused: %v", err)
	}

	g := newFixture(t, []string{"op", "alice"}, []uint64{1000, 100})
	st := g.transfer("alice", "alice", 30, 0) // a self-transfer
	w3 := g.forceApply(st, g.honest(st))
	st = g.transfer("op", "alice", 1, 0)
	w4 := g.forceApply(st, g.honest(st))
	if err := isSolved(t, []TxWitness{w3, w4}, nil); err != nil {
		t.Fatalf("honest forced batch refused: %v", err)
	}
}

func TestCircuitRefuses(t *testing.T) {
	cases := []struct {
		name  string
		build func(f *fixture) ([]TxWitness, func(*Circuit))
	}{
		{"bad signature", func(f *fixture) ([]TxWitness, func(*Circuit)) {
			st := f.transfer("alice", "op", 10, 0)
			forged, _ := Sign(f.key("mallory"), testRegion, st.Transfer)
			c := f.honest(st)
			st.Sig = forged.Sig
			return []TxWitness{f.forceApply(st, c)}, nil
		}},
		{"signature for another region", func(f *fixture) ([]TxWitness, func(*Circuit)) {
			st := f.transfer("alice", "op", 10, 0)
			other, _ := Sign(f.key("alice"), RegionTag("elsewhere"), st.Transfer)
			c := f.honest(st)
			st.Sig = other.Sig
			return []TxWitness{f.forceApply(st, c)}, nil
		}},
		{"overdraft", func(f *fixture) ([]TxWitness, func(*Circuit)) {
			st := f.transfer("alice", "op", 101, 0)
			return []TxWitness{f.forceApply(st, f.honest(st))}, nil
		}},
		{"wrong nonce", func(f *fixture) ([]TxWitness, func(*Circuit)) {
			st := f.transfer("alice", "op", 10, 1) // alice's nonce is 0
			return []TxWitness{f.forceApply(st, f.honest(st))}, nil
		}},
		{"replayed nonce", func(f *fixture) ([]TxWitness, func(*Circuit)) {
			st := f.transfer("alice", "op", 10, 0)
			w1 := f.forceApply(st, f.honest(st))
			return []TxWitness{w1, f.forceApply(st, f.honest(st))}, nil
		}},
		{"wrong previous root", func(f *fixture) ([]TxWitness, func(*Circuit)) {
			st := f.transfer("alice", "op", 10, 0)
			empty := f.s.EmptyRoot()
			return []TxWitness{f.forceApply(st, f.honest(st))}, func(c *Circuit) { c.PrevRoot = elem(empty) }
		}},
		{"wrong new root", func(f *fixture) ([]TxWitness, func(*Circuit)) {
			st := f.transfer("alice", "op", 10, 0)
			w := f.forceApply(st, f.honest(st))
			return []TxWitness{w}, func(c *Circuit) { c.NewRoot = elem(w.RootBefore) }
		}},
		{"sender leaf balance does not match its hash", func(f *fixture) ([]TxWitness, func(*Circuit)) {
			st := f.transfer("alice", "op", 500, 0)
			c := f.honest(st)
			c.fromBal = 1000 // alice holds 100
			return []TxWitness{f.forceApply(st, c)}, nil
		}},
		{"sender leaf key does not match its hash", func(f *fixture) ([]TxWitness, func(*Circuit)) {
			st, _ := Sign(f.key("mallory"), testRegion, Transfer{From: f.index["alice"], To: 0, Amount: 50, ToKey: f.key("op").Public()})
			c := f.honest(st)
			c.fromKey = f.key("mallory").Public()
			return []TxWitness{f.forceApply(st, c)}, nil
		}},
		{"receiver leaf balance does not match its hash", func(f *fixture) ([]TxWitness, func(*Circuit)) {
			st := f.transfer("alice", "op", 10, 0)
			c := f.honest(st)
			c.toBal += 5000
			return []TxWitness{f.forceApply(st, c)}, nil
		}},
		{"receiver named with another key", func(f *fixture) ([]TxWitness, func(*Circuit)) {
			st, _ := Sign(f.key("alice"), testRegion, Transfer{From: f.index["alice"], To: f.index["op"], Amount: 10, ToKey: f.key("carol").Public()})
			return []TxWitness{f.forceApply(st, f.honest(st))}, nil
		}},
		{"existing receiver claimed empty", func(f *fixture) ([]TxWitness, func(*Circuit)) {
			st := f.transfer("alice", "op", 10, 0)
			c := f.honest(st)
			c.toNew, c.toBal, c.toNonce = true, 0, 0
			return []TxWitness{f.forceApply(st, c)}, nil
		}},
		// The cap stands for the top of the tree: an entry no transfer
		// touches still has to hash to the previous root.
		{"cap entry that is not the tree's", func(f *fixture) ([]TxWitness, func(*Circuit)) {
			st := f.transfer("alice", "op", 10, 0)
			return []TxWitness{f.forceApply(st, f.honest(st))}, func(c *Circuit) { c.Cap[len(c.Cap)-1] = 7 }
		}},
		{"tampered commitment", func(f *fixture) ([]TxWitness, func(*Circuit)) {
			st := f.transfer("alice", "op", 10, 0)
			return []TxWitness{f.forceApply(st, f.honest(st))}, func(c *Circuit) { c.Commitment = 12345 }
		}},
		// The leaf packs index + balance·2^32 + nonce·2^96 into one field
		// element. Read as balance + 2^64 and nonce − 1 it is the same
		// element: with the old nonce signed again the sender could spend
		// 2^64 it never had (circuit version 1 accepted this witness).
		{"sender leaf read as a larger balance and a smaller nonce", func(f *fixture) ([]TxWitness, func(*Circuit)) {
			first := f.apply(f.transfer("alice", "op", 10, 0)) // alice: balance 90, nonce 1
			st := f.transfer("alice", "op", 500, 0)            // nonce 0 signed again
			c := f.honest(st)
			c.wide = &wideClaim{toBal: elemU(1010)}
			c.wide.fromBal.SetBigInt(new(big.Int).Add(big.NewInt(90), two64))
			w := f.forceApply(st, c)
			return []TxWitness{first, w}, c.wide.assign(1)
		}},
		// The receiver's leaf read as a larger balance and a wrapped nonce:
		// an operator crediting any account with money nobody sent.
		{"receiver leaf read as a larger balance and a wrapped nonce", func(f *fixture) ([]TxWitness, func(*Circuit)) {
			st := f.transfer("alice", "op", 10, 0)
			c := f.honest(st)
			delta := new(big.Int).Lsh(big.NewInt(1), 40)
			c.wide = &wideClaim{fromBal: elemU(100)}
			c.wide.toBal.SetBigInt(new(big.Int).Add(big.NewInt(1000), delta))
			// nonce' = 0 − δ·2^32/2^96 = −δ/2^64, so that bal'·2^32 + nonce'·2^96 = 1000·2^32.
			var inv fr.Element
			inv.SetBigInt(two64)
			inv.Inverse(&inv)
			var d fr.Element
			d.SetBigInt(delta)
			c.wide.toNonce.Mul(&d, &inv).Neg(&c.wide.toNonce)
			return []TxWitness{f.forceApply(st, c)}, c.wide.assign(0)
		}},
		// The last nonce would leave a leaf whose nonce is 2^64: no 64-bit
		// reading, the account frozen (circuit version 3 accepted it).
		{"sender's last nonce", func(f *fixture) ([]TxWitness, func(*Circuit)) {
			a := f.account("alice")
			a.Nonce = ^uint64(0)
			if err := f.s.putAccount(f.b, a); err != nil {
				f.t.Fatal(err)
			}
			st := f.transfer("alice", "op", 10, ^uint64(0))
			return []TxWitness{f.forceApply(st, f.honest(st))}, nil
		}},
		{"receiver balance overflow", func(f *fixture) ([]TxWitness, func(*Circuit)) {
			st := f.transfer("alice", "rich", 10, 0)
			return []TxWitness{f.forceApply(st, f.honest(st))}, nil
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, []string{"op", "alice", "rich"}, []uint64{1000, 100, ^uint64(0) - 5})
			ws, edit := tc.build(f)
			if err := isSolved(t, ws, edit); err == nil {
				t.Fatal("circuit accepted a bad witness")
			}
		})
	}
}

func elemU(v uint64) fr.Element {
	var e fr.Element
	e.SetUint64(v)
	return e
}

// Assign refuses a first witness whose cap is not the tree it starts from,
// or is missing, before any proving time is spent.
func TestAssignChecksTheCap(t *testing.T) {
	f := newFixture(t, []string{"op", "alice"}, []uint64{1000, 100})
	w := f.apply(f.transfer("alice", "op", 10, 0))
	p := Params{Depth: testDepth, BatchSize: 1}
	good := w.Cap
	w.Cap = append([][32]byte(nil), good...)
	w.Cap[0][31] ^= 1
	if _, _, err := Assign(p, testRegion, []TxWitness{w}); !errors.Is(err, ErrBadWitness) {
		t.Fatalf("tampered cap: %v, want ErrBadWitness", err)
	}
	w.Cap = good[:len(good)-1]
	if _, _, err := Assign(p, testRegion, []TxWitness{w}); !errors.Is(err, ErrBadWitness) {
		t.Fatalf("short cap: %v, want ErrBadWitness", err)
	}
	w.Cap = good
	if _, _, err := Assign(p, testRegion, []TxWitness{w}); err != nil {
		t.Fatalf("honest witness: %v", err)
	}
}
