package sidechain

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/ppstore/ppstore/rollup"
)

// realKeys are Groth16 keys of the rollup circuit, set up once per test
// binary: tiny (depth 2, batches of 1) for tests; benchmarks take
// SIDECHAIN_ZK_DEPTH and SIDECHAIN_ZK_BATCH, and load keys from (or set them
// up into) SIDECHAIN_ZK_KEYS if set.
var realKeys struct {
	sync.Mutex
	byParams map[rollup.Params]*rollup.Keys
}

func keysFor(tb testing.TB, p rollup.Params) *rollup.Keys {
	tb.Helper()
	realKeys.Lock()
	defer realKeys.Unlock()
	if k := realKeys.byParams[p]; k != nil {
		return k
	}
	if d := os.Getenv("SIDECHAIN_ZK_KEYS"); d != "" {
		// Keys set up earlier (by package rollup's benchmarks, say).
		k, err := rollup.LoadOrSetupKeys(d, p)
		if err != nil {
			tb.Fatal(err)
		}
		return k
	}
	dir, err := os.MkdirTemp("", "sidechain-zk-keys")
	if err != nil {
		tb.Fatal(err)
	}
	k, err := rollup.LoadOrSetupKeys(dir, p)
	os.RemoveAll(dir)
	if err != nil {
		tb.Fatal(err)
	}
	if realKeys.byParams == nil {
		realKeys.byParams = map[rollup.Params]*rollup.Keys{}
	}
	realKeys.byParams[p] = k
	return k
}

// realChain is one region's account tree, started from a genesis with one
// funded operator account: the same genesis root in every region.
type realChain struct {
	tb    testing.TB
	k     *rollup.Keys
	s     *rollup.State
	db    *pebble.DB
	op    *rollup.PrivateKey
	nonce uint64

	receivers map[uint32]*rollup.PrivateKey
}

func newRealChain(tb testing.TB, k *rollup.Keys, op *rollup.PrivateKey) *realChain {
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	c := &realChain{tb: tb, k: k, s: rollup.NewState('p', k.Params.Depth), db: db, op: op, receivers: map[uint32]*rollup.PrivateKey{}}
	b := db.NewIndexedBatch()
	if err := c.s.Genesis(b, []rollup.Account{{Index: 0, Key: op.Public(), Balance: 1 << 40}}); err != nil {
		tb.Fatal(err)
	}
	if err := b.Commit(nil); err != nil {
		tb.Fatal(err)
	}
	return c
}

func (c *realChain) root() [32]byte {
	r, err := c.s.Root(c.db)
	if err != nil {
		c.tb.Fatal(err)
	}
	return r
}

// batch applies BatchSize transfers from the operator for region and
// proves them.
func (c *realChain) batch(region string) *Batch {
	tag := rollup.RegionTag(region)
	prev := c.root()
	b := c.db.NewIndexedBatch()
	var ws []rollup.TxWitness
	for i := range c.k.Params.BatchSize {
		// Receivers cycle through the tree's other slots, each with one key.
		idx := uint32(1 + c.nonce%(uint64(1)<<c.k.Params.Depth-1))
		to, ok := c.receivers[idx]
		if !ok {
			to, _ = rollup.GenerateKey(rand.Reader)
			c.receivers[idx] = to
		}
		st, err := rollup.Sign(c.op, tag, rollup.Transfer{From: 0, To: idx, Amount: 10 + uint64(i), Nonce: c.nonce, ToKey: to.Public()})
		if err != nil {
			c.tb.Fatal(err)
		}
		w, err := c.s.Apply(b, tag, st)
		if err != nil {
			c.tb.Fatal(err)
		}
		ws = append(ws, w)
		c.nonce++
	}
	if err := b.Commit(nil); err != nil {
		c.tb.Fatal(err)
	}
	data, proof, err := c.k.Prove(tag, ws)
	if err != nil {
		c.tb.Fatal(err)
	}
	return &Batch{Region: region, PrevRoot: prev, NewRoot: c.root(), TxData: data, Proof: proof}
}

