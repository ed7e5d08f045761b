package wire

// Micropayment messages (types 88-89) and error code 26. The verifier
// pays each miner for its passed proofs of spacetime into the miner's
// zkStore account; it learns that account by asking the miner for its
// wallet binding (package wallet: the miner's peer ID and its account key,
// each signing the other) and checks the binding itself, so the miner's
// answer needs no trust.
//
// Bodies:
//
//	GetWalletBinding  (empty)
//	WalletBinding     binding bytes (wallet.Binding.Marshal, at most MaxWalletBinding)

const (
	TypeGetWalletBinding Type = 88
	TypeWalletBinding    Type = 89
)

// MaxWalletBinding bounds a WalletBinding's bytes (a marshalled binding is
// about 400 bytes).
const MaxWalletBinding = 1024

// CodeNoWallet: the node has no wallet key bound to its identity, so it
// cannot be paid (a miner's operator creates one with `ppstore --identity
// MINER_DATA_DIR wallet address`).
const CodeNoWallet Code = 26

// ErrNoWallet is CodeNoWallet's sentinel: errors.Is matches a remote error
// with the same code.
var ErrNoWallet = &Error{Code: CodeNoWallet}

func init() {
	codeNames[CodeNoWallet] = "no wallet"
	typeNames[TypeGetWalletBinding] = "GetWalletBinding"
	typeNames[TypeWalletBinding] = "WalletBinding"
}

// newPayment returns an empty payment message of type t, nil for another type.
func newPayment(t Type) Message {
	switch t {
	case TypeGetWalletBinding:
		return new(GetWalletBinding)
	case TypeWalletBinding:
		return new(WalletBinding)
	}
	return nil
}

// GetWalletBinding asks a node for its wallet binding.
type GetWalletBinding struct{}

func (*GetWalletBinding) Type() Type             { return TypeGetWalletBinding }
func (*GetWalletBinding) Append(b []byte) []byte { return b }
func (*GetWalletBinding) Decode(b []byte) error  { return NewDec(b).Finish() }

// WalletBinding answers GetWalletBinding with the node's binding as package
// wallet marshals it. The receiver verifies it (both signatures, and that it
// names the peer it asked); the bytes are opaque here.
type WalletBinding struct{ Binding []byte }

func (*WalletBinding) Type() Type { return TypeWalletBinding }
func (m *WalletBinding) Append(b []byte) []byte {
	e := Enc{B: b}
	e.Bytes(m.Binding)
	return e.B
}
func (m *WalletBinding) Decode(b []byte) error {
	d := NewDec(b)
	raw := d.Bytes()
	if d.Err() == nil && len(raw) > MaxWalletBinding {
		d.Fail("wallet binding of %d bytes (at most %d)", len(raw), MaxWalletBinding)
	}
	m.Binding = append([]byte(nil), raw...)
	return d.Finish()
}
