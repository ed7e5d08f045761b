package proofs

import (
	"errors"
	"fmt"
)

var (
	// ErrBadParams reports parameters, sizes or ranges that cannot be used.
	ErrBadParams = errors.New("proofs: bad parameters")
	// ErrMalformed reports a proof encoding that does not parse.
	ErrMalformed = errors.New("proofs: malformed proof encoding")
	// ErrInvalid reports a proof that parses but does not prove what it
	// claims (a wrong leaf, a wrong Merkle path, a replica that does not
	// unseal to the data). Every *ProofError is ErrInvalid.
	ErrInvalid = errors.New("proofs: invalid proof")
	// ErrStale reports a PoSt response for another round than the one
	// asked (a replayed response).
	ErrStale = errors.New("proofs: response for another round")
	// ErrLate reports a PoSt response received after the round's deadline.
	ErrLate = errors.New("proofs: response after the deadline")
	// ErrNotProver reports a response from a miner for a replica it does
	// not hold (another miner's replica).
	ErrNotProver = errors.New("proofs: replica belongs to another miner")
)

// ProofError says which part of a proof failed. It is ErrInvalid.
type ProofError struct {
	Replica ReplicaID // the replica whose proof failed
	Index   int       // the challenge (PoRep: piece; PoSt: opening) that failed
	Reason  string    // what did not check, in a reader's words
}

func (e *ProofError) Error() string {
	return fmt.Sprintf("proofs: invalid proof for replica %s, challenge %d: %s", e.Replica.String()[:16], e.Index, e.Reason)
}

// Is makes every ProofError match ErrInvalid.
func (e *ProofError) Is(target error) bool { return target == ErrInvalid }
