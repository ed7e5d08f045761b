package rollup

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"

	"github.com/consensys/gnark-crypto/ecc"
	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark-crypto/ecc/bn254/twistededwards/eddsa"
	"github.com/consensys/gnark/backend/groth16"
	"github.com/consensys/gnark/constraint"
	"github.com/consensys/gnark/frontend"
	"github.com/consensys/gnark/frontend/cs/r1cs"
)

// Params fix one circuit: the tree's depth and the number of transfers per
// batch. Each Params has its own keys.
type Params struct {
	Depth     int // index bits of the 4-ary tree: even, 2..32 (2^Depth accounts)
	BatchSize int // transfers per batch, 1..MaxBatch
}

// DefaultParams is what the zkstore daemon uses unless configured: a tree of
// 2^20 accounts and batches of 31 transfers, the most that fit a proving
// domain of 2^19 (11,355 constraints per batch for the cap and the
// commitment's start, and 16,378 per transfer at circuit version 4: 519,073 of
// 524,288). A 32nd transfer would double the domain, and with it the FFTs and
// the quotient's MSM. Figures in docs/BENCHMARKS.md.
var DefaultParams = Params{Depth: 20, BatchSize: 31}

// Validate checks the ranges.
func (p Params) Validate() error {
	if err := checkDepth(p.Depth); err != nil {
		return err
	}
	if p.BatchSize < 1 || p.BatchSize > MaxBatch {
		return fmt.Errorf("rollup: batch size %d out of 1..%d", p.BatchSize, MaxBatch)
	}
	return nil
}

// Version names the circuit and its keys: "v<CircuitVersion>-d<depth>-b<batch>".
func (p Params) Version() string {
	return fmt.Sprintf("v%d-d%d-b%d", CircuitVersion, p.Depth, p.BatchSize)
}

// Keys are a compiled circuit with its Groth16 proving and verifying keys.
type Keys struct {
	Params Params
	ccs    constraint.ConstraintSystem
	pk     groth16.ProvingKey
	vk     groth16.VerifyingKey
	vkb    []byte
}

// VerifyingKey returns the verifying key as gnark's WriteTo writes it, the
// bytes VerifyBatch takes and the sidechain's genesis holds.
func (k *Keys) VerifyingKey() []byte { return append([]byte(nil), k.vkb...) }

// Constraints is the circuit's number of R1CS constraints.
func (k *Keys) Constraints() int { return k.ccs.GetNbConstraints() }

// Compile builds the circuit's constraint system.
func Compile(p Params) (constraint.ConstraintSystem, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	ccs, err := frontend.Compile(ecc.BN254.ScalarField(), r1cs.NewBuilder, NewCircuit(p.Depth, p.BatchSize))
	if err != nil {
		return nil, fmt.Errorf("rollup: compile circuit %s: %w", p.Version(), err)
	}
	return ccs, nil
}

// LoadOrSetupKeys returns the keys of circuit p cached under dir/<version>/,
// or compiles the circuit, runs a Groth16 setup and caches the result
// (files written to a temporary name, then renamed). The setup is a local,
// single-party one: whoever runs it could forge proofs, so a network shares
// keys from a multi-party ceremony instead (docs/ZKSTORE.md).
func LoadOrSetupKeys(dir string, p Params) (*Keys, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	d := filepath.Join(dir, p.Version())
	k, err := loadKeys(d, p)
	if err == nil {
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	ccs, err := Compile(p)
	if err != nil {
		return nil, err
	}
	pk, vk, err := groth16.Setup(ccs)
	if err != nil {
		return nil, fmt.Errorf("rollup: setup %s: %w", p.Version(), err)
	}
	// Written into a fresh directory renamed into place at the end, so that
	// concurrent setups (two processes, two test binaries) never mix files
	// of different setups: the first rename wins and the others load it.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(dir, p.Version()+".tmp-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	for _, f := range []struct {
		name string
		w    func(io.Writer) (int64, error)
	}{{"ccs", ccs.WriteTo}, {"pk", pk.WriteRawTo}, {"vk", vk.WriteTo}} {
		if err := writeAtomic(filepath.Join(tmp, f.name), f.w); err != nil {
			return nil, err
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, d); err != nil {
		if k, lerr := loadKeys(d, p); lerr == nil {
			return k, nil // another setup got there first
		}
		return nil, fmt.Errorf("rollup: store keys in %s: %w", d, err)
	}
	var vkb bytes.Buffer
	if _, err := vk.WriteTo(&vkb); err != nil {
		return nil, err
	}
	return &Keys{Params: p, ccs: ccs, pk: pk, vk: vk, vkb: vkb.Bytes()}, nil
}

func loadKeys(d string, p Params) (*Keys, error) {
	// vk is written last: if it exists, the others are whole.
	vkb, err := os.ReadFile(filepath.Join(d, "vk"))
	if err != nil {
		return nil, err
	}
	k := &Keys{Params: p, vkb: vkb, ccs: groth16.NewCS(ecc.BN254), pk: groth16.NewProvingKey(ecc.BN254), vk: groth16.NewVerifyingKey(ecc.BN254)}
	if _, err := k.vk.ReadFrom(bytes.NewReader(vkb)); err != nil {
		return nil, fmt.Errorf("rollup: cached verifying key %s: %w", d, err)
	}
	if err := readFile(filepath.Join(d, "ccs"), func(r io.Reader) error { _, err := k.ccs.ReadFrom(r); return err }); err != nil {
		return nil, err
	}
	if err := readFile(filepath.Join(d, "pk"), func(r io.Reader) error { _, err := k.pk.UnsafeReadFrom(r); return err }); err != nil {
		return nil, err
	}
	return k, nil
}

func readFile(name string, read func(io.Reader) error) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := read(bufioReader(f)); err != nil {
		return fmt.Errorf("rollup: cached key file %s: %w (delete the directory to regenerate)", name, err)
	}
	return nil
}

