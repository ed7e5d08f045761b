package proofs

import (
	"math/bits"
	"os"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// BenchmarkSeal measures sealing throughput on one core (sealing is one
// sequential chain) at the default parameters: 4 MiB shards, 2 layers.
func BenchmarkSeal(b *testing.B) {
	data := randBytes(1, 4<<20)
	id := NewReplicaID([]byte("miner"), [32]byte{1}, 0)
	layers := Params{}.Layers(int64(len(data)))
	buf := make([]byte, len(data))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		copy(buf, data)
		if err := Seal(id, int64(len(data)), layers, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnseal measures unsealing a 256 KiB piece (with its window) on
// one core at the default parameters; BenchmarkUnsealParallel runs it on
// every core, as a miner serving many requests does.
func BenchmarkUnseal(b *testing.B) { benchUnseal(b, false, false) }

// BenchmarkUnsealParallel is BenchmarkUnseal on every core.
func BenchmarkUnsealParallel(b *testing.B) { benchUnseal(b, true, false) }

// BenchmarkUnsealReference is BenchmarkUnseal with the unsealing loop as
// first written (unsealReference): the baseline of the decoder in
// seal_decode.go, to be run in the same run as BenchmarkUnseal.
func BenchmarkUnsealReference(b *testing.B) { benchUnseal(b, false, true) }

func benchUnseal(b *testing.B, parallel, reference bool) {
	data := randBytes(1, 4<<20)
	id := NewReplicaID([]byte("miner"), [32]byte{1}, 0)
	size := int64(len(data))
	layers := Params{}.Layers(size)
	rep := make([]byte, len(data))
	copy(rep, data)
	if err := Seal(id, size, layers, rep); err != nil {
		b.Fatal(err)
	}
	read := func(p []byte, off int64) error { copy(p, rep[off:]); return nil }
	const piece = 256 << 10
	b.ResetTimer()
	b.SetBytes(piece)
	// dst is the caller's buffer (a miner's pooled send buffer), one per
	// goroutine; read copies the replica bytes as a miner's pread does.
	one := func(dst []byte, j int64) {
		off := (j % 16) * piece
		if reference {
			unsealReference(dst, id, size, layers, off, rep)
			return
		}
		if err := UnsealInto(dst, id, size, layers, off, read); err != nil {
			b.Fatal(err)
		}
	}
	cpu0 := cpuTime()
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			dst := make([]byte, piece)
			for j := int64(0); pb.Next(); j++ {
				one(dst, j)
			}
		})
	} else {
		dst := make([]byte, piece)
		j := int64(0)
		for b.Loop() {
			one(dst, j)
			j++
		}
	}
	// Per CPU-second: what one core unseals whatever the machine's load.
	b.ReportMetric(float64(b.N)*piece/(cpuTime()-cpu0).Seconds()/1e6, "MB/cpu-s")
}

// benchFixture is a default-sized replica (4 MiB, 256 KiB pieces, default params).
func benchFixture(b *testing.B, miner string, number uint32) *fixture {
	return sealFixture(b, miner, randBytes(uint64(number)+1, 4<<20), 256<<10, number, Params{})
}

