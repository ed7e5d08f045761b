package rollup

import (
	"crypto/rand"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
)

// benchParams reads ZK_DEPTH and ZK_BATCH (default DefaultParams).
func benchParams(b *testing.B) Params {
	p := DefaultParams
	if v, err := strconv.Atoi(os.Getenv("ZK_DEPTH")); err == nil {
		p.Depth = v
	}
	if v, err := strconv.Atoi(os.Getenv("ZK_BATCH")); err == nil {
		p.BatchSize = v
	}
	return p
}

// BenchmarkConstraints reports the circuit's constraints per transfer: the
// difference between batches of 2 and 1, so fixed costs are left out.
func BenchmarkConstraints(b *testing.B) {
	p := benchParams(b)
	for i := 0; i < b.N; i++ {
		c1, err := Compile(Params{Depth: p.Depth, BatchSize: 1})
		if err != nil {
			b.Fatal(err)
		}
		c2, err := Compile(Params{Depth: p.Depth, BatchSize: 2})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(c2.GetNbConstraints()-c1.GetNbConstraints()), "constraints/transfer")
		b.ReportMetric(float64(c1.GetNbConstraints()), "constraints/batch1")
	}
}

// benchBatch applies BatchSize honest transfers to a fresh tree and returns
// the witnesses and the roots.
func benchBatch(b *testing.B, p Params) ([]TxWitness, [32]byte, [32]byte) {
	db, err := pebble.Open("", &pebble.Options{FS: memFS()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	s := NewState('p', p.Depth)
	bt := db.NewIndexedBatch()
	b.Cleanup(func() { bt.Close() })
	op, _ := GenerateKey(rand.Reader)
	if err := s.Genesis(bt, []Account{{Index: 0, Key: op.Public(), Balance: 1 << 40}}); err != nil {
		b.Fatal(err)
	}
	prev, _ := s.Root(bt)
	ws := make([]TxWitness, p.BatchSize)
	for i := range ws {
		to, _ := GenerateKey(rand.Reader)
		st, err := Sign(op, testRegion, Transfer{From: 0, To: uint32(i + 1), Amount: 10, Nonce: uint64(i), ToKey: to.Public()})
		if err != nil {
			b.Fatal(err)
		}
		if ws[i], err = s.Apply(bt, testRegion, st); err != nil {
			b.Fatal(err)
		}
	}
	next, _ := s.Root(bt)
	return ws, prev, next
}

// BenchmarkProve proves one batch per iteration with keys cached under
// ZK_KEYS (default a temporary directory) and reports transfers/s, the
// proving key's size and the heap after proving.
func BenchmarkProve(b *testing.B) {
	p := benchParams(b)
	dir := os.Getenv("ZK_KEYS")
	if dir == "" {
		dir = b.TempDir()
	}
	start := time.Now()
	k, err := LoadOrSetupKeys(dir, p)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%s: %d constraints, keys ready in %v", p.Version(), k.Constraints(), time.Since(start))
	if st, err := os.Stat(dir + "/" + p.Version() + "/pk"); err == nil {
		b.ReportMetric(float64(st.Size())/(1<<20), "pk-MiB")
	}
	ws, prev, next := benchBatch(b, p)
	b.ResetTimer()
	cpu0 := cpuTime()
	var data, proof []byte
	for i := 0; i < b.N; i++ {
		if data, proof, err = k.Prove(testRegion, ws); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(p.BatchSize)*float64(b.N)/b.Elapsed().Seconds(), "transfers/s")
	// CPU time is what the machine's load does not inflate: on an idle
	// machine with GOMAXPROCS cores the wall time is at least cpu/cores.
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(float64(p.BatchSize)*float64(b.N)/(cpu.Seconds()/float64(runtime.GOMAXPROCS(0))), "transfers/cpu-bound-s")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapSys)/(1<<20), "heap-sys-MiB")
	if err := VerifyBatch(k.VerifyingKey(), prev, next, data, proof); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkVerifyBatch measures VerifyBatch as the sidechain calls it (the
// verifying key's parse is cached after the first call).
func BenchmarkVerifyBatch(b *testing.B) {
	p := benchParams(b)
	dir := os.Getenv("ZK_KEYS")
	if dir == "" {
		dir = b.TempDir()
	}
	k, err := LoadOrSetupKeys(dir, p)
	if err != nil {
		b.Fatal(err)
	}
	ws, prev, next := benchBatch(b, p)
	data, proof, err := k.Prove(testRegion, ws)
	if err != nil {
		b.Fatal(err)
	}
	vk := k.VerifyingKey()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if err := VerifyBatch(vk, prev, next, data, proof); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
