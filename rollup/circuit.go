package rollup

import (
	"fmt"
	"math/big"

	tedwards "github.com/consensys/gnark-crypto/ecc/twistededwards"
	"github.com/consensys/gnark/frontend"
	"github.com/consensys/gnark/std/algebra/native/twistededwards"
	"github.com/consensys/gnark/std/hash"
	"github.com/consensys/gnark/std/permutation/poseidon2"
	"github.com/consensys/gnark/std/signature/eddsa"
)

// CircuitVersion changes whenever the circuit's constraints change; cached
// keys are kept per version (see Params.Version).
const CircuitVersion = 2

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
// Public inputs, in order: PrevRoot, NewRoot, Commitment.
type Circuit struct {
	PrevRoot   frontend.Variable `gnark:",public"`
	NewRoot    frontend.Variable `gnark:",public"`
	Commitment frontend.Variable `gnark:",public"`

	RegionTag frontend.Variable
	Txs       []TransferVars

	Depth int `gnark:"-"`
}

// TransferVars is one transfer's part of the witness.
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

// NewCircuit allocates a circuit for a tree of depth depth and batches of
// batch transfers (the shape Compile and assignments need).
func NewCircuit(depth, batch int) *Circuit {
	c := &Circuit{Depth: depth, Txs: make([]TransferVars, batch)}
	for i := range c.Txs {
		c.Txs[i].FromPath = make([]frontend.Variable, depth)
		c.Txs[i].ToPath = make([]frontend.Variable, depth)
	}
	return c
}

var (
	two32  = new(big.Int).Lsh(big.NewInt(1), 32)
	two64  = new(big.Int).Lsh(big.NewInt(1), 64)
	two96  = new(big.Int).Lsh(big.NewInt(1), 96)
	two128 = new(big.Int).Lsh(big.NewInt(1), 128)
)

// Define writes the constraints.
func (c *Circuit) Define(api frontend.API) error {
	p, err := poseidon2.NewPoseidon2(api)
	if err != nil {
		return fmt.Errorf("rollup circuit: %w", err)
	}
	curve, err := twistededwards.NewEdCurve(api, tedwards.BN254)
	if err != nil {
		return fmt.Errorf("rollup circuit: %w", err)
	}
	merkle := func(leaf frontend.Variable, bits, path []frontend.Variable) frontend.Variable {
		node := leaf
		for l := range path {
			left := api.Select(bits[l], path[l], node)
			right := api.Sub(api.Add(node, path[l]), left)
			node = p.Compress(left, right)
		}
		return node
	}
	leaf := func(keyHash, index, balance, nonce frontend.Variable) frontend.Variable {
		return p.Compress(keyHash, api.Add(index, api.Mul(balance, two32), api.Mul(nonce, two96)))
	}

	root := c.PrevRoot
	com := c.RegionTag
	for i := range c.Txs {
		tx := &c.Txs[i]
		if len(tx.FromPath) != c.Depth || len(tx.ToPath) != c.Depth {
			return fmt.Errorf("rollup circuit: transfer %d has paths of %d and %d, want %d", i, len(tx.FromPath), len(tx.ToPath), c.Depth)
		}
		fromBits := api.ToBinary(tx.From, c.Depth)
		toBits := api.ToBinary(tx.To, c.Depth)
		// The fields packed into leaves and into the signed message: each
		// in range, so that every packing is injective.
		for _, v := range []frontend.Variable{tx.Amount, tx.Nonce, tx.FromBalance, tx.ToBalance, tx.ToNonce} {
			api.ToBinary(v, 64)
		}

		// The transfer's hash, the signed message and the commitment.
		toKeyHash := p.Compress(tx.ToKey.X, tx.ToKey.Y)
		packed := api.Add(tx.From, api.Mul(tx.To, two32), api.Mul(tx.Amount, two64), api.Mul(tx.Nonce, two128))
		t := p.Compress(packed, toKeyHash)
		msg := p.Compress(c.RegionTag, t)
		com = p.Compress(com, t)

		// Signature by the key the sender's leaf holds.
		curve.AssertIsOnCurve(tx.Sig.R)
		curve.AssertIsOnCurve(tx.FromKey.A)
		if err := eddsa.Verify(curve, tx.Sig, msg, tx.FromKey, hash.NewMerkleDamgardHasher(api, p, 0)); err != nil {
			return fmt.Errorf("rollup circuit: %w", err)
		}

		// Sender: old leaf in the tree, new leaf on the same path.
		fromKeyHash := p.Compress(tx.FromKey.A.X, tx.FromKey.A.Y)
		api.AssertIsEqual(merkle(leaf(fromKeyHash, tx.From, tx.FromBalance, tx.Nonce), fromBits, tx.FromPath), root)
		newFrom := api.Sub(tx.FromBalance, tx.Amount)
		api.ToBinary(newFrom, 64) // no wrap: balance ≥ amount
		root = merkle(leaf(fromKeyHash, tx.From, newFrom, api.Add(tx.Nonce, 1)), fromBits, tx.FromPath)

		// Receiver: its leaf (or an empty slot) in the intermediate tree.
		api.AssertIsBoolean(tx.ToNew)
		api.AssertIsEqual(api.Mul(tx.ToNew, tx.ToBalance), 0)
		api.AssertIsEqual(api.Mul(tx.ToNew, tx.ToNonce), 0)
		toOld := api.Select(tx.ToNew, 0, leaf(toKeyHash, tx.To, tx.ToBalance, tx.ToNonce))
		api.AssertIsEqual(merkle(toOld, toBits, tx.ToPath), root)
		newTo := api.Add(tx.ToBalance, tx.Amount)
		api.ToBinary(newTo, 64) // no overflow
		root = merkle(leaf(toKeyHash, tx.To, newTo, tx.ToNonce), toBits, tx.ToPath)
	}
	api.AssertIsEqual(root, c.NewRoot)
	api.AssertIsEqual(com, c.Commitment)
	return nil
}
