package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/identity"
)

// ErrMalformed reports bytes that do not decode as the message they claim to be.
var ErrMalformed = errors.New("wire: malformed message")

// Enc appends canonical encodings to a byte slice.
type Enc struct{ B []byte }

func (e *Enc) U8(v uint8)   { e.B = append(e.B, v) }
func (e *Enc) U16(v uint16) { e.B = binary.BigEndian.AppendUint16(e.B, v) }
func (e *Enc) U32(v uint32) { e.B = binary.BigEndian.AppendUint32(e.B, v) }
func (e *Enc) U64(v uint64) { e.B = binary.BigEndian.AppendUint64(e.B, v) }
func (e *Enc) Bool(v bool) {
	if v {
		e.U8(1)
	} else {
		e.U8(0)
	}
}
func (e *Enc) Bytes(b []byte)    { e.U32(uint32(len(b))); e.B = append(e.B, b...) }
func (e *Enc) String(s string)   { e.U32(uint32(len(s))); e.B = append(e.B, s...) }
func (e *Enc) Digest(d [32]byte) { e.B = append(e.B, d[:]...) }
func (e *Enc) CID(c cid.Cid) {
	if !c.Defined() {
		e.Bytes(nil)
		return
	}
	e.Bytes(c.Bytes())
}
func (e *Enc) Peer(p identity.PeerID) { e.Bytes(p.Bytes()) }

// Dec reads canonical encodings; the first error sticks and later reads return zero values.
type Dec struct {
	b   []byte
	err error
}

// NewDec returns a decoder over b.
func NewDec(b []byte) *Dec { return &Dec{b: b} }

// Err returns the first error met.
func (d *Dec) Err() error { return d.err }

// Fail records err (wrapped in ErrMalformed) unless an error is already recorded.
func (d *Dec) Fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	d.b = nil
}

// Finish returns the first error, or an error if bytes remain.
func (d *Dec) Finish() error {
	if d.err == nil && len(d.b) != 0 {
		d.Fail("%d trailing bytes", len(d.b))
	}
	return d.err
}

func (d *Dec) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.Fail("%s: need %d bytes, have %d", what, n, len(d.b))
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *Dec) U8() uint8 {
	if v := d.take(1, "u8"); v != nil {
		return v[0]
	}
	return 0
}
func (d *Dec) U16() uint16 {
	if v := d.take(2, "u16"); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}
func (d *Dec) U32() uint32 {
	if v := d.take(4, "u32"); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}
func (d *Dec) U64() uint64 {
	if v := d.take(8, "u64"); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}
func (d *Dec) Bool() bool {
	switch d.U8() {
	case 0:
		return false
	case 1:
		return true
	default:
		d.Fail("bool out of range")
		return false
	}
}

// Bytes reads a length-prefixed byte string (aliasing the input).
func (d *Dec) Bytes() []byte {
	n := d.U32()
	return d.take(int(n), "bytes")
}

// String reads a length-prefixed UTF-8 string.
func (d *Dec) String() string {
	b := d.Bytes()
	if !utf8.Valid(b) {
		d.Fail("string is not UTF-8")
		return ""
	}
	return string(b)
}

// Digest reads 32 raw bytes.
func (d *Dec) Digest() (out [32]byte) {
	copy(out[:], d.take(32, "digest"))
	return out
}

// Count reads a list length and checks that at least min bytes per element remain.
func (d *Dec) Count(minElem int) int {
	n := d.U32()
	if d.err != nil {
		return 0
	}
	if minElem < 1 {
		minElem = 1
	}
	if uint64(n)*uint64(minElem) > uint64(len(d.b)) {
		d.Fail("list of %d elements cannot fit in %d bytes", n, len(d.b))
		return 0
	}
	return int(n)
}

// CID reads a CID; an empty byte string is the undefined CID.
func (d *Dec) CID() cid.Cid {
	b := d.Bytes()
	if d.err != nil || len(b) == 0 {
		return cid.Undef
	}
	n, c, err := cid.CidFromBytes(b)
	if err != nil || n != len(b) || c.Version() != 1 {
		d.Fail("bad CID")
		return cid.Undef
	}
	return c
}

// Peer reads a peer ID; an empty byte string is the zero PeerID.
func (d *Dec) Peer() identity.PeerID {
	b := d.Bytes()
	if d.err != nil || len(b) == 0 {
		return identity.PeerID{}
	}
	p, err := identity.IDFromBytes(b)
	if err != nil {
		d.Fail("bad peer ID")
		return identity.PeerID{}
	}
	return p
}

// StringList reads a list of strings.
func (d *Dec) StringList() []string {
	n := d.Count(4)
	var out []string
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, d.String())
	}
	return out
}

// StringList appends a list of strings.
func (e *Enc) StringList(ss []string) {
	e.U32(uint32(len(ss)))
	for _, s := range ss {
		e.String(s)
	}
}
