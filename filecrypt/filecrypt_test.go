package filecrypt

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"
)

func key(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, KeySize)
	rand.Read(k)
	return k
}

func encrypt(t *testing.T, plain, k []byte, h Header) []byte {
	t.Helper()
	e, err := NewEncrypter(bytes.NewReader(plain), k, h)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := io.ReadAll(e)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

func decryptAll(ct, k []byte, step int) ([]byte, error) {
	var out bytes.Buffer
	d := NewDecryptWriter(&out, func(Header) ([]byte, error) { return k, nil })
	for len(ct) > 0 {
		n := min(step, len(ct))
		if _, err := d.Write(ct[:n]); err != nil {
			return nil, err
		}
		ct = ct[n:]
	}
	if err := d.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func TestRoundTripSizes(t *testing.T) {
	k := key(t)
	for _, chunk := range []uint32{1, 7, 100, ChunkSize} {
		for _, size := range []int{0, 1, int(chunk) - 1, int(chunk), int(chunk) + 1, 3*int(chunk) + 5} {
			if size < 0 {
				continue
			}
			h, _ := NewHeader()
			h.Chunk = chunk
			plain := make([]byte, size)
			rand.Read(plain)
			ct := encrypt(t, plain, k, h)
			if int64(len(ct)) != CipherSize(int64(size), chunk) {
				t.Fatalf("chunk %d size %d: %d encrypted bytes, CipherSize says %d", chunk, size, len(ct), CipherSize(int64(size), chunk))
			}
			if ps, err := PlainSize(int64(len(ct)), chunk); err != nil || ps != int64(size) {
				t.Fatalf("chunk %d size %d: PlainSize = %d, %v", chunk, size, ps, err)
			}
			for _, step := range []int{1, 13, 1 << 20} {
				got, err := decryptAll(ct, k, step)
				if err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("chunk %d size %d step %d: round trip failed: %v", chunk, size, step, err)
				}
			}
		}
	}
}

func TestWrongKeyTruncationAndTampering(t *testing.T) {
	k := key(t)
	h, _ := NewHeader()
	h.Chunk = 100
	plain := bytes.Repeat([]byte("secret "), 100)
	ct := encrypt(t, plain, k, h)
	if _, err := decryptAll(ct, key(t), 64); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("wrong key: err = %v, want ErrDecrypt", err)
	}
	// Cut at a chunk boundary: the new last chunk was not sealed as last.
	cut := ct[:HeaderSize+2*(100+Overhead)]
	if _, err := decryptAll(cut, k, 64); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("truncated at a chunk boundary: err = %v, want ErrDecrypt", err)
	}
	if _, err := decryptAll(ct[:HeaderSize+5], k, 64); !errors.Is(err, ErrTruncated) {
		t.Fatalf("truncated inside the first chunk: err = %v, want ErrTruncated", err)
	}
	for _, at := range []int{5, HeaderSize + 3, len(ct) - 1} {
		bad := bytes.Clone(ct)
		bad[at] ^= 1
		if _, err := decryptAll(bad, k, 64); err == nil {
			t.Fatalf("byte %d flipped: decrypted without error", at)
		}
	}
	// Swapping two chunks fails too: the nonce binds each chunk's index.
	sw := bytes.Clone(ct)
	a, b := sw[HeaderSize:HeaderSize+116], sw[HeaderSize+116:HeaderSize+232]
	tmp := bytes.Clone(a)
	copy(a, b)
	copy(b, tmp)
	if _, err := decryptAll(sw, k, 64); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("chunks swapped: err = %v, want ErrDecrypt", err)
	}
}

// countingReaderAt counts the encrypted bytes a ranged read fetches.
type countingReaderAt struct {
	b    []byte
	read int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(c.b)) {
		return 0, io.EOF
	}
	n := copy(p, c.b[off:])
	c.read += int64(n)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func TestRangedReadsOpenOnlyTheirChunks(t *testing.T) {
	k := key(t)
	h, _ := NewHeader()
	plain := make([]byte, 10*ChunkSize+123)
	rand.Read(plain)
	ct := encrypt(t, plain, k, h)
	src := &countingReaderAt{b: ct}
	r, err := NewReaderAt(src, int64(len(ct)), func(Header) ([]byte, error) { return k, nil })
	if err != nil {
		t.Fatal(err)
	}
	if r.Size() != int64(len(plain)) {
		t.Fatalf("Size = %d, want %d", r.Size(), len(plain))
	}
	for _, c := range []struct{ off, n int64 }{{0, 1}, {ChunkSize - 1, 2}, {5*ChunkSize + 7, 1000}, {int64(len(plain)) - 10, 10}, {3 * ChunkSize, 2 * ChunkSize}} {
		src.read = 0
		p := make([]byte, c.n)
		n, err := r.ReadAt(p, c.off)
		if err != nil || int64(n) != c.n || !bytes.Equal(p, plain[c.off:c.off+c.n]) {
			t.Fatalf("ReadAt(%d, %d) = %d, %v or wrong bytes", c.off, c.n, n, err)
		}
		_, want := r.CipherRange(c.off, c.n)
		if src.read != want {
			t.Fatalf("ReadAt(%d, %d) read %d encrypted bytes, its chunks are %d", c.off, c.n, src.read, want)
		}
		if chunks := (want + ChunkSize + Overhead - 1) / (ChunkSize + Overhead); chunks > (c.n+ChunkSize-1)/ChunkSize+1 {
			t.Fatalf("ReadAt(%d, %d) opened %d chunks", c.off, c.n, chunks)
		}
	}
	if _, err := r.ReadAt(make([]byte, 1), int64(len(plain))); err != io.EOF {
		t.Fatalf("read past the end: err = %v, want io.EOF", err)
	}
}

func TestOwnerKeyIsPerFile(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, 32)
	h1, _ := NewHeader()
	h2, _ := NewHeader()
	k1, _ := OwnerKey(seed, h1)
	k1b, _ := OwnerKey(seed, h1)
	k2, _ := OwnerKey(seed, h2)
	if !bytes.Equal(k1, k1b) || bytes.Equal(k1, k2) {
		t.Fatal("the owner's key must be the same for one header and differ between files")
	}
	other, _ := OwnerKey(bytes.Repeat([]byte{8}, 32), h1)
	if bytes.Equal(other, k1) {
		t.Fatal("another identity derived the same key")
	}
}

func FuzzParseHeader(f *testing.F) {
	h, _ := NewHeader()
	f.Add(h.Encode())
	f.Add([]byte("PPE1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			return
		}
		if got := h.Encode(); !bytes.Equal(got, b[:HeaderSize]) {
			t.Fatalf("header does not re-encode to its bytes")
		}
	})
}
