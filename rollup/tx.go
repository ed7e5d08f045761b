package rollup

import (
	"fmt"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
)

// TransferSize is the encoded size of a Transfer without its signature (its
// size in batch data).
const TransferSize = 4 + 4 + 8 + 8 + PublicKeySize

// Transfer moves Amount from account From to account To. To must hold ToKey,
// or be empty (the transfer then opens it with ToKey). Nonce is the sender's
// count of earlier transfers.
type Transfer struct {
	From, To uint32
	Amount   uint64
	Nonce    uint64
	ToKey    PublicKey
}

// SignedTransfer is a transfer with the sender's signature over
// Transfer.Message.
type SignedTransfer struct {
	Transfer
	Sig [SignatureSize]byte
}

// packed is from + to·2^32 + amount·2^64 + nonce·2^128.
func (t Transfer) packed() fr.Element {
	var b [32]byte
	putU64(b[8:], t.Nonce)
	putU64(b[16:], t.Amount)
	putU32(b[24:], t.To)
	putU32(b[28:], t.From)
	var e fr.Element
	e.SetBytes(b[:])
	return e
}

// parts are the transfer's packed form and its receiver key hash C(to.X, to.Y).
func (t Transfer) parts() (packed, toKeyHash fr.Element, err error) {
	pk, err := t.ToKey.point()
	if err != nil {
		return packed, toKeyHash, err
	}
	return t.packed(), keyHash(pk), nil
}

// MessageSize is the size of the message a sender signs: three field elements.
const MessageSize = 3 * fr.Bytes

// Message is what the sender signs for the region: the field elements
// (regionTag, packed, C(to.X, to.Y)), 32 big-endian bytes each. Errors wrap
// ErrMalformed (a bad ToKey or region tag).
func (t Transfer) Message(regionTag [32]byte) ([MessageSize]byte, error) {
	var m [MessageSize]byte
	packed, tk, err := t.parts()
	if err != nil {
		return m, err
	}
	if _, err := elementOf(regionTag); err != nil {
		return m, err
	}
	pb, tb := packed.Bytes(), tk.Bytes()
	copy(m[:], regionTag[:])
	copy(m[32:], pb[:])
	copy(m[64:], tb[:])
	return m, nil
}

// Sign signs t for the region with key k.
func Sign(k *PrivateKey, regionTag [32]byte, t Transfer) (SignedTransfer, error) {
	m, err := t.Message(regionTag)
	if err != nil {
		return SignedTransfer{}, err
	}
	sig, err := k.k.Sign(m[:], &sigHasher{})
	if err != nil {
		return SignedTransfer{}, fmt.Errorf("rollup: sign transfer: %w", err)
	}
	st := SignedTransfer{Transfer: t}
	copy(st.Sig[:], sig)
	return st, nil
}

// Verify checks the signature under the sender's key from. Errors wrap
// ErrBadSignature or ErrMalformed.
func (st SignedTransfer) Verify(regionTag [32]byte, from PublicKey) error {
	pk, err := from.point()
	if err != nil {
		return err
	}
	m, err := st.Message(regionTag)
	if err != nil {
		return err
	}
	ok, err := pk.Verify(st.Sig[:], m[:], &sigHasher{})
	if err != nil || !ok {
		return fmt.Errorf("%w: transfer %d→%d nonce %d", ErrBadSignature, st.From, st.To, st.Nonce)
	}
	return nil
}

// AppendBinary appends the transfer's batch-data encoding (TransferSize bytes).
func (t Transfer) AppendBinary(b []byte) []byte {
	var f [24]byte
	putU32(f[0:], t.From)
	putU32(f[4:], t.To)
	putU64(f[8:], t.Amount)
	putU64(f[16:], t.Nonce)
	b = append(b, f[:]...)
	return append(b, t.ToKey[:]...)
}

// ParseTransfer reads TransferSize bytes written by AppendBinary. It does not
// check the key (Message and the state do). Errors wrap ErrMalformed.
func ParseTransfer(b []byte) (Transfer, error) {
	if len(b) != TransferSize {
		return Transfer{}, fmt.Errorf("%w: transfer is %d bytes, want %d", ErrMalformed, len(b), TransferSize)
	}
	t := Transfer{From: getU32(b), To: getU32(b[4:]), Amount: getU64(b[8:]), Nonce: getU64(b[16:])}
	copy(t.ToKey[:], b[24:])
	return t, nil
}
