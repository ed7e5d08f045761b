package sidechain

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
)

// fakeProof stands in for a Groth16 proof in unit tests: a digest binding
// the verifying key, both roots and the transaction data, so that every
// tampering the real verifier must catch is caught here too.
func fakeProof(vk []byte, prev, next [32]byte, txData []byte) []byte {
	h := sha256.New()
	h.Write([]byte("fake-batch-proof"))
	h.Write(vk)
	h.Write(prev[:])
	h.Write(next[:])
	h.Write(txData)
	return h.Sum(nil)
}

var errFakeProof = errors.New("proof does not verify")

func fakeVerify(vk []byte, prev, next [32]byte, txData, proof []byte) error {
	if !bytes.Equal(proof, fakeProof(vk, prev, next, txData)) {
		return errFakeProof
	}
	return nil
}

// fakeBind: test batch data starts with "region:".
func fakeBind(region string, txData []byte) error {
	if !bytes.HasPrefix(txData, []byte(region+":")) {
		return errors.New("batch data names another region")
	}
	return nil
}

var fakeVerifier = Verifier{Verify: fakeVerify, Bind: fakeBind}

func root(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// testGenesis registers regions "north" and "south" with distinct keys.
func testGenesis() GenesisState {
	return GenesisState{Regions: []GenesisRegion{
		{Name: "north", Root: fmt.Sprintf("%x", root("north/0")), VK: []byte("vk-north")},
		{Name: "south", Root: fmt.Sprintf("%x", root("south/0")), VK: []byte("vk-south")},
	}}
}

// batch returns a valid batch of region from prev to next.
func batch(region string, prev, next [32]byte, data string) *Batch {
	vk := []byte("vk-" + region)
	data = region + ":" + data
	return &Batch{Region: region, PrevRoot: prev, NewRoot: next, TxData: []byte(data), Proof: fakeProof(vk, prev, next, []byte(data))}
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

func openTestApp(t *testing.T, dir string) *App {
	t.Helper()
	a, err := OpenApp(dir, fakeVerifier, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func initChain(t *testing.T, a *App) []byte {
	t.Helper()
	st, _ := json.Marshal(testGenesis())
	res, err := a.InitChain(context.Background(), &abci.InitChainRequest{ChainId: "test", AppStateBytes: st, InitialHeight: 1})
	if err != nil {
		t.Fatal(err)
	}
	return res.AppHash
}

// block finalizes and commits one block of txs and returns its results.
func block(t *testing.T, a *App, h int64, txs ...[]byte) *abci.FinalizeBlockResponse {
	t.Helper()
	res, err := a.FinalizeBlock(context.Background(), &abci.FinalizeBlockRequest{Height: h, Txs: txs})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Commit(context.Background(), &abci.CommitRequest{}); err != nil {
		t.Fatal(err)
	}
	return res
}

func checkTx(a *App, tx []byte) error {
	r, err := a.CheckTx(context.Background(), &abci.CheckTxRequest{Tx: tx})
	if err != nil {
		return err
	}
	return fromResult(r.Codespace, r.Code, r.Log)
}

func regionRoot(t *testing.T, a *App, name string) RegionRoot {
	t.Helper()
	rs, _ := a.Roots()
	for _, r := range rs {
		if r.Region == name {
			return r
		}
	}
	t.Fatalf("region %s not in state", name)
	return RegionRoot{}
}

func TestAppAcceptsBatchAndReplaysAfterReopen(t *testing.T) {
	dir := t.TempDir()
	a := openTestApp(t, dir)
	genesisHash := initChain(t, a)
	res := block(t, a, 1)
	if !bytes.Equal(res.AppHash, genesisHash) {
		t.Fatalf("empty block 1 changed the app hash")
	}
	b := batch("north", root("north/0"), root("north/1"), "transfers 1")
	if err := checkTx(a, b.AppendTx(nil)); err != nil {
		t.Fatalf("CheckTx of a valid batch: %v", err)
	}
	res = block(t, a, 2, b.AppendTx(nil))
	if res.TxResults[0].Code != 0 {
		t.Fatalf("valid batch refused in block: %s", res.TxResults[0].Log)
	}
	if bytes.Equal(res.AppHash, genesisHash) {
		t.Fatal("accepting a batch left the app hash unchanged")
	}
	got := regionRoot(t, a, "north")
	if got.Root != root("north/1") || got.Batches != 1 || got.Height != 2 {
		t.Fatalf("north after batch = %+v", got)
	}
	if s := regionRoot(t, a, "south"); s.Root != root("south/0") || s.Batches != 0 {
		t.Fatalf("south changed by a north batch: %+v", s)
	}
	info, _ := a.Info(context.Background(), &abci.InfoRequest{})
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	a = openTestApp(t, dir)
	defer a.Close()
	info2, _ := a.Info(context.Background(), &abci.InfoRequest{})
	if info2.LastBlockHeight != 2 || !bytes.Equal(info2.LastBlockAppHash, info.LastBlockAppHash) || !bytes.Equal(info2.LastBlockAppHash, res.AppHash) {
		t.Fatalf("after reopen Info = height %d hash %X, want 2 %X", info2.LastBlockHeight, info2.LastBlockAppHash, res.AppHash)
	}
	if got2 := regionRoot(t, a, "north"); got2 != got {
		t.Fatalf("north after reopen = %+v, want %+v", got2, got)
	}
	// The reopened state is the base of the next block.
	b2 := batch("north", root("north/1"), root("north/2"), "transfers 2")
	if err := checkTx(a, b2.AppendTx(nil)); err != nil {
		t.Fatalf("CheckTx after reopen: %v", err)
	}
	if r := block(t, a, 3, b2.AppendTx(nil)); r.TxResults[0].Code != 0 {
		t.Fatalf("batch after reopen refused: %s", r.TxResults[0].Log)
	}
}

func TestAppRefusesBadBatches(t *testing.T) {
	a := openTestApp(t, t.TempDir())
	defer a.Close()
	initChain(t, a)
	block(t, a, 1)
	n0, n1, s0 := root("north/0"), root("north/1"), root("south/0")
	good := batch("north", n0, n1, "transfers")

	tampered := *good
	tampered.TxData = []byte("north:transferZ")
	forged := *good
	forged.Proof = bytes.Repeat([]byte{7}, 32)
	wrongPrev := batch("north", root("north/9"), n1, "transfers")
	// A valid proof of south's transition, replayed on north: it names
	// south's root, which is not north's.
	southProof := batch("south", s0, root("south/1"), "transfers")
	southOnNorth := *southProof
	southOnNorth.Region = "north"
	// The same, claiming north's previous root: the data is south's.
	southProofNorthRoot := *southProof
	southProofNorthRoot.Region = "north"
	southProofNorthRoot.PrevRoot = n0
	// North-tagged data with south's proof: the proof does not verify.
	southProofNorthData := southProofNorthRoot
	southProofNorthData.TxData = []byte("north:transfers")
	unknown := batch("west", n0, n1, "transfers")

	raw := good.AppendTx(nil)
	badVersion := append([]byte{9}, raw[1:]...)
	trailing := append(append([]byte{}, raw...), 0)
	hugeLen := append(raw[:1+1+1+5+64:1+1+1+5+64], 0xff, 0xff, 0xff, 0xff)

	for _, tc := range []struct {
		name string
		tx   []byte
		want error
	}{
		{"tampered tx data", tampered.AppendTx(nil), ErrBadProof},
		{"forged proof", forged.AppendTx(nil), ErrBadProof},
		{"wrong previous root", wrongPrev.AppendTx(nil), ErrWrongPrevRoot},
		{"other region's proof and root", southOnNorth.AppendTx(nil), ErrWrongPrevRoot},
		{"other region's batch on this root", southProofNorthRoot.AppendTx(nil), ErrWrongRegion},
		{"other region's proof on this root", southProofNorthData.AppendTx(nil), ErrBadProof},
		{"unknown region", unknown.AppendTx(nil), ErrUnknownRegion},
		{"empty", nil, ErrMalformed},
		{"truncated", raw[:len(raw)-1], ErrMalformed},
		{"trailing byte", trailing, ErrMalformed},
		{"version", badVersion, ErrMalformed},
		{"length beyond limit", hugeLen, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := a.Info(context.Background(), &abci.InfoRequest{})
			err := checkTx(a, tc.tx)
			if !errors.Is(err, tc.want) {
				t.Fatalf("CheckTx: %v, want %v", err, tc.want)
			}
			t.Logf("CheckTx: %v", err)
			// A proposer may still put it in a block: it must fail there
			// and change nothing.
			res := block(t, a, before.LastBlockHeight+1, tc.tx)
			r := res.TxResults[0]
			if err := fromResult(r.Codespace, r.Code, r.Log); !errors.Is(err, tc.want) {
				t.Fatalf("FinalizeBlock: %v, want %v", err, tc.want)
			}
			if !bytes.Equal(res.AppHash, before.LastBlockAppHash) {
				t.Fatal("a refused batch changed the app hash")
			}
		})
	}
	if r := regionRoot(t, a, "north"); r.Root != n0 || r.Batches != 0 {
		t.Fatalf("north changed: %+v", r)
	}
	// The good batch still goes through after all that.
	if r := block(t, a, 100, good.AppendTx(nil)); r.TxResults[0].Code != 0 {
		t.Fatalf("good batch refused: %s", r.TxResults[0].Log)
	}
}

// Batches chained in the mempool (the second starts from the first's new
// root) are both admitted before either is committed, and executed in
// order in one block; the second alone would be refused.
func TestAppChainsBatchesInOneBlock(t *testing.T) {
	a := openTestApp(t, t.TempDir())
	defer a.Close()
	initChain(t, a)
	block(t, a, 1)
	b1 := batch("south", root("south/0"), root("south/1"), "one")
	b2 := batch("south", root("south/1"), root("south/2"), "two")
	if err := checkTx(a, b2.AppendTx(nil)); !errors.Is(err, ErrWrongPrevRoot) {
		t.Fatalf("second batch before the first: %v, want ErrWrongPrevRoot", err)
	}
	for _, b := range []*Batch{b1, b2} {
		if err := checkTx(a, b.AppendTx(nil)); err != nil {
			t.Fatalf("CheckTx %s: %v", b, err)
		}
	}
	res := block(t, a, 2, b1.AppendTx(nil), b2.AppendTx(nil), b2.AppendTx(nil))
	if res.TxResults[0].Code != 0 || res.TxResults[1].Code != 0 {
		t.Fatalf("chained batches refused: %v", res.TxResults)
	}
	if err := fromResult(res.TxResults[2].Codespace, res.TxResults[2].Code, res.TxResults[2].Log); !errors.Is(err, ErrWrongPrevRoot) {
		t.Fatalf("replayed batch in the same block: %v, want ErrWrongPrevRoot", err)
	}
	if r := regionRoot(t, a, "south"); r.Root != root("south/2") || r.Batches != 2 {
		t.Fatalf("south = %+v", r)
	}
	// After commit, CheckTx starts from the committed state again.
	if err := checkTx(a, b1.AppendTx(nil)); !errors.Is(err, ErrWrongPrevRoot) {
		t.Fatalf("replay after commit: %v, want ErrWrongPrevRoot", err)
	}
}

func TestAppQueryProvesRegion(t *testing.T) {
	a := openTestApp(t, t.TempDir())
	defer a.Close()
	initChain(t, a)
	res := block(t, a, 1)
	q, err := a.Query(context.Background(), &abci.QueryRequest{Path: QueryRegion, Data: []byte("south")})
	if err != nil || q.Code != 0 {
		t.Fatalf("query: %v %s", err, q.Log)
	}
	rr, err := DecodeLeaf(q.Value)
	if err != nil || rr.Region != "south" || rr.Root != root("south/0") || q.Height != 1 {
		t.Fatalf("leaf %+v height %d err %v", rr, q.Height, err)
	}
	_, proof, _ := a.committed.proof("south")
	if err := proof.Verify(res.AppHash, q.Value); err != nil {
		t.Fatalf("proof against app hash: %v", err)
	}
	for _, tc := range []struct {
		path, data string
		want       error
	}{
		{QueryRegion, "west", ErrUnknownRegion},
		{QueryRegion, "", ErrMalformed},
		{"/store", "south", ErrMalformed},
	} {
		q, _ := a.Query(context.Background(), &abci.QueryRequest{Path: tc.path, Data: []byte(tc.data)})
		if err := fromResult(q.Codespace, q.Code, q.Log); !errors.Is(err, tc.want) {
			t.Errorf("query %s %q: %v, want %v", tc.path, tc.data, err, tc.want)
		}
	}
}

func TestGenesisRefusesBadRegions(t *testing.T) {
	r := fmt.Sprintf("%x", root("x"))
	for name, gs := range map[string]GenesisState{
		"duplicate": {Regions: []GenesisRegion{{Name: "a", Root: r, VK: []byte("k")}, {Name: "a", Root: r, VK: []byte("k")}}},
		"bad root":  {Regions: []GenesisRegion{{Name: "a", Root: "abcd", VK: []byte("k")}}},
		"no vk":     {Regions: []GenesisRegion{{Name: "a", Root: r}}},
		"bad name":  {Regions: []GenesisRegion{{Name: "a/b", Root: r, VK: []byte("k")}}},
	} {
		if err := gs.Validate(); err == nil {
			t.Errorf("%s: genesis accepted", name)
		}
	}
}

func TestTxRoundTrip(t *testing.T) {
	b := batch("north", root("a"), root("b"), "data")
	got, err := DecodeTx(b.AppendTx(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got.Region != b.Region || got.PrevRoot != b.PrevRoot || got.NewRoot != b.NewRoot || !bytes.Equal(got.TxData, b.TxData) || !bytes.Equal(got.Proof, b.Proof) {
		t.Fatalf("round trip: %+v != %+v", got, b)
	}
}

func FuzzDecodeTx(f *testing.F) {
	f.Add(batch("north", root("a"), root("b"), "data").AppendTx(nil))
	f.Add([]byte{1, 1, 0})
	f.Fuzz(func(t *testing.T, tx []byte) {
		b, err := DecodeTx(tx)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error without identity: %v", err)
			}
			return
		}
		if again := b.AppendTx(nil); !bytes.Equal(again, tx) {
			t.Fatalf("not canonical: %x decodes and re-encodes to %x", tx, again)
		}
	})
}

func FuzzDecodeLeaf(f *testing.F) {
	r := RegionRoot{Region: "north", Root: root("a"), VKHash: root("vk"), Batches: 3, Height: 9}
	f.Add(r.AppendLeaf(nil))
	f.Fuzz(func(t *testing.T, leaf []byte) {
		rr, err := DecodeLeaf(leaf)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error without identity: %v", err)
			}
			return
		}
		if again := rr.AppendLeaf(nil); !bytes.Equal(again, leaf) {
			t.Fatalf("not canonical: %x → %x", leaf, again)
		}
	})
}

// A node that crashes after executing a block but before committing it
// reports the previous height in Info; CometBFT replays the block and the
// application reaches the same app hash.
func TestAppReplaysBlockLostBeforeCommit(t *testing.T) {
	dir := t.TempDir()
	a := openTestApp(t, dir)
	initChain(t, a)
	block(t, a, 1)
	tx := batch("north", root("north/0"), root("north/1"), "b").AppendTx(nil)
	res, err := a.FinalizeBlock(context.Background(), &abci.FinalizeBlockRequest{Height: 2, Txs: [][]byte{tx}})
	if err != nil || res.TxResults[0].Code != 0 {
		t.Fatalf("finalize: %v %v", err, res)
	}
	a.Close() // crash: no Commit

	a = openTestApp(t, dir)
	defer a.Close()
	info, _ := a.Info(context.Background(), &abci.InfoRequest{})
	if info.LastBlockHeight != 1 {
		t.Fatalf("Info after crash: height %d, want 1", info.LastBlockHeight)
	}
	if r := regionRoot(t, a, "north"); r.Root != root("north/0") {
		t.Fatalf("uncommitted batch survived: %+v", r)
	}
	again := block(t, a, 2, tx)
	if !bytes.Equal(again.AppHash, res.AppHash) || again.TxResults[0].Code != 0 {
		t.Fatalf("replay gave app hash %X, first run %X", again.AppHash, res.AppHash)
	}
}
