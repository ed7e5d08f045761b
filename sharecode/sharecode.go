// Package sharecode owns ppstore's share codes: the capability a file's
// owner signs to let others read it (the grant), the compact text code that
// carries a grant and the file key, and the signed revocation that withdraws
// a grant. It checks signatures, expiry and the peer a grant is for; it does
// not fetch files, and it does not decide who owns a file (miners do).
//
// # Grant (what a miner sees)
//
// A grant is encoded canonically, integers big-endian:
//
//	+-----+-------+---------+-------+-----------+---------+---------+-------------+---------+
//	| ver | flags | expires | nonce | owner key | cid len | file CID| to key      | key hash|
//	+-----+-------+---------+-------+-----------+---------+---------+-------------+---------+
//	   1      1        8       16        32          1      cid len  32 if flag 1  32 if flag 2
//	followed by the owner's ed25519 signature (64) over
//	"ppstore/share/v1\x00" ‖ the bytes above.
//
//	ver      1
//	flags    bit 0: "to" is present (only that peer may use the grant)
//	         bit 1: the file is private: a key hash is present
//	expires  unix seconds; 0: never
//	nonce    16 random bytes, so two codes for one file can be revoked apart
//	key hash filecrypt.KeyHash(file key): names the key without revealing it
//
// The grant's ID (what a revocation names) is SHA256 of its signed bytes.
//
// # Code (what a person copies)
//
// The binary code is the grant with the file key (32 bytes) in place of the
// key hash, then a 4-byte checksum, the first bytes of SHA256 of everything
// before it. Its text form is "pps1" followed by the binary in lower-case
// base32 without padding (RFC 4648), which survives copying, case changes and
// line wrapping. A mistyped or altered character fails the checksum; an
// altered code whose checksum was recomputed fails the signature.
//
// # Revocation
//
//	"ppstore/unshare/v1\x00" ‖ owner key (32) ‖ grant ID (32) ‖ expires (8)
//
// signed by the owner; expires is the grant's, after which the revocation
// may be forgotten.
package sharecode

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/filecrypt"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/wire"
)

// Prefix starts every share code's text form.
const Prefix = "pps1"

const (
	version    = 1
	flagTo     = 1 << 0
	flagKey    = 1 << 1
	grantSig   = "ppstore/share/v1\x00"
	revokeSig  = "ppstore/unshare/v1\x00"
	checksumN  = 4
	maxCIDLen  = 128
	sigLen     = ed25519.SignatureSize
	keyLen     = ed25519.PublicKeySize
	headLen    = 1 + 1 + 8 + 16 + keyLen + 1
	revokeBody = keyLen + 32 + 8
)