// BenchmarkPoStProve measures an honest miner's response for one replica
// (8 openings, each reading and hashing 8 KiB of the replica from memory).
func BenchmarkPoStProve(b *testing.B) {
	f := benchFixture(b, "miner", 0)
	held := []Held{f.held()}
	e := uint64(0)
	for b.Loop() {
		e++
		if _, err := ProvePoSt(&Round{Epoch: e}, Params{}, held); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPoStVerify measures the verifier's cost per replica in a PoSt
// response (parsing included), over a response for 64 replicas.
func BenchmarkPoStVerify(b *testing.B) {
	const n = 64
	var held []Held
	var asked []*Replica
	base := benchFixture(b, "miner", 0)
	for i := 0; i < n; i++ {
		// One sealed replica described n times keeps the setup short; the
		// verifier's work per replica is the same.
		rep := *base.rep
		held = append(held, Held{Replica: &rep, Tree: base.tree, Read: base.read})
		asked = append(asked, &rep)
	}
	round := &Round{Epoch: 1, Seed: [32]byte{5}}
	resp, err := ProvePoSt(round, Params{}, held[:1])
	if err != nil {
		b.Fatal(err)
	}
	one := resp.Proofs[0]
	resp.Proofs = make([]PoStProof, n)
	for i := range resp.Proofs {
		resp.Proofs[i] = one
	}
	enc := resp.Append(nil)
	// All n descriptions share one replica ID: verify them one at a time.
	b.ResetTimer()
	for b.Loop() {
		parsed, err := ParsePoStResponse(enc)
		if err != nil {
			b.Fatal(err)
		}
		for i := range parsed.Proofs {
			if err := verifyOne(round, Params{}.WithDefaults(), asked[i], &parsed.Proofs[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "replicas/s")
}

// BenchmarkPoStVerifyParallel is BenchmarkPoStVerify on every core (a
// verifier judges the responses of different miners in parallel).
func BenchmarkPoStVerifyParallel(b *testing.B) {
	f := benchFixture(b, "miner", 0)
	round := &Round{Epoch: 1, Seed: [32]byte{5}}
	resp, err := ProvePoSt(round, Params{}, []Held{f.held()})
	if err != nil {
		b.Fatal(err)
	}
	enc := resp.Append(nil)
	p := Params{}.WithDefaults()
	b.ResetTimer()
	cpu0 := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			parsed, err := ParsePoStResponse(enc)
			if err != nil {
				b.Fatal(err)
			}
			if err := verifyOne(round, p, f.rep, &parsed.Proofs[0]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "replicas/s")
	// On a shared machine the wall clock counts other processes' load;
	// CPU time does not: replicas per CPU-second, times the cores, is what
	// the machine would check alone.
	b.ReportMetric(float64(b.N)/(cpuTime()-cpu0).Seconds(), "replicas/cpu-s")
}

// cpuTime returns this process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPoRepVerify measures one PoRep check (8 pieces of 256 KiB).
func BenchmarkPoRepVerify(b *testing.B) {
	f := benchFixture(b, "miner", 0)
	proof, err := ProvePoRep(f.rep, f.tree, [32]byte{3}, Params{}, f.digests, f.read)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := VerifyPoRep(f.rep, [32]byte{3}, Params{}, proof); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReplicaRead reads a piece's unsealing window (256 KiB and one
// block before it) from a replica file in the page cache, into a buffer
// aligned to the page (file offset 16 bytes before a page boundary: the
// kernel copies across mismatched alignments) and into one aligned like
// the file offset, as windowBuf does.
func BenchmarkReplicaRead(b *testing.B) {
	f, err := os.CreateTemp(b.TempDir(), "replica")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(randBytes(2, 4<<20)); err != nil {
		b.Fatal(err)
	}
	const piece = 256 << 10
	for _, c := range []struct {
		name    string
		aligned bool
	}{{"page-aligned-buffer", false}, {"buffer-aligned-with-file", true}} {
		b.Run(c.name, func(b *testing.B) {
			raw := make([]byte, piece+BlockSize+2*pageSize)
			addr := int(uintptr(unsafe.Pointer(&raw[0])) % pageSize)
			start := (pageSize - addr) % pageSize // page-aligned
			if c.aligned {
				start += pageSize - BlockSize // the file offset's remainder
			}
			buf := raw[start : start+piece+BlockSize]
			b.SetBytes(int64(len(buf)))
			for j := 1; b.Loop(); j++ {
				off := int64(j%15+1)*piece - BlockSize
				if _, err := f.ReadAt(buf, off); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSqrChain measures a chain of dependent squarings, what sealing
// is made of (slothEncode: 125 per block), with sqr as sealing uses it and
// with the squaring written as decodeUp inlines it: the decoder's loop is
// faster because blocks are independent, not because one squaring is, so
// it gives a generation attack no faster chain.
func BenchmarkSqrChain(b *testing.B) {
	b.Run("sqr", func(b *testing.B) {
		x := elem{lo: 12345, hi: 678}
		for b.Loop() {
			for range 1000 {
				x = sqr(x)
			}
		}
		chainSink = x
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/squaring")
	})
	b.Run("decoder-inlined", func(b *testing.B) {
		xLo, xHi := uint64(12345), uint64(678)
		for b.Loop() {
			for range 1000 {
				h00, l00 := bits.Mul64(xLo, xLo)
				h01, l01 := bits.Mul64(xLo, xHi)
				h11, l11 := bits.Mul64(xHi, xHi)
				r1, c := bits.Add64(h00, l01<<1, 0)
				r2, c := bits.Add64(l11, h01<<1|l01>>63, c)
				r3 := h11 + c
				sLo, c := bits.Add64(l00, r1>>63|r2<<1, 0)
				sHi := r1&mask63 + (r2>>63 | r3<<1) + c
				xLo, c = bits.Add64(sLo, sHi>>63, 0)
				xHi = sHi&mask63 + c
				if xLo == pLo && xHi == pHi {
					xLo, xHi = 0, 0
				}
			}
		}
		chainSink = elem{xLo, xHi}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/squaring")
	})
}

var chainSink elem
