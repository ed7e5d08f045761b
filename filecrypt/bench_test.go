package filecrypt

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"testing"
)

// The cost of encryption against what every put already pays: hashing each
// byte once with SHA-256 (piece digests). Run:
//
//	go test -run XXX -bench . -benchtime 20x ./filecrypt/
const benchSize = 64 << 20

func benchData(b *testing.B) []byte {
	d := make([]byte, benchSize)
	rand.Read(d)
	b.SetBytes(benchSize)
	b.ResetTimer()
	return d
}

func BenchmarkSHA256Baseline(b *testing.B) {
	d := benchData(b)
	for i := 0; i < b.N; i++ {
		sha256.Sum256(d)
	}
}

func BenchmarkEncrypt(b *testing.B) {
	d := benchData(b)
	k := make([]byte, KeySize)
	h, _ := NewHeader()
	for i := 0; i < b.N; i++ {
		e, _ := NewEncrypter(bytes.NewReader(d), k, h)
		if _, err := io.Copy(io.Discard, e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecryptWriter(b *testing.B) {
	k := make([]byte, KeySize)
	h, _ := NewHeader()
	d := make([]byte, benchSize)
	e, _ := NewEncrypter(bytes.NewReader(d), k, h)
	ct, _ := io.ReadAll(e)
	b.SetBytes(benchSize)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w := NewDecryptWriter(io.Discard, func(Header) ([]byte, error) { return k, nil })
		for off := 0; off < len(ct); off += 256 << 10 { // as a get writes: a piece at a time
			if _, err := w.Write(ct[off:min(off+256<<10, len(ct))]); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
