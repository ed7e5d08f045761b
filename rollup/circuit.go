package rollup

import (
	"fmt"
	"math/big"

	tedwards "github.com/consensys/gnark-crypto/ecc/twistededwards"
	"github.com/consensys/gnark/frontend"
	"github.com/consensys/gnark/std/algebra/native/twistededwards"
	"github.com/consensys/gnark/std/math/cmp"
	"github.com/consensys/gnark/std/permutation/poseidon2"
	"github.com/consensys/gnark/std/signature/eddsa"
)

// CircuitVersion changes whenever the circuit's constraints change; cached
// keys are kept per version (see Params.Version).
const CircuitVersion = 4

// Circuit proves that applying a batch of transfers to the account tree with
// root PrevRoot gives the tree with root NewRoot, and that the transfers are
// the batch data whose commitment is Commitment. For every transfer it checks:
// the sender's leaf (key, index, balance, nonce) is in the tree at its index;
// the signature by that key over the transfer's message for the region; the
// transfer's nonce is the sender's; the amount fits 64 bits and the sender's
// balance covers it (the new balance fits 64 bits, so it did not wrap); the
// sender's new leaf (balance − amount, nonce + 1) gives the intermediate root
// with the same path; the receiver's leaf holds the named key (or the slot is
// empty and the account opens with zero balance and nonce); its new balance
// fits 64 bits; its new leaf gives the next root.
//
// Every value packed into one field element (a leaf's index, balance and
// nonce; a transfer's indexes, amount and nonce) is range-checked where the
// circuit reads it, so each packing has one reading: without that a prover
// could read a leaf as a larger balance and a wrapped nonce (version 1 of
// this circuit allowed it; TestCircuitRefuses has the two witnesses).
//
// The tree's top CapLevels levels are hashed once per batch, not once per
// path: Cap holds the 4^CapLevels nodes below them as they were before the
// batch, the circuit checks that they hash to PrevRoot, keeps them up to date
// as transfers change them (one read and one write per path, by index
// selectors) and hashes them again to NewRoot. Each Merkle path then climbs
// only Depth/2 − CapLevels levels. (Plonky2 calls such a set of subtree roots
// a Merkle cap.)
//
// Public inputs, in order: PrevRoot, NewRoot, Commitment.
type Circuit struct {
	PrevRoot   frontend.Variable `gnark:",public"`
	NewRoot    frontend.Variable `gnark:",public"`
	Commitment frontend.Variable `gnark:",public"`

	RegionTag frontend.Variable
	Cap       []frontend.Variable
	Txs       []TransferVars

	Depth int `gnark:"-"`
}

// TransferVars is one transfer's part of the witness. The paths hold the
// siblings below the cap: three per level, Depth/2 − CapLevels levels.
type TransferVars struct {
	From, To, Amount, Nonce frontend.Variable
	FromKey                 eddsa.PublicKey
	Sig                     eddsa.Signature
	FromBalance             frontend.Variable
	FromPath                []frontend.Variable
	ToKey                   twistededwards.Point
	ToNew                   frontend.Variable
	ToBalance, ToNonce      frontend.Variable
	ToPath                  []frontend.Variable
}

// lowPathLen is the number of siblings a circuit path holds for depth.
func lowPathLen(depth int) int { return 3 * (depth/2 - CapLevels(depth)) }

// NewCircuit allocates a circuit for a tree of depth depth and batches of
// batch transfers (the shape Compile and assignments need).
func NewCircuit(depth, batch int) *Circuit {
	c := &Circuit{Depth: depth, Txs: make([]TransferVars, batch), Cap: make([]frontend.Variable, capSize(depth))}
	for i := range c.Txs {
		c.Txs[i].FromPath = make([]frontend.Variable, lowPathLen(depth))
		c.Txs[i].ToPath = make([]frontend.Variable, lowPathLen(depth))
	}
	return c
}

