package wire

import (
	"errors"
	"fmt"
)

// Code classifies an error that crosses the network.
type Code uint16

const (
	CodeInternal     Code = 1  // the remote failed; try another node or later
	CodeBadRequest   Code = 2  // the request was malformed or invalid
	CodeNotFound     Code = 3  // the named object is unknown
	CodeCorrupt      Code = 4  // bytes did not match their hash
	CodeNoSpace      Code = 5  // the node's disk or quota is full
	CodeUnauthorized Code = 6  // signature, owner or capability check failed
	CodeTooLarge     Code = 7  // a message or object exceeds a limit
	CodeUnavailable  Code = 8  // not enough live nodes, or the node is shutting down
	CodeVersion      Code = 9  // unsupported protocol version
	CodeDeadline     Code = 10 // the request ran out of time
	CodeConflict     Code = 11 // the request contradicts stored state
	CodeSkipped      Code = 12 // not attempted: an earlier hop of a chain failed
)

var codeNames = map[Code]string{
	CodeInternal: "internal", CodeBadRequest: "bad request", CodeNotFound: "not found",
	CodeCorrupt: "corrupt data", CodeNoSpace: "no space", CodeUnauthorized: "unauthorized",
	CodeTooLarge: "too large", CodeUnavailable: "unavailable", CodeVersion: "unsupported version",
	CodeDeadline: "deadline exceeded", CodeConflict: "conflict", CodeSkipped: "skipped",
}

func (c Code) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("code %d", uint16(c))
}

// Error is an error with a code. It is also the message (TypeError) that
// carries errors across the wire, so a remote error arrives as an *Error that
// matches the sentinels below with errors.Is.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code.String()
	}
	return e.Code.String() + ": " + e.Message
}

// Is matches any *Error with the same code, so errors.Is(err, wire.ErrNotFound)
// holds for a remote not-found error whatever its message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinels, one per code.
var (
	ErrInternal     = &Error{Code: CodeInternal}
	ErrBadRequest   = &Error{Code: CodeBadRequest}
	ErrNotFound     = &Error{Code: CodeNotFound}
	ErrCorrupt      = &Error{Code: CodeCorrupt}
	ErrNoSpace      = &Error{Code: CodeNoSpace}
	ErrUnauthorized = &Error{Code: CodeUnauthorized}
	ErrTooLarge     = &Error{Code: CodeTooLarge}
	ErrUnavailable  = &Error{Code: CodeUnavailable}
	ErrVersion      = &Error{Code: CodeVersion}
	ErrDeadline     = &Error{Code: CodeDeadline}
	ErrConflict     = &Error{Code: CodeConflict}
	ErrSkipped      = &Error{Code: CodeSkipped}
)

// Errorf makes an *Error with a code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ToError converts any error into an *Error for sending: an *Error anywhere in
// the chain keeps its code; ErrMalformed becomes CodeBadRequest; everything else
// becomes CodeInternal with the error's text.
func ToError(err error) *Error {
	var we *Error
	if errors.As(err, &we) {
		if we.Message == "" {
			return &Error{Code: we.Code, Message: err.Error()}
		}
		return we
	}
	if errors.Is(err, ErrMalformed) {
		return &Error{Code: CodeBadRequest, Message: err.Error()}
	}
	return &Error{Code: CodeInternal, Message: err.Error()}
}

func (e *Error) Type() Type { return TypeError }
func (e *Error) Append(b []byte) []byte {
	en := Enc{B: b}
	en.U16(uint16(e.Code))
	en.String(e.Message)
	return en.B
}
func (e *Error) Decode(b []byte) error {
	d := NewDec(b)
	e.Code = Code(d.U16())
	e.Message = d.String()
	return d.Finish()
}
