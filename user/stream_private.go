package user

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ppstore/ppstore/filecrypt"
)

// A private file's bytes at the miners are its ciphertext (filecrypt's
// layout: a 40-byte header, then sealed chunks of 64 KiB). A player wants the
// plaintext: PlainRange maps a plaintext range to the chunks that hold it,
// reads them through one ciphertext Range (so read-ahead and urgency-first
// work as for a public file) and opens each chunk as it arrives. Nothing
// outside those chunks is fetched or decrypted.

// readHeader reads and keeps a private file's encryption header.
func (s *Stream) readHeader(ctx context.Context) error {
	rr := s.Range(ctx, 0, filecrypt.HeaderSize)
	defer rr.Close()
	hdr := make([]byte, filecrypt.HeaderSize)
	if _, err := io.ReadFull(rr, hdr); err != nil {
		return fmt.Errorf("reading the encryption header of %s: %w", s.st.CID, err)
	}
	if _, err := filecrypt.ParseHeader(hdr); err != nil {
		return err
	}
	s.hdr = hdr
	return nil
}

// Private reports whether the file is encrypted (PlainSize and PlainRange
// then decrypt).
func (s *Stream) Private() bool { return s.hdr != nil }

// PlainSize is the size a player sees: the plaintext's for a private file,
// else Size.
func (s *Stream) PlainSize() int64 {
	if s.hdr == nil {
		return s.m.Size
	}
	h, _ := filecrypt.ParseHeader(s.hdr)
	n, err := filecrypt.PlainSize(s.m.Size, h.Chunk)
	if err != nil {
		return 0
	}
	return n
}

// PlainRange is Range over what a player sees: for a private file, the
// plaintext bytes [off, off+n), decrypted with the key of the stream's
// access (or this identity's, as the owner). Reads fail with ErrNoKey when
// the key does not open the file, filecrypt.ErrDecrypt when a chunk does not
// open with the right key.
func (s *Stream) PlainRange(ctx context.Context, off, n int64) io.ReadCloser {
	if s.hdr == nil {
		return s.Range(ctx, off, n)
	}
	ct := &cipherSeq{s: s, ctx: ctx}
	fr, err := filecrypt.NewReaderAt(ct, s.m.Size, s.c.KeyFor(s.opts.Access))
	if err != nil {
		return &failedReader{err: noKey(err, s.opts.Access)}
	}
	h, _ := filecrypt.ParseHeader(s.hdr)
	off = min(max(off, 0), fr.Size())
	end := min(off+max(n, 0), fr.Size())
	co, cn := fr.CipherRange(off, end-off)
	ct.end = co + cn
	return &plainReader{fr: fr, ct: ct, chunk: int64(h.Chunk), off: off, end: end, access: s.opts.Access}
}

// cipherSeq is the io.ReaderAt filecrypt reads chunks from: the header from
// memory, the chunks from one ciphertext Range, opened at the first chunk
// asked for and read on in order (a read elsewhere opens a new Range).
type cipherSeq struct {
	s   *Stream
	ctx context.Context
	rr  *RangeReader
	pos int64 // ciphertext offset rr reads next
	end int64 // end of the ciphertext the plaintext range needs
}

func (q *cipherSeq) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) <= filecrypt.HeaderSize {
		return copy(p, q.s.hdr[off:]), nil
	}
	if q.rr == nil || off != q.pos {
		if q.rr != nil {
			q.rr.Close()
		}
		q.rr = q.s.Range(q.ctx, off, max(q.end, off+int64(len(p)))-off)
		q.pos = off
	}
	n, err := io.ReadFull(q.rr, p)
	q.pos += int64(n)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF
	}
	return n, err
}

func (q *cipherSeq) Close() error {
	if q.rr != nil {
		return q.rr.Close()
	}
	return nil
}

// plainReader reads a plaintext range one whole chunk at a time, so each
// chunk is fetched and opened once.
type plainReader struct {
	fr       *filecrypt.ReaderAt
	ct       *cipherSeq
	chunk    int64
	off, end int64
	buf      []byte // the plaintext of the chunk holding bufAt
	bufAt    int64
	access   *Access
}

func (r *plainReader) Read(p []byte) (int, error) {
	if r.off >= r.end {
		return 0, io.EOF
	}
	if r.buf == nil || r.off < r.bufAt || r.off >= r.bufAt+int64(len(r.buf)) {
		at := r.off / r.chunk * r.chunk
		b := make([]byte, min(r.chunk, r.fr.Size()-at))
		if _, err := r.fr.ReadAt(b, at); err != nil && !errors.Is(err, io.EOF) {
			return 0, noKey(err, r.access)
		}
		r.buf, r.bufAt = b, at
	}
	n := copy(p, r.buf[r.off-r.bufAt:min(int64(len(r.buf)), r.end-r.bufAt)])
	r.off += int64(n)
	return n, nil
}

func (r *plainReader) Close() error { return r.ct.Close() }

type failedReader struct{ err error }

func (f *failedReader) Read([]byte) (int, error) { return 0, f.err }
func (f *failedReader) Close() error             { return nil }
