// Package wire defines every message that ppstore nodes exchange, their
// framing, and the error codes that cross the network. It owns bytes only: it
// opens no connections (package transport does) and makes no decisions.
//
// Every message travels in one frame:
//
//	+---------+-----------+-------------+----------------------+
//	| version | type      | body length | body                 |
//	| 1 byte  | 2 bytes BE| 4 bytes BE  | body length bytes    |
//	+---------+-----------+-------------+----------------------+
//
// Version is 1. A frame whose body is longer than the reader's limit (default
// MaxFrame) is refused before its body is read. Bodies use a canonical,
// fixed-width encoding so that signed messages have exactly one encoding:
//
//	u8, u16, u32, u64   big-endian fixed width
//	bytes               u32 length, then the bytes
//	string              as bytes, must be valid UTF-8
//	list of T           u32 count, then each T
//	CID                 bytes holding a binary CIDv1
//	peer ID             bytes holding an identity multihash (package identity)
//	digest              32 raw bytes
//
// Decoding is strict: trailing bytes, lengths past the end, counts larger than
// the bytes that could hold them and invalid CIDs or peer IDs are errors
// wrapping ErrMalformed. Decoded byte slices may alias the frame buffer.
package wire