// maxNonce is 2^64 − 1, the nonce no transfer may carry.
var maxNonce = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 64), big.NewInt(1))

var (
	two32  = new(big.Int).Lsh(big.NewInt(1), 32)
	two64  = new(big.Int).Lsh(big.NewInt(1), 64)
	two96  = new(big.Int).Lsh(big.NewInt(1), 96)
	two128 = new(big.Int).Lsh(big.NewInt(1), 128)
)

// gadgets are the circuit's hashes and tree steps, the in-circuit twins of
// compress, compress4 and hash8 (hash.go).
type gadgets struct {
	api        frontend.API
	p2, p4, p8 *poseidon2.Permutation
}

func newGadgets(api frontend.API) (*gadgets, error) {
	p2, err := poseidon2.NewPoseidon2(api)
	if err != nil {
		return nil, err
	}
	p4, err := poseidon2.NewPoseidon2FromParameters(api, 4, perm4Full, perm4Partial)
	if err != nil {
		return nil, err
	}
	p8, err := poseidon2.NewPoseidon2FromParameters(api, 8, perm8Full, perm8Partial)
	if err != nil {
		return nil, err
	}
	return &gadgets{api: api, p2: p2, p4: p4, p8: p8}, nil
}

func (g *gadgets) c2(l, r frontend.Variable) frontend.Variable { return g.p2.Compress(l, r) }

func (g *gadgets) c4(a, b, c, d frontend.Variable) frontend.Variable {
	x := []frontend.Variable{a, b, c, d}
	if err := g.p4.Permutation(x); err != nil {
		panic(err) // width 4 fixed in newGadgets
	}
	return g.api.Add(x[3], d)
}

func (g *gadgets) h8(in ...frontend.Variable) frontend.Variable {
	if len(in) > maxHash8 {
		panic(fmt.Sprintf("rollup circuit: H8 of %d elements", len(in)))
	}
	x := make([]frontend.Variable, 8)
	for i := range x {
		x[i] = 0
	}
	copy(x, in)
	first := x[0]
	x[7] = len(in)
	if err := g.p8.Permutation(x); err != nil {
		panic(err) // width 8 fixed in newGadgets
	}
	return g.api.Add(x[0], first)
}

// climb hashes node up len(path)/3 levels of the 4-ary tree; bits holds two
// index bits per level, low first. At each level the node goes to child
// position b0 + 2·b1 and the three siblings fill the others in order
// (State.Path): 7 constraints to place them, then C4.
func (g *gadgets) climb(node frontend.Variable, bits, path []frontend.Variable) frontend.Variable {
	api := g.api
	for l := 0; l < len(path)/3; l++ {
		b0, b1 := bits[2*l], bits[2*l+1]
		s0, s1, s2 := path[3*l], path[3*l+1], path[3*l+2]
		t := api.Mul(b0, b1)
		e0 := api.Sub(api.Add(1, t), api.Add(b0, b1)) // position 0
		e1 := api.Sub(b0, t)                          // position 1
		e2 := api.Sub(b1, t)                          // position 2; position 3 is t
		c0 := api.Add(s0, api.Mul(e0, api.Sub(node, s0)))
		c1 := api.Add(s1, api.Mul(e0, api.Sub(s0, s1)), api.Mul(e1, api.Sub(node, s1)))
		c2 := api.Add(s2, api.Mul(api.Sub(1, b1), api.Sub(s1, s2)), api.Mul(e2, api.Sub(node, s2)))
		c3 := api.Add(s2, api.Mul(t, api.Sub(node, s2)))
		node = g.c4(c0, c1, c2, c3)
	}
	return node
}

