// Package filecrypt encrypts a private file on the client before it is
// sharded, with a chunked, seekable AEAD (AES-256-GCM), and decrypts it
// whole (a get) or by ranges (a ranged read or a player's seek). It owns the
// encrypted layout and the file key's derivation; it knows nothing of shards,
// miners or share codes.
//
// # Layout
//
// The bytes that are sharded (the "ciphertext") are a header and the chunks:
//
//	+--------+-----------+-----------+--------+---------+-----+-------------+
//	| "PPE1" | chunk u32 | salt (32) | chunk 0 | chunk 1 | ... | chunk n-1   |
//	+--------+-----------+-----------+--------+---------+-----+-------------+
//	    4         4           32       chunk+16  chunk+16       ≤ chunk+16
//
//	chunk     plaintext bytes per chunk (ChunkSize = 65520, so that a sealed
//	          chunk is 64 KiB); big-endian
//	salt      32 random bytes, fresh for every file
//	chunk i   AES-256-GCM seal of plaintext bytes [i*chunk, (i+1)*chunk) with
//	          nonce(i) and the 40-byte header as additional data
//	nonce(i)  u64 BE i ‖ u32 BE (1 for the last chunk, 0 otherwise)
//
// A file always has at least one chunk (an empty file has one empty chunk),
// and only the last chunk may be short. The last-chunk bit in the nonce makes
// a truncated or extended stream fail to open (the STREAM construction of
// Hoang, Reyhanitabar, Rogaway and Vizár, "Online Authenticated-Encryption and
// its Nonce-Reuse Misuse-Resistance", CRYPTO 2015).
//
// # Keys and nonces
//
// Every file has its own key. The owner's key for a file is
// HKDF-SHA256(ikm = the owner's ed25519 seed, salt = the header's salt,
// info = "ppstore/file-key/v1"), so the owner needs nothing but their identity
// to read their own files, and a share code carries the file key (never the
// seed). Because a key seals exactly one file, and each chunk index is sealed
// once in it, the nonce derived from the chunk index is never reused under a
// key. Nonces need no randomness: chunk i of one file is always sealed with
// nonce(i), which is what makes ranged decryption possible.
package filecrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

const (
	// Magic starts every encrypted file.
	Magic = "PPE1"
	// HeaderSize is the size of the header in bytes.
	HeaderSize = 4 + 4 + 32
	// Overhead is what sealing adds to a chunk (the GCM tag).
	Overhead = 16
	// ChunkSize is the plaintext bytes per chunk: a sealed chunk is 64 KiB.
	ChunkSize = 64<<10 - Overhead
	// KeySize is the size of a file key (AES-256).
	KeySize = 32
	// SaltSize is the size of the salt in the header.
	SaltSize = 32

	keyInfo = "ppstore/file-key/v1"
)

var (
	// ErrNotEncrypted reports bytes that do not start with an encrypted header.
	ErrNotEncrypted = errors.New("filecrypt: not an encrypted file (bad header)")
	// ErrDecrypt reports a chunk that does not open with the key: a wrong key
	// (not the owner's, or a code for another file) or altered bytes.
	ErrDecrypt = errors.New("filecrypt: cannot decrypt: wrong key or altered data")
	// ErrTruncated reports a stream that ends before its last chunk.
	ErrTruncated = errors.New("filecrypt: encrypted file is truncated")
)

// Header is the clear part of an encrypted file.
type Header struct {
	Chunk uint32         // plaintext bytes per chunk
	Salt  [SaltSize]byte // input of the owner's key derivation
}

// NewHeader returns a header with a fresh random salt and the default chunk size.
func NewHeader() (Header, error) {
	h := Header{Chunk: ChunkSize}
	if _, err := rand.Read(h.Salt[:]); err != nil {
		return h, fmt.Errorf("filecrypt: salt: %w", err)
	}
	return h, nil
}

// Encode returns the header's 40 bytes.
func (h Header) Encode() []byte {
	b := make([]byte, 0, HeaderSize)
	b = append(b, Magic...)
	b = binary.BigEndian.AppendUint32(b, h.Chunk)
	return append(b, h.Salt[:]...)
}

// ParseHeader parses the first HeaderSize bytes of an encrypted file.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderSize || string(b[:4]) != Magic {
		return h, ErrNotEncrypted
	}
	h.Chunk = binary.BigEndian.Uint32(b[4:])
	if h.Chunk < 1 || h.Chunk > 16<<20 {
		return h, fmt.Errorf("%w: chunk size %d", ErrNotEncrypted, h.Chunk)
	}
	copy(h.Salt[:], b[8:HeaderSize])
	return h, nil
}

// OwnerKey derives the owner's key for the file with header h from the
// owner's ed25519 seed (see the package doc).
func OwnerKey(seed []byte, h Header) ([]byte, error) {
	return hkdf.Key(sha256.New, seed, h.Salt[:], keyInfo, KeySize)
}