func realGenesis(k *rollup.Keys, root [32]byte, regions ...string) GenesisState {
	var gs GenesisState
	for _, r := range regions {
		gs.Regions = append(gs.Regions, GenesisRegion{Name: r, Root: fmt.Sprintf("%x", root), VK: k.VerifyingKey()})
	}
	return gs
}

func initRealChain(t testing.TB, a *App, gs GenesisState) {
	st, _ := jsonMarshal(gs)
	if _, err := a.InitChain(context.Background(), &abci.InitChainRequest{ChainId: "test", AppStateBytes: st, InitialHeight: 1}); err != nil {
		t.Fatal(err)
	}
}

var updateRollup = flag.Bool("update-rollup", false, "regenerate testdata/rollup_batches.json with package rollup's prover (about a minute)")

// rollupFixture is real rollup data for the tests, kept under testdata so
// the suite verifies real Groth16 proofs without setting up keys and
// proving (a minute on a busy machine): one circuit's verifying key, a
// genesis root shared by two regions, and one proven batch of each.
// Regenerate it with -update-rollup when the circuit changes (the test
// then fails with ErrBadProof or ErrMalformed).
type rollupFixture struct {
	Params      rollup.Params
	VK          []byte
	GenesisRoot [32]byte
	North       Batch
	South       Batch
}

const rollupFixtureFile = "testdata/rollup_batches.json"

