package rollup

import (
	"fmt"
	"io"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark-crypto/ecc/bn254/twistededwards/eddsa"
)

// PublicKeySize is the size of a compressed account key (the x coordinate and
// the parity of y of a point of BN254's twisted Edwards curve).
const PublicKeySize = 32

// SignatureSize is the size of an EdDSA signature: compressed R and S.
const SignatureSize = 64

// PrivateKeySize is the size of a serialized account private key
// (gnark-crypto's eddsa.PrivateKey.Bytes).
const PrivateKeySize = 96

// PublicKey is an account key in compressed form.
type PublicKey [PublicKeySize]byte

// PrivateKey signs transfers for one account.
type PrivateKey struct{ k eddsa.PrivateKey }

// GenerateKey makes a new account key from the random source r
// (crypto/rand.Reader in production).
func GenerateKey(r io.Reader) (*PrivateKey, error) {
	k, err := eddsa.GenerateKey(r)
	if err != nil {
		return nil, fmt.Errorf("rollup: generate account key: %w", err)
	}
	return &PrivateKey{k: *k}, nil
}

// ParsePrivateKey reads a key written by PrivateKey.Bytes; it checks that the
// public part matches the scalar. Errors wrap ErrMalformed.
func ParsePrivateKey(b []byte) (*PrivateKey, error) {
	if len(b) != PrivateKeySize {
		return nil, fmt.Errorf("%w: account private key is %d bytes, want %d", ErrMalformed, len(b), PrivateKeySize)
	}
	var k eddsa.PrivateKey
	if _, err := k.SetBytes(b); err != nil {
		return nil, fmt.Errorf("%w: account private key: %v", ErrMalformed, err)
	}
	return &PrivateKey{k: k}, nil
}

// Bytes serializes the key (PrivateKeySize bytes; keep it secret).
func (k *PrivateKey) Bytes() []byte { return k.k.Bytes() }

// Public returns the account key.
func (k *PrivateKey) Public() PublicKey {
	var p PublicKey
	copy(p[:], k.k.PublicKey.Bytes())
	return p
}

// point decodes and checks the key: on the curve, in the prime-order
// subgroup, not the identity. Errors wrap ErrMalformed.
func (p PublicKey) point() (eddsa.PublicKey, error) {
	var pk eddsa.PublicKey
	if _, err := pk.SetBytes(p[:]); err != nil {
		return pk, fmt.Errorf("%w: account key %x: %v", ErrMalformed, p[:8], err)
	}
	return pk, nil
}

// Valid reports whether p is a usable account key.
func (p PublicKey) Valid() error {
	_, err := p.point()
	return err
}

// String shows the key in hex.
func (p PublicKey) String() string { return fmt.Sprintf("%x", p[:]) }

// keyHash is C(pk.X, pk.Y).
func keyHash(pk eddsa.PublicKey) fr.Element {
	return compress(pk.A.X, pk.A.Y)
}

// Account is one leaf of the account tree.
type Account struct {
	Index   uint32    // position in the tree, < 2^Depth
	Key     PublicKey // who signs for it
	Balance uint64    // in the region's smallest unit
	Nonce   uint64    // number of transfers it has sent
}

// packLeaf is index + balance·2^32 + nonce·2^96.
func packLeaf(index uint32, balance, nonce uint64) fr.Element {
	var b [32]byte
	putU64(b[12:], nonce)   // bits 96..159
	putU64(b[20:], balance) // bits 32..95
	putU32(b[28:], index)   // bits 0..31
	var e fr.Element
	e.SetBytes(b[:]) // < 2^160, canonical
	return e
}

// Leaf is the account's leaf hash (see the package doc).
func (a Account) Leaf() (fr.Element, error) {
	pk, err := a.Key.point()
	if err != nil {
		return fr.Element{}, err
	}
	return compress(keyHash(pk), packLeaf(a.Index, a.Balance, a.Nonce)), nil
}

func putU64(b []byte, v uint64) {
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}

func putU32(b []byte, v uint32) {
	for i := 3; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}

func getU64(b []byte) uint64 {
	var v uint64
	for _, c := range b[:8] {
		v = v<<8 | uint64(c)
	}
	return v
}

func getU32(b []byte) uint32 {
	var v uint32
	for _, c := range b[:4] {
		v = v<<8 | uint32(c)
	}
	return v
}

// encodeAccount is key(32) | balance u64 | nonce u64 (the index is the key
// under which it is stored).
func encodeAccount(a Account) []byte {
	b := make([]byte, 48)
	copy(b, a.Key[:])
	putU64(b[32:], a.Balance)
	putU64(b[40:], a.Nonce)
	return b
}

func decodeAccount(index uint32, b []byte) (Account, error) {
	if len(b) != 48 {
		return Account{}, fmt.Errorf("%w: stored account %d is %d bytes", ErrMalformed, index, len(b))
	}
	a := Account{Index: index, Balance: getU64(b[32:]), Nonce: getU64(b[40:])}
	copy(a.Key[:], b)
	return a, nil
}

// SignDigest signs a 32-byte message that is not a transfer (a binding of
// the account to a ppstore identity): the digest is reduced modulo BN254's
// scalar field and signed as a transfer's message is.
func (k *PrivateKey) SignDigest(digest [32]byte) ([SignatureSize]byte, error) {
	var e fr.Element
	e.SetBytes(digest[:])
	m := e.Bytes()
	var out [SignatureSize]byte
	sig, err := k.k.Sign(m[:], &sigHasher{})
	if err != nil {
		return out, fmt.Errorf("rollup: sign: %w", err)
	}
	copy(out[:], sig)
	return out, nil
}

// VerifyDigest checks a SignDigest signature. Errors wrap ErrBadSignature or
// ErrMalformed.
func (p PublicKey) VerifyDigest(digest [32]byte, sig [SignatureSize]byte) error {
	pk, err := p.point()
	if err != nil {
		return err
	}
	var e fr.Element
	e.SetBytes(digest[:])
	m := e.Bytes()
	ok, err := pk.Verify(sig[:], m[:], &sigHasher{})
	if err != nil || !ok {
		return fmt.Errorf("%w: digest signature", ErrBadSignature)
	}
	return nil
}
