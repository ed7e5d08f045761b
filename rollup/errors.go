package rollup

import "errors"

// Sentinel errors. Callers test them with errors.Is; the wrapped text says
// which value was wrong.
var (
	// ErrMalformed: bytes (key, proof, batch data, root, transfer) could not
	// be decoded.
	ErrMalformed = errors.New("rollup: malformed input")
	// ErrBadProof: the proof does not verify for these roots and this data.
	ErrBadProof = errors.New("rollup: proof does not verify")
	// ErrBadSignature: a transfer's signature does not verify under the
	// sender's key.
	ErrBadSignature = errors.New("rollup: bad signature")
	// ErrBadNonce: a transfer's nonce is not the sender's next nonce (a
	// replay or a gap).
	ErrBadNonce = errors.New("rollup: wrong nonce")
	// ErrInsufficientBalance: the sender's balance is below the amount, or
	// the receiver's would overflow 64 bits.
	ErrInsufficientBalance = errors.New("rollup: insufficient balance")
	// ErrUnknownAccount: the index names no account.
	ErrUnknownAccount = errors.New("rollup: unknown account")
	// ErrKeyMismatch: the receiver's index holds another key than the
	// transfer names, or the key is already registered at another index.
	ErrKeyMismatch = errors.New("rollup: account key mismatch")
	// ErrWrongRegion: a transfer or batch is for another region.
	ErrWrongRegion = errors.New("rollup: wrong region")
	// ErrTreeFull: no free index left in the account tree.
	ErrTreeFull = errors.New("rollup: account tree full")
	// ErrBadWitness: a batch's witness does not match the state it claims
	// (wrong previous root, a leaf that does not hash to the tree).
	ErrBadWitness = errors.New("rollup: witness does not match the state")
)
