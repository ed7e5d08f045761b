package wire

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"
)

// Version is the protocol version written in every frame.
const Version = 1

// HeaderLen is the size of a frame header.
const HeaderLen = 7

// MaxFrame is the default limit on a frame body: one piece of the largest
// allowed size plus room for its proof and fields.
const MaxFrame = 1<<20 + 64<<10

// BigFrame is the limit for the few messages that grow with a file (a
// commit's receipts, a location, a listing): 64 MiB, about 100,000 shards at
// three replicas, a 400 GiB file.
const BigFrame = 64 << 20

// LimitFor returns the body limit for a frame of type t on a node whose limit
// for ordinary messages is limit.
func LimitFor(t Type, limit int) int {
	if limit <= 0 {
		limit = MaxFrame
	}
	switch t {
	case TypeCommit, TypeLocation, TypeFileList:
		return max(limit, BigFrame)
	}
	return limit
}

// Message is one kind of message. Append encodes the body onto b; Decode parses
// a whole body (and may alias it).
type Message interface {
	Type() Type
	Append(b []byte) []byte
	Decode(body []byte) error
}

// AppendFrame appends m as a complete frame.
func AppendFrame(b []byte, m Message) []byte {
	start := len(b)
	b = append(b, Version, 0, 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint16(b[start+1:], uint16(m.Type()))
	b = m.Append(b)
	binary.BigEndian.PutUint32(b[start+3:], uint32(len(b)-start-HeaderLen))
	return b
}

// Tailed is implemented by messages whose body ends with one large byte
// string (a piece). AppendHead appends the body up to and including that
// string's length prefix; Tail returns its bytes. A sender can then write the
// tail from where it lies instead of copying it into the frame.
type Tailed interface {
	Message
	AppendHead(b []byte) []byte
	Tail() []byte
}

// AppendFrameHead appends the frame header and head of m; the frame is
// complete once m.Tail() follows it.
func AppendFrameHead(b []byte, m Tailed) []byte {
	start := len(b)
	b = append(b, Version, 0, 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint16(b[start+1:], uint16(m.Type()))
	b = m.AppendHead(b)
	binary.BigEndian.PutUint32(b[start+3:], uint32(len(b)-start-HeaderLen+len(m.Tail())))
	return b
}

// Header is a parsed frame header.
type Header struct {
	Version uint8
	Type    Type
	Len     uint32
}

// Limits gives the body limit for a frame of each type a reader accepts at
// this point of a protocol; a negative limit refuses the type outright. The
// reader, not the sender's header, decides which types may be big.
type Limits func(Type) int

// Fixed is the same limit for every type.
func Fixed(limit int) Limits { return func(Type) int { return limit } }

// ParseHeader parses and checks a frame header against the body limits.
func ParseHeader(h [HeaderLen]byte, limits Limits) (Header, error) {
	hd := Header{Version: h[0], Type: Type(binary.BigEndian.Uint16(h[1:])), Len: binary.BigEndian.Uint32(h[3:])}
	if hd.Version != Version {
		return hd, Errorf(CodeVersion, "frame version %d, this node speaks %d", hd.Version, Version)
	}
	limit := limits(hd.Type)
	if limit < 0 {
		return hd, Errorf(CodeBadRequest, "unexpected %v frame", hd.Type)
	}
	if int64(hd.Len) > int64(limit) {
		return hd, Errorf(CodeTooLarge, "%v frame of %d bytes exceeds the limit of %d", hd.Type, hd.Len, limit)
	}
	return hd, nil
}

// ReadFrame reads one frame from r into buf (grown as needed) and returns its
// header and body; the header is checked against limits before any body byte
// is read. A clean end of stream before any header byte is io.EOF.
func ReadFrame(r io.Reader, buf []byte, limits Limits) (Header, []byte, error) {
	var h [HeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return Header{}, nil, fmt.Errorf("%w: truncated frame header", ErrMalformed)
		}
		return Header{}, nil, err
	}
	hd, err := ParseHeader(h, limits)
	if err != nil {
		return hd, nil, err
	}
	// The buffer grows as bytes arrive (doubling from 64 KiB), so a header
	// announcing a large frame costs memory only once its bytes come.
	n := int(hd.Len)
	if cap(buf) >= n {
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return hd, nil, truncated(hd, err)
		}
		return hd, buf, nil
	}
	buf = buf[:0]
	for len(buf) < n {
		chunk := min(n-len(buf), max(64<<10, len(buf)))
		buf = slices.Grow(buf, chunk)
		if _, err := io.ReadFull(r, buf[len(buf):len(buf)+chunk]); err != nil {
			return hd, nil, truncated(hd, err)
		}
		buf = buf[:len(buf)+chunk]
	}
	return hd, buf, nil
}

func truncated(hd Header, err error) error {
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return fmt.Errorf("%w: truncated %v body (%d bytes announced)", ErrMalformed, hd.Type, hd.Len)
	}
	return err
}

// Decode parses a frame body as the message its header names.
func Decode(hd Header, body []byte) (Message, error) {
	m, err := New(hd.Type)
	if err != nil {
		return nil, err
	}
	if err := m.Decode(body); err != nil {
		return nil, fmt.Errorf("%v: %w", hd.Type, err)
	}
	return m, nil
}