func loadRollupFixture(t *testing.T) *rollupFixture {
	t.Helper()
	if *updateRollup {
		k := keysFor(t, rollup.Params{Depth: 2, BatchSize: 1})
		op, _ := rollup.GenerateKey(rand.Reader)
		north, south := newRealChain(t, k, op), newRealChain(t, k, op)
		f := &rollupFixture{Params: k.Params, VK: k.VerifyingKey(), GenesisRoot: north.root()}
		f.North, f.South = *north.batch("north"), *south.batch("south")
		b, err := json.MarshalIndent(f, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(rollupFixtureFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(rollupFixtureFile)
	if err != nil {
		t.Fatalf("%v (regenerate with go test -run %s -update-rollup)", err, t.Name())
	}
	var f rollupFixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

// The application with the production verifier accepts real Groth16
// batches and refuses every forgery of one, including a batch replayed on
// another region that shares its verifying key and genesis root.
func TestRealBatchesWithRollupVerifier(t *testing.T) {
	f := loadRollupFixture(t)
	a, err := OpenApp(t.TempDir(), RollupVerifier, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	gs := GenesisState{}
	for _, r := range []string{"north", "south"} {
		gs.Regions = append(gs.Regions, GenesisRegion{Name: r, Root: fmt.Sprintf("%x", f.GenesisRoot), VK: f.VK})
	}
	initRealChain(t, a, gs)
	block(t, a, 1)

	nb, sb := &f.North, &f.South
	if err := checkTx(a, nb.AppendTx(nil)); err != nil {
		t.Fatalf("real north batch refused in CheckTx: %v (if package rollup's circuit changed, regenerate with -update-rollup)", err)
	}
	if r := block(t, a, 2, nb.AppendTx(nil)); r.TxResults[0].Code != 0 {
		t.Fatalf("real north batch refused in block: %s", r.TxResults[0].Log)
	}

	replay := *nb
	replay.Region = "south" // north's batch on south: same key, same previous root
	tampered := *sb
	tampered.TxData = append([]byte(nil), sb.TxData...)
	tampered.TxData[len(tampered.TxData)-rollup.TransferSize+12]++ // an amount
	forged := *sb
	forged.Proof = append([]byte(nil), sb.Proof...)
	forged.Proof[len(forged.Proof)/2] ^= 1
	swapped := *sb
	swapped.NewRoot = nb.NewRoot // a root the proof is not about
	for _, tc := range []struct {
		name string
		b    *Batch
		want error
	}{
		{"another region's batch", &replay, ErrWrongRegion},
		{"tampered tx data", &tampered, ErrBadProof},
		{"forged proof", &forged, ErrBadProof},
		{"new root the proof is not about", &swapped, ErrBadProof},
		{"replayed batch (wrong previous root)", nb, ErrWrongPrevRoot},
	} {
		if err := checkTx(a, tc.b.AppendTx(nil)); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		} else {
			t.Logf("%s: %v", tc.name, err)
		}
		res := block(t, a, a.height+1, tc.b.AppendTx(nil))
		if r := res.TxResults[0]; !errors.Is(fromResult(r.Codespace, r.Code, r.Log), tc.want) {
			t.Errorf("%s in a block: code %d %s", tc.name, r.Code, r.Log)
		}
	}
	if r := block(t, a, a.height+1, sb.AppendTx(nil)); r.TxResults[0].Code != 0 {
		t.Fatalf("real south batch refused: %s", r.TxResults[0].Log)
	}
	if got := regionRoot(t, a, "south"); got.Root != sb.NewRoot || got.Batches != 1 {
		t.Fatalf("south = %+v", got)
	}
	if got := regionRoot(t, a, "north"); got.Root != nb.NewRoot || got.Batches != 1 {
		t.Fatalf("north = %+v", got)
	}
}

func TestNodeConfigDefaultsToRollupVerifier(t *testing.T) {
	var c NodeConfig
	c.Home = t.TempDir()
	c.EnsureDefaults()
	if c.Validate() != nil || c.Verifier.Bind == nil || c.Verifier.Verify == nil {
		t.Fatalf("defaults: %+v", c)
	}
	// The default binds batch data to its region as RollupVerifier does.
	if err := c.Verifier.Bind("north", []byte("not rollup data")); err == nil {
		t.Fatal("default verifier accepted non-rollup data")
	}
}

func benchParams() rollup.Params {
	p := rollup.Params{Depth: 8, BatchSize: rollup.DefaultParams.BatchSize}
	if v, err := strconv.Atoi(os.Getenv("SIDECHAIN_ZK_DEPTH")); err == nil {
		p.Depth = v
	}
	if v, err := strconv.Atoi(os.Getenv("SIDECHAIN_ZK_BATCH")); err == nil {
		p.BatchSize = v
	}
	return p
}

// BenchmarkCheckRealBatch measures what a validator spends on one batch in
// CheckTx or FinalizeBlock: decode, region binding and rollup.VerifyBatch
// (Groth16 pairing check, public input from the batch data), through the
// read-only check query so the state does not move.
func BenchmarkCheckRealBatch(b *testing.B) {
	p := benchParams()
	k := keysFor(b, p)
	op, _ := rollup.GenerateKey(rand.Reader)
	c := newRealChain(b, k, op)
	genesis := c.root()
	bt := c.batch("north")
	a, err := OpenApp(b.TempDir(), RollupVerifier, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	initRealChain(b, a, realGenesis(k, genesis, "north"))
	tx := bt.AppendTx(nil)
	req := &abci.QueryRequest{Path: QueryCheck, Data: tx}
	b.ReportMetric(float64(len(bt.TxData)), "txdata-B")
	if r, _ := a.Query(context.Background(), req); r.Code != 0 { // parse and cache the key
		b.Fatal(r.Log)
	}
	// On a shared machine wall time per op counts the time other processes
	// hold the cores; the process's CPU time per op is what a validator
	// with a core of its own would see.
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, _ := a.Query(context.Background(), req)
		if r.Code != 0 {
			b.Fatal(r.Log)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkBatchDataPerTransfer measures the part of a batch check that
// grows with the batch: decoding the batch data, binding it to its region
// and computing its commitment (the public input), for batches of 1 and 32
// transfers. The Groth16 pairing check itself does not depend on the batch
// size (three public inputs whatever the circuit).
func BenchmarkBatchDataPerTransfer(b *testing.B) {
	for _, n := range []int{1, 32} {
		d := rollup.BatchData{Depth: 20, RegionTag: rollup.RegionTag("north")}
		for i := range n {
			to, _ := rollup.GenerateKey(rand.Reader)
			d.Transfers = append(d.Transfers, rollup.Transfer{From: 0, To: uint32(i + 1), Amount: 10, Nonce: uint64(i), ToKey: to.Public()})
		}
		data := d.Encode()
		b.Run(fmt.Sprintf("transfers=%d", n), func(b *testing.B) {
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				if err := BindRollupRegion("north", data); err != nil {
					b.Fatal(err)
				}
				bd, err := rollup.DecodeBatch(data)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := bd.Commitment(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
		})
	}
}