var (
	// ErrMalformed reports bytes or text that are not a share code, grant or revocation.
	ErrMalformed = errors.New("sharecode: malformed")
	// ErrChecksum reports a code whose checksum does not match: a character
	// was mistyped, lost or altered.
	ErrChecksum = errors.New("share code is altered or mistyped (checksum mismatch): copy it again")
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// Grant is the signed capability of a share code, without the file key.
type Grant struct {
	Owner   identity.PeerID
	File    cid.Cid
	To      identity.PeerID // zero: any holder of the code
	Expires uint64          // unix seconds; 0: never
	Nonce   [16]byte
	Private bool     // the file is private; KeyHash names its key
	KeyHash [32]byte // filecrypt.KeyHash of the file key, if Private
	Sig     []byte
}

// body appends the grant's fields; with key non-nil, the key replaces the key hash.
func (g *Grant) body(b []byte, key []byte) []byte {
	var flags byte
	if !g.To.IsZero() {
		flags |= flagTo
	}
	if g.Private {
		flags |= flagKey
	}
	b = append(b, version, flags)
	b = binary.BigEndian.AppendUint64(b, g.Expires)
	b = append(b, g.Nonce[:]...)
	b = append(b, g.Owner.PublicKey()...)
	fb := g.File.Bytes()
	b = append(b, byte(len(fb)))
	b = append(b, fb...)
	if !g.To.IsZero() {
		b = append(b, g.To.PublicKey()...)
	}
	if g.Private {
		if key != nil {
			b = append(b, key...)
		} else {
			b = append(b, g.KeyHash[:]...)
		}
	}
	return b
}

// SigningBytes is what the owner signs.
func (g *Grant) SigningBytes() []byte { return g.body([]byte(grantSig), nil) }

// ID names the grant in revocations: SHA256 of its signing bytes.
func (g *Grant) ID() [32]byte { return sha256.Sum256(g.SigningBytes()) }

// Encode returns the grant's canonical bytes (what a miner is sent).
func (g *Grant) Encode() []byte { return append(g.body(nil, nil), g.Sig...) }

// Verify checks the owner's signature.
func (g *Grant) Verify() error {
	if g.Owner.IsZero() || !g.Owner.Verify(g.SigningBytes(), g.Sig) {
		return wire.Errorf(wire.CodeShareForged, "share code for %v: the signature does not verify (the code was altered, or not signed by %v)", g.File, g.Owner.Short())
	}
	return nil
}

// Check reports whether peer may use the grant at now: not expired, and
// issued to peer if issued to anyone. It does not check the signature.
func (g *Grant) Check(now time.Time, peer identity.PeerID) error {
	if g.Expires != 0 && uint64(now.Unix()) >= g.Expires {
		return wire.Errorf(wire.CodeShareExpired, "share code for %v expired at %v: ask its owner %v for a new one",
			g.File, time.Unix(int64(g.Expires), 0).UTC().Format(time.RFC3339), g.Owner.Short())
	}
	if !g.To.IsZero() && g.To != peer {
		return wire.Errorf(wire.CodeShareDenied, "share code for %v was issued to peer %v, not to %v", g.File, g.To, peer)
	}
	return nil
}

// parse reads a grant (withKey: a code's body, with the key in place of
// the key hash) from b and returns what follows it.
func parse(b []byte, withKey bool) (*Grant, []byte, []byte, error) {
	bad := func(what string) (*Grant, []byte, []byte, error) {
		return nil, nil, nil, fmt.Errorf("%w: %s", ErrMalformed, what)
	}
	if len(b) < headLen {
		return bad("too short")
	}
	if b[0] != version {
		return bad(fmt.Sprintf("version %d, this client reads %d", b[0], version))
	}
	flags := b[1]
	if flags&^(flagTo|flagKey) != 0 {
		return bad("unknown flags")
	}
	g := &Grant{Expires: binary.BigEndian.Uint64(b[2:]), Private: flags&flagKey != 0}
	copy(g.Nonce[:], b[10:26])
	g.Owner = identity.IDFromPublicKey(bytes.Clone(b[26 : 26+keyLen]))
	n := int(b[headLen-1])
	rest := b[headLen:]
	if n == 0 || n > maxCIDLen || len(rest) < n {
		return bad("file CID length")
	}
	k, c, err := cid.CidFromBytes(rest[:n])
	if err != nil || k != n || c.Version() != 1 {
		return bad("file CID")
	}
	g.File = c
	rest = rest[n:]
	if flags&flagTo != 0 {
		if len(rest) < keyLen {
			return bad("peer")
		}
		g.To = identity.IDFromPublicKey(bytes.Clone(rest[:keyLen]))
		rest = rest[keyLen:]
	}
	var key []byte
	if g.Private {
		if len(rest) < 32 {
			return bad("key")
		}
		if withKey {
			key = bytes.Clone(rest[:32])
			g.KeyHash = filecrypt.KeyHash(key)
		} else {
			copy(g.KeyHash[:], rest)
		}
		rest = rest[32:]
	}
	if len(rest) < sigLen {
		return bad("signature")
	}
	g.Sig = bytes.Clone(rest[:sigLen])
	return g, key, rest[sigLen:], nil
}

// ParseGrant decodes a grant's canonical bytes (it does not verify the
// signature). Errors wrap ErrMalformed.
func ParseGrant(b []byte) (*Grant, error) {
	g, _, rest, err := parse(b, false)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(rest))
	}
	return g, nil
}

// Code is a grant and, for a private file, its key: what `ppstore share` prints.
type Code struct {
	Grant
	Key []byte // the file key (filecrypt.KeySize bytes) for a private file, else nil
}

// Options are the optional parts of a new code.
type Options struct {
	Expires time.Time       // zero: never
	To      identity.PeerID // zero: any holder
}

// New signs a code for file with the owner's key. fileKey is the file's key
// for a private file, nil for a public one.
func New(owner *identity.Key, file cid.Cid, fileKey []byte, o Options) (*Code, error) {
	if !file.Defined() || len(file.Bytes()) > maxCIDLen {
		return nil, fmt.Errorf("sharecode: bad file CID %v", file)
	}
	c := &Code{Grant: Grant{Owner: owner.ID(), File: file, To: o.To}}
	if !o.Expires.IsZero() {
		if o.Expires.Unix() <= 0 {
			return nil, fmt.Errorf("sharecode: expiry %v is before 1970", o.Expires)
		}
		c.Expires = uint64(o.Expires.Unix())
	}
	if fileKey != nil {
		if len(fileKey) != filecrypt.KeySize {
			return nil, fmt.Errorf("sharecode: file key of %d bytes, want %d", len(fileKey), filecrypt.KeySize)
		}
		c.Private, c.Key, c.KeyHash = true, bytes.Clone(fileKey), filecrypt.KeyHash(fileKey)
	}
	if _, err := rand.Read(c.Nonce[:]); err != nil {
		return nil, fmt.Errorf("sharecode: nonce: %w", err)
	}
	c.Sig = owner.Sign(c.SigningBytes())
	return c, nil
}