// selector returns the 4^(len(bits)/2) indicators of the cap index whose
// bits (low first) are given: exactly one is 1.
func (g *gadgets) selector(bits []frontend.Variable) []frontend.Variable {
	api := g.api
	sel := []frontend.Variable{1}
	for d := len(bits)/2 - 1; d >= 0; d-- {
		b0, b1 := bits[2*d], bits[2*d+1]
		t := api.Mul(b0, b1)
		digit := []frontend.Variable{api.Sub(api.Add(1, t), api.Add(b0, b1)), api.Sub(b0, t), api.Sub(b1, t), t}
		next := make([]frontend.Variable, 0, 4*len(sel))
		for _, s := range sel {
			for _, e := range digit {
				if len(sel) == 1 {
					next = append(next, e) // s is the constant 1
				} else {
					next = append(next, api.Mul(s, e))
				}
			}
		}
		sel = next
	}
	return sel
}

// read returns the cap entry sel points at.
func (g *gadgets) read(sel, cap []frontend.Variable) frontend.Variable {
	api := g.api
	var sum frontend.Variable = 0
	for i := range cap {
		sum = api.Add(sum, api.Mul(sel[i], cap[i]))
	}
	return sum
}

// write replaces the entry sel points at, which holds old, by new.
func (g *gadgets) write(sel, cap []frontend.Variable, old, new frontend.Variable) {
	d := g.api.Sub(new, old)
	for i := range cap {
		cap[i] = g.api.Add(cap[i], g.api.Mul(sel[i], d))
	}
}

// capRoot hashes the cap up to the root.
func (g *gadgets) capRoot(cap []frontend.Variable) frontend.Variable {
	level := cap
	for len(level) > 1 {
		next := make([]frontend.Variable, len(level)/4)
		for i := range next {
			next[i] = g.c4(level[4*i], level[4*i+1], level[4*i+2], level[4*i+3])
		}
		level = next
	}
	return level[0]
}

// verifySig checks an EdDSA signature by key a over the message msg (field
// elements): [8]([S]B − [H(R, A, msg)]A − R) = O with S < ℓ, the cofactored
// verification of RFC 8032 §5.1.7 with H8 as the hash (what
// gnark-crypto's EdDSA computes natively with sigHasher). R and a must be on
// the curve (the caller asserts it).
func (g *gadgets) verifySig(curve twistededwards.Curve, sig eddsa.Signature, a twistededwards.Point, msg ...frontend.Variable) {
	api := g.api
	hram := g.h8(append([]frontend.Variable{sig.R.X, sig.R.Y, a.X, a.Y}, msg...)...)
	api.AssertIsEqual(cmp.IsLess(api, sig.S, curve.Params().Order), 1)
	base := twistededwards.Point{X: curve.Params().Base[0], Y: curve.Params().Base[1]}
	q := curve.DoubleBaseScalarMul(base, curve.Neg(a), sig.S, hram)
	q = curve.Add(q, curve.Neg(sig.R))
	q = curve.Double(curve.Double(curve.Double(q))) // cofactor 8
	api.AssertIsEqual(q.X, 0)
	api.AssertIsEqual(q.Y, 1)
}

