package sidechain

import (
	"errors"
	"fmt"
)

// Codespace names the sidechain's rollup module in ABCI results, so a
// client can tell our codes from CometBFT's own.
const Codespace = "ppstore-rollup"

// ABCI result codes of the rollup module (0 is success). They cross the
// RPC boundary in CheckTx and FinalizeBlock results; the client turns them
// back into the sentinels below with errors.Is identity.
const (
	CodeMalformed     uint32 = 1 // the transaction does not decode
	CodeUnknownRegion uint32 = 2 // no region of that name in the chain's state
	CodeWrongPrevRoot uint32 = 3 // the batch does not start from the region's current root
	CodeBadProof      uint32 = 4 // the batch proof does not verify
	CodeInternal      uint32 = 5 // the node failed; retry on another node
	CodeWrongRegion   uint32 = 6 // the batch data was built for another region
)

var (
	// ErrMalformed reports a transaction or query the chain cannot decode.
	ErrMalformed = &Error{Code: CodeMalformed}
	// ErrUnknownRegion reports a region that is not registered in genesis.
	ErrUnknownRegion = &Error{Code: CodeUnknownRegion}
	// ErrWrongPrevRoot reports a batch whose previous root is not the
	// region's current root: it was built on a stale or foreign state.
	ErrWrongPrevRoot = &Error{Code: CodeWrongPrevRoot}
	// ErrBadProof reports a batch whose proof does not verify against the
	// region's verifying key, roots and transaction data.
	ErrBadProof = &Error{Code: CodeBadProof}
	// ErrWrongRegion reports a batch whose transaction data names another
	// region than the one it was submitted for.
	ErrWrongRegion = &Error{Code: CodeWrongRegion}
	// ErrInternal reports a failure of the node itself.
	ErrInternal = &Error{Code: CodeInternal}
	// ErrNotAccepted reports a root the chain's validators did not sign:
	// the light-client check of a query failed.
	ErrNotAccepted = errors.New("sidechain: root not accepted by the chain")
)

var codeNames = map[uint32]string{
	CodeMalformed:     "malformed transaction",
	CodeUnknownRegion: "unknown region",
	CodeWrongPrevRoot: "wrong previous root",
	CodeBadProof:      "bad batch proof",
	CodeInternal:      "internal error",
	CodeWrongRegion:   "batch for another region",
}

// Error is a rollup module error: an ABCI code and a message for people.
// errors.Is matches on the code alone, so any *Error with CodeBadProof is
// ErrBadProof.
type Error struct {
	Code    uint32
	Message string
}

func (e *Error) Error() string {
	name, ok := codeNames[e.Code]
	if !ok {
		name = fmt.Sprintf("code %d", e.Code)
	}
	if e.Message == "" {
		return "sidechain: " + name
	}
	return "sidechain: " + name + ": " + e.Message
}

// Is reports whether target is an *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

func errorf(code uint32, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// codeOf returns the ABCI code for err (CodeInternal for foreign errors).
func codeOf(err error) uint32 {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// fromResult turns an ABCI result back into an error (nil for code 0).
// Codes of another codespace (CometBFT's own, such as a full mempool) are
// reported as ErrInternal with their log.
func fromResult(codespace string, code uint32, log string) error {
	if code == 0 {
		return nil
	}
	if codespace != Codespace {
		return &Error{Code: CodeInternal, Message: fmt.Sprintf("%s code %d: %s", codespace, code, log)}
	}
	return &Error{Code: code, Message: log}
}