// Binary returns the code's binary form, checksum included.
func (c *Code) Binary() []byte {
	b := append(c.body(nil, c.Key), c.Sig...)
	sum := sha256.Sum256(b)
	return append(b, sum[:checksumN]...)
}

// String returns the code's text form.
func (c *Code) String() string { return Prefix + strings.ToLower(b32.EncodeToString(c.Binary())) }

// IsCode reports whether s looks like a share code (rather than a CID).
func IsCode(s string) bool {
	return len(s) > len(Prefix) && strings.EqualFold(strings.TrimSpace(s)[:len(Prefix)], Prefix)
}

// Parse reads a code's text form, ignoring case and white space, and checks
// its checksum and signature. It does not check expiry or the peer (Check)
// nor revocation (the miners do). Errors: ErrMalformed, ErrChecksum, or
// wire.ErrShareForged.
func Parse(s string) (*Code, error) {
	s = strings.Join(strings.Fields(s), "")
	if !IsCode(s) {
		return nil, fmt.Errorf("%w: a share code starts with %q", ErrMalformed, Prefix)
	}
	b, err := b32.DecodeString(strings.ToUpper(s[len(Prefix):]))
	if err != nil {
		return nil, fmt.Errorf("%w (%v): copy it again", ErrChecksum, err)
	}
	if !strings.EqualFold(b32.EncodeToString(b), s[len(Prefix):]) {
		return nil, fmt.Errorf("%w (stray bits in the last character): copy it again", ErrChecksum)
	}
	if len(b) < checksumN {
		return nil, fmt.Errorf("%w: too short", ErrMalformed)
	}
	body, sum := b[:len(b)-checksumN], b[len(b)-checksumN:]
	if want := sha256.Sum256(body); !bytes.Equal(want[:checksumN], sum) {
		return nil, ErrChecksum
	}
	g, key, rest, err := parse(body, true)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(rest))
	}
	if err := g.Verify(); err != nil {
		return nil, err
	}
	return &Code{Grant: *g, Key: key}, nil
}

// Revocation withdraws a grant. Only the grant's owner can sign one.
type Revocation struct {
	Owner   identity.PeerID
	Grant   [32]byte // the grant's ID
	Expires uint64   // the grant's expiry: after it the revocation may be dropped
	Sig     []byte
}

// Revoke signs a revocation of g with the owner's key.
func Revoke(owner *identity.Key, g *Grant) (*Revocation, error) {
	if owner.ID() != g.Owner {
		return nil, wire.Errorf(wire.CodeUnauthorized, "only the code's owner %v can revoke it; this identity is %v", g.Owner, owner.ID())
	}
	r := &Revocation{Owner: g.Owner, Grant: g.ID(), Expires: g.Expires}
	r.Sig = owner.Sign(r.SigningBytes())
	return r, nil
}

// SigningBytes is what the owner signs.
func (r *Revocation) SigningBytes() []byte {
	b := append([]byte(revokeSig), r.Owner.PublicKey()...)
	b = append(b, r.Grant[:]...)
	return binary.BigEndian.AppendUint64(b, r.Expires)
}

// Encode returns the revocation's bytes: its signed body and signature.
func (r *Revocation) Encode() []byte { return append(r.SigningBytes()[len(revokeSig):], r.Sig...) }

// ParseRevocation decodes and verifies a revocation.
func ParseRevocation(b []byte) (*Revocation, error) {
	if len(b) != revokeBody+sigLen {
		return nil, fmt.Errorf("%w: revocation of %d bytes, want %d", ErrMalformed, len(b), revokeBody+sigLen)
	}
	r := &Revocation{Owner: identity.IDFromPublicKey(bytes.Clone(b[:keyLen]))}
	copy(r.Grant[:], b[keyLen:])
	r.Expires = binary.BigEndian.Uint64(b[keyLen+32:])
	r.Sig = bytes.Clone(b[revokeBody:])
	if !r.Owner.Verify(r.SigningBytes(), r.Sig) {
		return nil, wire.Errorf(wire.CodeShareForged, "revocation of grant %x: bad signature of %v", r.Grant[:6], r.Owner.Short())
	}
	return r, nil
}