func writeAtomic(name string, w func(io.Writer) (int64, error)) error {
	tmp := name + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	bw := bufioWriter(f)
	if _, err := w(bw); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// Assign builds the full circuit assignment for a batch (witnesses in the
// order they were applied). Errors wrap ErrBadWitness (a chain of roots that
// does not link up, or a batch of the wrong size) or ErrMalformed.
func Assign(p Params, regionTag [32]byte, ws []TxWitness) (*Circuit, BatchData, error) {
	if len(ws) != p.BatchSize {
		return nil, BatchData{}, fmt.Errorf("%w: %d transfers for a batch of %d", ErrBadWitness, len(ws), p.BatchSize)
	}
	c := NewCircuit(p.Depth, p.BatchSize)
	data := BatchData{Depth: p.Depth, RegionTag: regionTag, Transfers: make([]Transfer, len(ws))}
	for i, w := range ws {
		if len(w.FromPath) != PathLen(p.Depth) || len(w.ToPath) != PathLen(p.Depth) {
			return nil, BatchData{}, fmt.Errorf("%w: transfer %d has paths for another depth", ErrBadWitness, i)
		}
		if i > 0 && w.RootBefore != ws[i-1].RootAfter {
			return nil, BatchData{}, fmt.Errorf("%w: transfer %d does not start from the root transfer %d left", ErrBadWitness, i, i-1)
		}
		data.Transfers[i] = w.Tx.Transfer
		fromKey, err := w.FromKey.point()
		if err != nil {
			return nil, BatchData{}, err
		}
		toKey, err := w.Tx.ToKey.point()
		if err != nil {
			return nil, BatchData{}, err
		}
		var sig eddsa.Signature
		if _, err := sig.SetBytes(w.Tx.Sig[:]); err != nil {
			return nil, BatchData{}, fmt.Errorf("%w: transfer %d signature: %v", ErrMalformed, i, err)
		}
		tv := &c.Txs[i]
		tv.From, tv.To, tv.Amount, tv.Nonce = w.Tx.From, w.Tx.To, w.Tx.Amount, w.Tx.Nonce
		tv.FromKey.A.X, tv.FromKey.A.Y = fromKey.A.X, fromKey.A.Y
		tv.Sig.R.X, tv.Sig.R.Y = sig.R.X, sig.R.Y
		tv.Sig.S = new(big.Int).SetBytes(sig.S[:])
		tv.FromBalance = w.FromBalance
		tv.ToKey.X, tv.ToKey.Y = toKey.A.X, toKey.A.Y
		tv.ToNew = 0
		if w.ToNew {
			tv.ToNew = 1
		}
		tv.ToBalance, tv.ToNonce = w.ToBalance, w.ToNonce
		for l := range tv.FromPath {
			tv.FromPath[l] = elem(w.FromPath[l])
			tv.ToPath[l] = elem(w.ToPath[l])
		}
	}
	// The cap before the batch: it must hash to the first transfer's root.
	if len(ws[0].Cap) != capSize(p.Depth) {
		return nil, BatchData{}, fmt.Errorf("%w: the first transfer's cap has %d nodes, want %d", ErrBadWitness, len(ws[0].Cap), capSize(p.Depth))
	}
	capNodes := make([]fr.Element, len(ws[0].Cap))
	for i, n := range ws[0].Cap {
		capNodes[i] = elem(n)
		c.Cap[i] = capNodes[i]
	}
	for len(capNodes) > 1 {
		next := make([]fr.Element, len(capNodes)/4)
		for i := range next {
			next[i] = compress4([4]fr.Element(capNodes[4*i : 4*i+4]))
		}
		capNodes = next
	}
	if capNodes[0].Bytes() != ws[0].RootBefore {
		return nil, BatchData{}, fmt.Errorf("%w: the first transfer's cap does not hash to its root", ErrBadWitness)
	}
	com, err := data.Commitment()
	if err != nil {
		return nil, BatchData{}, err
	}
	c.PrevRoot = elem(ws[0].RootBefore)
	c.NewRoot = elem(ws[len(ws)-1].RootAfter)
	c.Commitment = elem(com)
	c.RegionTag = elem(regionTag)
	return c, data, nil
}

// elem turns 32 big-endian bytes into a circuit value (reduced mod r; roots
// and tags are canonical already).
func elem(b [32]byte) fr.Element {
	var e fr.Element
	e.SetBytes(b[:])
	return e
}

// Prove proves a batch: the witnesses State.Apply returned, in order. It
// returns the batch data and the proof (gnark's WriteTo encoding), the
// arguments VerifyBatch takes with the first witness's RootBefore and the last
// one's RootAfter. Errors wrap ErrBadWitness when the witnesses do not
// describe a valid transition (the circuit is not satisfied).
func (k *Keys) Prove(regionTag [32]byte, ws []TxWitness) (txData, proof []byte, err error) {
	c, data, err := Assign(k.Params, regionTag, ws)
	if err != nil {
		return nil, nil, err
	}
	w, err := frontend.NewWitness(c, ecc.BN254.ScalarField())
	if err != nil {
		return nil, nil, fmt.Errorf("rollup: witness: %w", err)
	}
	pr, err := groth16.Prove(k.ccs, k.pk, w)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadWitness, err)
	}
	var buf bytes.Buffer
	if _, err := pr.WriteTo(&buf); err != nil {
		return nil, nil, err
	}
	return data.Encode(), buf.Bytes(), nil
}
