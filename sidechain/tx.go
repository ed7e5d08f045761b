package sidechain

import (
	"encoding/binary"
	"fmt"
)

// Limits of a batch transaction. CometBFT's mempool refuses transactions
// above its max_tx_bytes (1 MiB by default) on its own; these are ours.
const (
	TxVersion     = 1         // the only transaction version this module reads
	MaxRegionName = 64        // bytes of a region name
	MaxTxData     = 512 << 10 // bytes of a batch's transaction data
	MaxProof      = 16 << 10  // bytes of a batch proof (a Groth16 BN254 proof is a few hundred)
)

const kindBatch = 1

// Batch is one rollup batch submitted to the chain: the transition of a
// region's account tree from PrevRoot to NewRoot by the transactions in
// TxData, proven by Proof. The chain accepts it only if PrevRoot is the
// region's current root and the proof verifies against the region's
// verifying key.
type Batch struct {
	Region   string
	PrevRoot [32]byte
	NewRoot  [32]byte
	TxData   []byte
	Proof    []byte
}

// AppendTx appends the canonical encoding of b as a chain transaction:
//
//	version u8 (1) | kind u8 (1 = batch) | region_len u8 | region
//	| prev_root [32] | new_root [32]
//	| tx_data_len u32 BE | tx_data | proof_len u32 BE | proof
//
// One encoding per batch: DecodeTx refuses anything else (trailing bytes
// included), so the bytes a client sends are the bytes every validator
// executes.
func (b *Batch) AppendTx(dst []byte) []byte {
	dst = append(dst, TxVersion, kindBatch, byte(len(b.Region)))
	dst = append(dst, b.Region...)
	dst = append(dst, b.PrevRoot[:]...)
	dst = append(dst, b.NewRoot[:]...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b.TxData)))
	dst = append(dst, b.TxData...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b.Proof)))
	return append(dst, b.Proof...)
}

// Validate checks the limits of b; the error wraps ErrMalformed.
func (b *Batch) Validate() error {
	if err := ValidRegionName(b.Region); err != nil {
		return err
	}
	if len(b.TxData) > MaxTxData {
		return errorf(CodeMalformed, "transaction data of %d bytes exceeds %d; submit smaller batches", len(b.TxData), MaxTxData)
	}
	if len(b.Proof) == 0 {
		return errorf(CodeMalformed, "empty proof")
	}
	if len(b.Proof) > MaxProof {
		return errorf(CodeMalformed, "proof of %d bytes exceeds %d", len(b.Proof), MaxProof)
	}
	return nil
}

// ValidRegionName checks that name is 1 to MaxRegionName bytes of ASCII
// letters, digits, '-', '_' or '.'; the error wraps ErrMalformed.
func ValidRegionName(name string) error {
	if name == "" || len(name) > MaxRegionName {
		return errorf(CodeMalformed, "region name must be 1 to %d bytes, got %d", MaxRegionName, len(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return errorf(CodeMalformed, "region name %q has character %q; use letters, digits, '-', '_' or '.'", name, c)
		}
	}
	return nil
}

// DecodeTx parses a chain transaction (see AppendTx). Errors wrap
// ErrMalformed and say which field is wrong.
func DecodeTx(tx []byte) (*Batch, error) {
	d := txDecoder{b: tx}
	if v := d.u8(); d.err == nil && v != TxVersion {
		return nil, errorf(CodeMalformed, "transaction version %d, this chain reads version %d; upgrade the submitting operator", v, TxVersion)
	}
	if k := d.u8(); d.err == nil && k != kindBatch {
		return nil, errorf(CodeMalformed, "unknown transaction kind %d", k)
	}
	var b Batch
	b.Region = string(d.bytes(int(d.u8()), "region"))
	copy(b.PrevRoot[:], d.bytes(32, "previous root"))
	copy(b.NewRoot[:], d.bytes(32, "new root"))
	b.TxData = d.bytes(d.len32(MaxTxData, "transaction data"), "transaction data")
	b.Proof = d.bytes(d.len32(MaxProof, "proof"), "proof")
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, errorf(CodeMalformed, "%d bytes after the proof", len(d.b))
	}
	if err := b.Validate(); err != nil {
		return nil, err
	}
	return &b, nil
}

type txDecoder struct {
	b   []byte
	err error
}

func (d *txDecoder) u8() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.err = errorf(CodeMalformed, "transaction truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *txDecoder) len32(max int, what string) int {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 4 {
		d.err = errorf(CodeMalformed, "transaction truncated before the length of its %s", what)
		return 0
	}
	n := binary.BigEndian.Uint32(d.b)
	d.b = d.b[4:]
	if uint64(n) > uint64(max) {
		d.err = errorf(CodeMalformed, "%s of %d bytes exceeds %d", what, n, max)
		return 0
	}
	return int(n)
}

func (d *txDecoder) bytes(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.err = errorf(CodeMalformed, "transaction truncated in its %s (%d of %d bytes)", what, len(d.b), n)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// String names the batch for logs.
func (b *Batch) String() string {
	return fmt.Sprintf("batch %s %x..→%x.. (%d B data, %d B proof)", b.Region, b.PrevRoot[:4], b.NewRoot[:4], len(b.TxData), len(b.Proof))
}