// KeyHash is a commitment to a file key that reveals nothing of it (the key
// is 256 random bits): SHA256("ppstore/file-key-hash/v1\x00" ‖ key). Share
// codes sign it, so the capability a miner sees names the key without holding it.
func KeyHash(key []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte("ppstore/file-key-hash/v1\x00"))
	h.Write(key)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// CipherSize is the encrypted size of a plaintext of plain bytes with chunk size chunk.
func CipherSize(plain int64, chunk uint32) int64 {
	n := max(1, (plain+int64(chunk)-1)/int64(chunk))
	return HeaderSize + plain + n*Overhead
}

// PlainSize is the plaintext size of an encrypted file of cipher bytes, or
// an error if no plaintext encrypts to that size.
func PlainSize(cipher int64, chunk uint32) (int64, error) {
	body := cipher - HeaderSize
	sealed := int64(chunk) + Overhead
	n := (body + sealed - 1) / sealed
	if body < Overhead || body-n*sealed+sealed < Overhead {
		return 0, fmt.Errorf("%w: %d bytes is no encrypted size", ErrTruncated, cipher)
	}
	return body - n*Overhead, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("filecrypt: key of %d bytes, want %d", len(key), KeySize)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func nonce(i int64, last bool) []byte {
	n := make([]byte, 12)
	binary.BigEndian.PutUint64(n, uint64(i))
	if last {
		n[11] = 1
	}
	return n
}

// Encrypter reads a plaintext and yields its encrypted layout.
type Encrypter struct {
	r      io.Reader
	aead   cipher.AEAD
	hdr    []byte
	chunk  int
	next   int64  // index of the next chunk to seal
	buf    []byte // sealed bytes not yet read
	ahead  []byte // plaintext read ahead to find the last chunk
	done   bool
	err    error
	plain  []byte
	sealed []byte // the array buf points into once the header is read
}

// NewEncrypter returns a reader of r's bytes encrypted with key under header h.
func NewEncrypter(r io.Reader, key []byte, h Header) (*Encrypter, error) {
	a, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	hdr := h.Encode()
	return &Encrypter{r: r, aead: a, hdr: hdr, chunk: int(h.Chunk), buf: append([]byte(nil), hdr...)}, nil
}

// Read implements io.Reader.
func (e *Encrypter) Read(p []byte) (int, error) {
	for len(e.buf) == 0 {
		if e.err != nil {
			return 0, e.err
		}
		if e.done {
			return 0, io.EOF
		}
		e.sealNext()
	}
	n := copy(p, e.buf)
	e.buf = e.buf[n:]
	return n, nil
}

// sealNext reads one chunk (and one byte past it, to know whether it is the
// last) and seals it into buf.
func (e *Encrypter) sealNext() {
	if e.plain == nil {
		e.plain = make([]byte, e.chunk+1)
	}
	// e.plain[:len(e.ahead)] holds the byte read ahead last time.
	n := copy(e.plain, e.ahead)
	m, err := io.ReadFull(e.r, e.plain[n:])
	n += m
	last := false
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		last = true
	case err != nil:
		e.err = fmt.Errorf("filecrypt: reading plaintext: %w", err)
		return
	}
	body := e.plain[:min(n, e.chunk)]
	if !last {
		e.ahead = append(e.ahead[:0], e.plain[e.chunk])
	}
	// buf is empty here (Read seals only then): its array is reused.
	e.sealed = e.aead.Seal(e.sealed[:0], nonce(e.next, last), body, e.hdr)
	e.buf = e.sealed
	e.next++
	e.done = last
}

// DecryptWriter takes an encrypted file's bytes in order and writes the
// plaintext to w, a chunk at a time. Close checks that the last chunk came.
type DecryptWriter struct {
	w      io.Writer
	keyFor func(Header) ([]byte, error)
	aead   cipher.AEAD
	hdr    []byte
	sealed int   // bytes per sealed chunk
	next   int64 // index of the next chunk
	buf    []byte
	out    []byte
	closed bool
}

// NewDecryptWriter returns a writer that decrypts into w; keyFor gives the
// key once the header is known (the owner derives it from the salt).
func NewDecryptWriter(w io.Writer, keyFor func(Header) ([]byte, error)) *DecryptWriter {
	return &DecryptWriter{w: w, keyFor: keyFor}
}

// Write implements io.Writer. A chunk is opened only once the byte after it
// has arrived (or at Close), since only the last chunk is sealed as last.
func (d *DecryptWriter) Write(p []byte) (int, error) {
	d.buf = append(d.buf, p...)
	if d.aead == nil {
		if len(d.buf) < HeaderSize {
			return len(p), nil
		}
		if err := d.start(); err != nil {
			return 0, err
		}
	}
	for len(d.buf) > d.sealed {
		if err := d.open(d.buf[:d.sealed], false); err != nil {
			return 0, err
		}
		d.buf = d.buf[d.sealed:]
	}
	// Keep the buffer from growing without bound while bytes come in.
	if cap(d.buf) > 4*d.sealed && len(d.buf) <= d.sealed {
		d.buf = append(make([]byte, 0, 2*d.sealed), d.buf...)
	}
	return len(p), nil
}

