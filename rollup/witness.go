package rollup

import "fmt"

// TxWitness is what the circuit needs to prove one transfer: the sender's and
// the receiver's leaves and Merkle paths as they were when it was applied.
// State.Apply makes it; the zkstore daemon stores it with the queued transfer.
type TxWitness struct {
	Tx          SignedTransfer
	FromKey     PublicKey
	FromBalance uint64     // before the transfer; its nonce is Tx.Nonce
	FromPath    [][32]byte // siblings, leaf level first, before the transfer
	ToNew       bool       // the receiver's slot was empty
	ToBalance   uint64     // receiver before the transfer (after the sender's update)
	ToNonce     uint64
	ToPath      [][32]byte // siblings after the sender's update
	RootBefore  [32]byte
	RootAfter   [32]byte
	// Cap is the tree's cap before the transfer (State.Cap): the circuit
	// takes the first transfer's and hashes it to the batch's previous root.
	Cap [][32]byte
}

// capSize is the number of nodes in the cap of a tree of depth d.
func capSize(d int) int { return 1 << (2 * CapLevels(d)) }

// witnessSize is the encoded size of a TxWitness for a tree of depth d.
func witnessSize(d int) int {
	return TransferSize + SignatureSize + PublicKeySize + 8 + 1 + 8 + 8 + 64 + (2*PathLen(d)+capSize(d))*32
}

// MarshalBinary encodes the witness (fixed size for a depth).
func (w TxWitness) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, witnessSize(2*len(w.FromPath)/3))
	b = w.Tx.AppendBinary(b)
	b = append(b, w.Tx.Sig[:]...)
	b = append(b, w.FromKey[:]...)
	var u [8]byte
	putU64(u[:], w.FromBalance)
	b = append(b, u[:]...)
	if w.ToNew {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	putU64(u[:], w.ToBalance)
	b = append(b, u[:]...)
	putU64(u[:], w.ToNonce)
	b = append(b, u[:]...)
	b = append(b, w.RootBefore[:]...)
	b = append(b, w.RootAfter[:]...)
	for _, p := range w.FromPath {
		b = append(b, p[:]...)
	}
	for _, p := range w.ToPath {
		b = append(b, p[:]...)
	}
	for _, p := range w.Cap {
		b = append(b, p[:]...)
	}
	return b, nil
}

// UnmarshalWitness decodes a witness for a tree of depth depth. Errors wrap
// ErrMalformed.
func UnmarshalWitness(depth int, b []byte) (TxWitness, error) {
	var w TxWitness
	if err := checkDepth(depth); err != nil {
		return w, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(b) != witnessSize(depth) {
		return w, fmt.Errorf("%w: witness of %d bytes, want %d", ErrMalformed, len(b), witnessSize(depth))
	}
	t, err := ParseTransfer(b[:TransferSize])
	if err != nil {
		return w, err
	}
	w.Tx.Transfer = t
	b = b[TransferSize:]
	copy(w.Tx.Sig[:], b)
	b = b[SignatureSize:]
	copy(w.FromKey[:], b)
	b = b[PublicKeySize:]
	w.FromBalance = getU64(b)
	switch b[8] {
	case 0:
	case 1:
		w.ToNew = true
	default:
		return w, fmt.Errorf("%w: witness flag %d", ErrMalformed, b[8])
	}
	w.ToBalance = getU64(b[9:])
	w.ToNonce = getU64(b[17:])
	b = b[25:]
	copy(w.RootBefore[:], b)
	copy(w.RootAfter[:], b[32:])
	b = b[64:]
	w.FromPath = make([][32]byte, PathLen(depth))
	w.ToPath = make([][32]byte, PathLen(depth))
	w.Cap = make([][32]byte, capSize(depth))
	for _, list := range [][][32]byte{w.FromPath, w.ToPath, w.Cap} {
		for i := range list {
			copy(list[i][:], b)
			b = b[32:]
		}
	}
	return w, nil
}