// Define writes the constraints.
func (c *Circuit) Define(api frontend.API) error {
	g, err := newGadgets(api)
	if err != nil {
		return fmt.Errorf("rollup circuit: %w", err)
	}
	curve, err := twistededwards.NewEdCurve(api, tedwards.BN254)
	if err != nil {
		return fmt.Errorf("rollup circuit: %w", err)
	}
	if err := checkDepth(c.Depth); err != nil {
		return fmt.Errorf("rollup circuit: %w", err)
	}
	if curve.Params().Cofactor.Cmp(big.NewInt(8)) != 0 {
		return fmt.Errorf("rollup circuit: curve cofactor %v, want 8", curve.Params().Cofactor)
	}
	if len(c.Cap) != capSize(c.Depth) {
		return fmt.Errorf("rollup circuit: cap of %d nodes, want %d", len(c.Cap), capSize(c.Depth))
	}
	low := 2 * (c.Depth/2 - CapLevels(c.Depth)) // index bits below the cap
	leaf := func(keyHash, index, balance, nonce frontend.Variable) frontend.Variable {
		return g.c2(keyHash, api.Add(index, api.Mul(balance, two32), api.Mul(nonce, two96)))
	}

	cap := append([]frontend.Variable(nil), c.Cap...)
	api.AssertIsEqual(g.capRoot(cap), c.PrevRoot)
	com := g.c4(c.RegionTag, c.Depth, BatchVersion, 0) // commitmentStart
	for i := range c.Txs {
		tx := &c.Txs[i]
		if len(tx.FromPath) != lowPathLen(c.Depth) || len(tx.ToPath) != lowPathLen(c.Depth) {
			return fmt.Errorf("rollup circuit: transfer %d has paths of %d and %d, want %d", i, len(tx.FromPath), len(tx.ToPath), lowPathLen(c.Depth))
		}
		fromBits := api.ToBinary(tx.From, c.Depth)
		toBits := api.ToBinary(tx.To, c.Depth)
		// The fields packed into leaves and into the signed message: each
		// in range, so that every packing is injective.
		for _, v := range []frontend.Variable{tx.Amount, tx.Nonce, tx.FromBalance, tx.ToBalance, tx.ToNonce} {
			api.ToBinary(v, 64)
		}
		// The sender's next nonce must fit too: the last one is never used
		// (State.Apply refuses it), or the account would be left with a leaf
		// no 64-bit fields can read.
		api.AssertIsDifferent(tx.Nonce, maxNonce)

		// The transfer in the commitment, and the sender's signature over it.
		toKeyHash := g.c2(tx.ToKey.X, tx.ToKey.Y)
		packed := api.Add(tx.From, api.Mul(tx.To, two32), api.Mul(tx.Amount, two64), api.Mul(tx.Nonce, two128))
		com = g.c4(com, packed, toKeyHash, 0)
		curve.AssertIsOnCurve(tx.Sig.R)
		curve.AssertIsOnCurve(tx.FromKey.A)
		g.verifySig(curve, tx.Sig, tx.FromKey.A, c.RegionTag, packed, toKeyHash)

		// Sender: old leaf in the tree, new leaf on the same path.
		fromKeyHash := g.c2(tx.FromKey.A.X, tx.FromKey.A.Y)
		sel := g.selector(fromBits[low:])
		old := g.climb(leaf(fromKeyHash, tx.From, tx.FromBalance, tx.Nonce), fromBits, tx.FromPath)
		api.AssertIsEqual(g.read(sel, cap), old)
		newFrom := api.Sub(tx.FromBalance, tx.Amount)
		api.ToBinary(newFrom, 64) // no wrap: balance ≥ amount
		g.write(sel, cap, old, g.climb(leaf(fromKeyHash, tx.From, newFrom, api.Add(tx.Nonce, 1)), fromBits, tx.FromPath))

		// Receiver: its leaf (or an empty slot) in the intermediate tree.
		api.AssertIsBoolean(tx.ToNew)
		api.AssertIsEqual(api.Mul(tx.ToNew, tx.ToBalance), 0)
		api.AssertIsEqual(api.Mul(tx.ToNew, tx.ToNonce), 0)
		toOld := api.Select(tx.ToNew, 0, leaf(toKeyHash, tx.To, tx.ToBalance, tx.ToNonce))
		sel = g.selector(toBits[low:])
		old = g.climb(toOld, toBits, tx.ToPath)
		api.AssertIsEqual(g.read(sel, cap), old)
		newTo := api.Add(tx.ToBalance, tx.Amount)
		api.ToBinary(newTo, 64) // no overflow
		g.write(sel, cap, old, g.climb(leaf(toKeyHash, tx.To, newTo, tx.ToNonce), toBits, tx.ToPath))
	}
	api.AssertIsEqual(g.capRoot(cap), c.NewRoot)
	api.AssertIsEqual(com, c.Commitment)
	return nil
}