func (d *DecryptWriter) start() error {
	h, err := ParseHeader(d.buf)
	if err != nil {
		return err
	}
	key, err := d.keyFor(h)
	if err != nil {
		return err
	}
	if d.aead, err = newAEAD(key); err != nil {
		return err
	}
	d.hdr = append([]byte(nil), d.buf[:HeaderSize]...)
	d.sealed = int(h.Chunk) + Overhead
	d.buf = d.buf[HeaderSize:]
	return nil
}

func (d *DecryptWriter) open(sealed []byte, last bool) error {
	var err error
	d.out, err = d.aead.Open(d.out[:0], nonce(d.next, last), sealed, d.hdr)
	if err != nil {
		return fmt.Errorf("%w (chunk %d)", ErrDecrypt, d.next)
	}
	d.next++
	if _, err := d.w.Write(d.out); err != nil {
		return err
	}
	return nil
}

// Close opens the last chunk; it reports a stream that stopped early.
func (d *DecryptWriter) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	if d.aead == nil {
		if len(d.buf) < HeaderSize {
			return ErrTruncated
		}
		if err := d.start(); err != nil {
			return err
		}
	}
	if len(d.buf) < Overhead {
		return ErrTruncated
	}
	if err := d.open(d.buf, true); err != nil {
		return err
	}
	return nil
}

// ReaderAt decrypts ranges of an encrypted file read from an io.ReaderAt of
// its encrypted bytes: a read opens only the chunks the range touches.
type ReaderAt struct {
	ct     io.ReaderAt
	aead   cipher.AEAD
	hdr    []byte
	chunk  int64
	chunks int64 // number of chunks
	size   int64 // plaintext size
}

// NewReaderAt reads the header of ct (cipherSize bytes in all) and returns a
// plaintext reader. keyFor gives the key for the header.
func NewReaderAt(ct io.ReaderAt, cipherSize int64, keyFor func(Header) ([]byte, error)) (*ReaderAt, error) {
	hb := make([]byte, HeaderSize)
	if _, err := ct.ReadAt(hb, 0); err != nil {
		return nil, fmt.Errorf("filecrypt: reading the header: %w", err)
	}
	h, err := ParseHeader(hb)
	if err != nil {
		return nil, err
	}
	size, err := PlainSize(cipherSize, h.Chunk)
	if err != nil {
		return nil, err
	}
	key, err := keyFor(h)
	if err != nil {
		return nil, err
	}
	a, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	c := int64(h.Chunk)
	return &ReaderAt{ct: ct, aead: a, hdr: hb, chunk: c, size: size, chunks: max(1, (size+c-1)/c)}, nil
}

// Size is the plaintext size.
func (r *ReaderAt) Size() int64 { return r.size }

// CipherRange returns the encrypted byte range [off, off+n) that holds the
// chunks covering plaintext [poff, poff+pn): what a ranged read must fetch.
func (r *ReaderAt) CipherRange(poff, pn int64) (off, n int64) {
	return cipherRange(poff, pn, r.chunk, r.size)
}

func cipherRange(poff, pn, chunk, size int64) (int64, int64) {
	if pn <= 0 || poff >= size {
		return HeaderSize, 0
	}
	first := poff / chunk
	last := (min(poff+pn, size) - 1) / chunk
	sealed := chunk + Overhead
	off := HeaderSize + first*sealed
	end := HeaderSize + last*sealed + min(chunk, size-last*chunk) + Overhead
	return off, end - off
}

// ReadAt implements io.ReaderAt over the plaintext.
func (r *ReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("filecrypt: negative offset")
	}
	if off >= r.size {
		return 0, io.EOF
	}
	done := 0
	sealed := r.chunk + Overhead
	ct := make([]byte, sealed)
	var pt []byte
	for done < len(p) && off < r.size {
		i := off / r.chunk
		plen := min(r.chunk, r.size-i*r.chunk)
		c := ct[:plen+Overhead]
		if _, err := r.ct.ReadAt(c, HeaderSize+i*sealed); err != nil && err != io.EOF {
			return done, err
		}
		var err error
		pt, err = r.aead.Open(pt[:0], nonce(i, i == r.chunks-1), c, r.hdr)
		if err != nil {
			return done, fmt.Errorf("%w (chunk %d)", ErrDecrypt, i)
		}
		n := copy(p[done:], pt[off-i*r.chunk:])
		done += n
		off += int64(n)
	}
	if done < len(p) {
		return done, io.EOF
	}
	return done, nil
}
