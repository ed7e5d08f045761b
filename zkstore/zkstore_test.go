package zkstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ppstore/ppstore/rollup"
	"github.com/ppstore/ppstore/wire"
)

// Transfers over the transport: accepted ones are acknowledged with a seq,
// every bad one is refused with its own code and changes nothing.
func TestSubmitOverTransport(t *testing.T) {
	p := startPeer(t, t.TempDir())
	c := newClient(t)
	op := p.store.op
	alice, bob := newKey(t), newKey(t)

	var acc wire.TransferAccepted
	if err := call(t, c, p.Addr(), submitMsg(t, op, testRegion, rollup.Transfer{From: 0, To: 1, Amount: 100, Nonce: 0, ToKey: alice.Public()}), &acc); err != nil {
		t.Fatalf("faucet transfer: %v", err)
	}
	if acc.Seq != 1 {
		t.Fatalf("seq %d, want 1", acc.Seq)
	}
	var before wire.ZkStatus
	if err := call(t, c, p.Addr(), &wire.GetZkStatus{}, &before); err != nil {
		t.Fatal(err)
	}

	badSig := submitMsg(t, alice, testRegion, rollup.Transfer{From: 1, To: 0, Amount: 10, Nonce: 0, ToKey: op.Public()})
	badSig.Signature[5] ^= 1
	forged := submitMsg(t, bob, testRegion, rollup.Transfer{From: 1, To: 0, Amount: 10, Nonce: 0, ToKey: op.Public()})
	otherRegionSig := submitMsg(t, alice, "elsewhere", rollup.Transfer{From: 1, To: 0, Amount: 10, Nonce: 0, ToKey: op.Public()})
	otherRegionSig.Region = testRegion
	wrongRegion := submitMsg(t, alice, "elsewhere", rollup.Transfer{From: 1, To: 0, Amount: 10, Nonce: 0, ToKey: op.Public()})
	replay := submitMsg(t, op, testRegion, rollup.Transfer{From: 0, To: 1, Amount: 100, Nonce: 0, ToKey: alice.Public()})
	overdraft := submitMsg(t, alice, testRegion, rollup.Transfer{From: 1, To: 0, Amount: 101, Nonce: 0, ToKey: op.Public()})
	badKey := submitMsg(t, alice, testRegion, rollup.Transfer{From: 1, To: 0, Amount: 1, Nonce: 0, ToKey: op.Public()})
	badKey.ToKey = [32]byte{1, 2, 3}
	wrongReceiver := submitMsg(t, alice, testRegion, rollup.Transfer{From: 1, To: 0, Amount: 1, Nonce: 0, ToKey: bob.Public()})
	cases := []struct {
		name string
		req  *wire.SubmitTransfer
		want error
	}{
		{"flipped signature bit", badSig, wire.ErrBadSignature},
		{"signed by another key", forged, wire.ErrBadSignature},
		{"signed for another region", otherRegionSig, wire.ErrBadSignature},
		{"sent to another region's operator", wrongRegion, wire.ErrWrongRegion},
		{"replayed nonce", replay, wire.ErrBadNonce},
		{"overdraft", overdraft, wire.ErrInsufficientBalance},
		{"receiver key not a curve point", badKey, wire.ErrBadRequest},
		{"receiver index holds another key", wrongReceiver, wire.ErrConflict},
	}
	for _, tc := range cases {
		err := call(t, c, p.Addr(), tc.req, &acc)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	var after wire.ZkStatus
	if err := call(t, c, p.Addr(), &wire.GetZkStatus{}, &after); err != nil {
		t.Fatal(err)
	}
	if after.PendingRoot != before.PendingRoot || after.Pending != 1 {
		t.Fatalf("refused transfers changed the state: pending %d", after.Pending)
	}

	// The account by key, and its history.
	var st wire.AccountState
	if err := call(t, c, p.Addr(), &wire.GetAccount{Region: testRegion, ByKey: true, Key: alice.Public()}, &st); err != nil {
		t.Fatal(err)
	}
	if !st.Found || st.Index != 1 || st.Balance != 100 || st.ProvenFound || st.NextFree != 2 {
		t.Fatalf("alice: %+v", st)
	}
	var h wire.History
	if err := call(t, c, p.Addr(), &wire.GetHistory{Region: testRegion, Index: 1}, &h); err != nil {
		t.Fatal(err)
	}
	if len(h.Entries) != 1 || h.Entries[0].Amount != 100 || h.Entries[0].Batch != 0 {
		t.Fatalf("history: %+v", h.Entries)
	}
}

// Batches are sealed, proven, verified by the chain and reflected in the
// proven tree, whose path for an account checks against the chain's root.
func TestBatchProvenAndAccepted(t *testing.T) {
	p := startPeer(t, t.TempDir())
	k, err := p.LoadKeys()
	if err != nil {
		t.Fatal(err)
	}
	genesis, _ := p.store.GenesisRoot()
	chain := &fakeChain{vk: k.VerifyingKey(), roots: map[string][32]byte{testRegion: genesis}}
	p.SetChain(chain)
	alice := newKey(t)
	for i, amt := range []uint64{100, 50, 25} {
		st, _ := rollup.Sign(p.store.op, rollup.RegionTag(testRegion), rollup.Transfer{From: 0, To: 1, Amount: amt, Nonce: uint64(i), ToKey: alice.Public()})
		if _, _, err := p.store.Accept(st); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Not forced: one full batch goes, the third transfer waits.
	if err := p.batcher.RunOnce(ctx, false); err != nil {
		t.Fatal(err)
	}
	st, err := p.store.AccountState(false, 1, rollup.PublicKey{})
	if err != nil {
		t.Fatal(err)
	}
	if st.ProvenBalance != 150 || st.Balance != 175 || st.ProvenBatch != 1 {
		t.Fatalf("after batch 1: %+v", st)
	}
	root, _, _ := chain.Root(ctx, testRegion)
	if err := rollup.VerifyAccount(root, rollup.Account{Index: 1, Key: alice.Public(), Balance: st.ProvenBalance, Nonce: st.ProvenNonce}, st.Path); err != nil {
		t.Fatalf("proven account against the chain's root: %v", err)
	}
	// Forced: the partial batch is padded by the operator and goes too.
	if err := p.batcher.RunOnce(ctx, true); err != nil {
		t.Fatal(err)
	}
	status, err := p.store.Status()
	if err != nil {
		t.Fatal(err)
	}
	if status.ProvenBatch != 2 || status.Pending != 0 || status.LastState != wire.BatchAccepted || status.LastSize != 2 || status.LastProofMs == 0 {
		t.Fatalf("status after batch 2: %+v", status)
	}
	if root, _, _ := chain.Root(ctx, testRegion); root != status.ProvenRoot || root != status.PendingRoot {
		t.Fatal("chain, proven and pending roots differ after every batch went")
	}
	if chain.submits != 2 {
		t.Fatalf("%d submissions, want 2", chain.submits)
	}
}

// An operator closed after sealing a batch, and again after the chain
// accepted a batch but before the operator recorded it, resumes: every
// acknowledged transfer is applied once, and no batch is submitted twice.
func TestRestartMidBatch(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	p, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := p.LoadKeys()
	if err != nil {
		t.Fatal(err)
	}
	genesis, _ := p.store.GenesisRoot()
	chain := &fakeChain{vk: k.VerifyingKey(), roots: map[string][32]byte{testRegion: genesis}}
	alice := newKey(t)
	tag := rollup.RegionTag(testRegion)
	for i := 0; i < 4; i++ {
		st, _ := rollup.Sign(p.store.op, tag, rollup.Transfer{From: 0, To: 1, Amount: 10, Nonce: uint64(i), ToKey: alice.Public()})
		if _, _, err := p.store.Accept(st); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := p.store.Cut(false, time.Hour); err != nil || n != 2 {
		t.Fatalf("cut: %d %v", n, err)
	}
	p.Close() // sealed, not proven

	p, err = New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.LoadKeys(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Prove both, then play a crash between the chain's acceptance of batch
	// 1 and the operator's record of it.
	if err := p.batcher.RunOnce(ctx, false); err != nil {
		t.Fatal(err)
	}
	rec, ok, err := p.store.batch(p.store.db, 1)
	if err != nil || !ok || rec.State != wire.BatchProven {
		t.Fatalf("batch 1: %+v %v", rec, err)
	}
	if _, err := chain.SubmitBatch(ctx, testRegion, rec.Prev, rec.Next, rec.Data, rec.Proof); err != nil {
		t.Fatal(err)
	}
	p.Close()

	p, err = New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.LoadKeys(); err != nil {
		t.Fatal(err)
	}
	p.SetChain(chain)
	if err := p.batcher.RunOnce(ctx, false); err != nil {
		t.Fatal(err)
	}
	if chain.submits != 2 {
		t.Fatalf("%d submissions, want 2 (batch 1 once, batch 2 once)", chain.submits)
	}
	st, err := p.store.AccountState(false, 1, rollup.PublicKey{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Balance != 40 || st.ProvenBalance != 40 || st.ProvenBatch != 2 {
		t.Fatalf("alice after restarts: %+v", st)
	}
}
