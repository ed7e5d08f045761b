package wallet_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/rollup"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wallet"
	"github.com/ppstore/ppstore/wire"
	"github.com/ppstore/ppstore/zkstore"
)

// memChain keeps one root per region and accepts a batch only from the
// current root with a proof rollup.VerifyBatch accepts: the sidechain's
// contract, in memory.
type memChain struct {
	mu     sync.Mutex
	vk     []byte
	roots  map[string][32]byte
	height int64
	lie    *[32]byte // if set, Root answers it
}

func (c *memChain) SubmitBatch(_ context.Context, region string, prev, next [32]byte, data, proof []byte) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.roots[region] != prev {
		return 0, errors.New("wrong previous root")
	}
	if err := rollup.VerifyBatch(c.vk, prev, next, data, proof); err != nil {
		return 0, err
	}
	c.height++
	c.roots[region] = next
	return c.height, nil
}

func (c *memChain) Root(_ context.Context, region string) ([32]byte, int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lie != nil {
		return *c.lie, c.height, nil
	}
	return c.roots[region], c.height, nil
}

// A wallet funded by the operator's faucet sends to a new key; balances are
// pending until the batch is accepted, then proven against the chain's root;
// a chain root the operator's answer does not match is refused.
func TestWalletAgainstOperator(t *testing.T) {
	const region = "wallet-test"
	dir := t.TempDir()
	cfg := zkstore.Config{DataDir: filepath.Join(dir, "op"), Region: region, Depth: 8, BatchSize: 2,
		KeysDir: filepath.Join(os.TempDir(), "ppstore-rollup-test-keys"), BatchWait: time.Hour, RoundInterval: time.Hour, Faucet: 1000}
	op, err := zkstore.New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- op.Node().Serve(ctx) }()
	defer func() { cancel(); <-served; op.Close() }()
	keys, err := op.LoadKeys()
	if err != nil {
		t.Fatal(err)
	}
	genesis, _ := op.Store().GenesisRoot()
	chain := &memChain{vk: keys.VerifyingKey(), roots: map[string][32]byte{region: genesis}}
	op.SetChain(chain)

	node, err := transport.Listen(transport.Config{Key: identity.FromSeed(bytes.Repeat([]byte{5}, 32)), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	// The faucet is a wallet over the operator's own account key.
	opKey, err := rollup.LoadOrCreateKeyFile(filepath.Join(cfg.DataDir, zkstore.AccountKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	faucet := wallet.New(opKey, wallet.Binding{}, region, node, nil, op.Addr(), chain)
	aliceKey, aliceBinding, err := wallet.LoadOrCreateKey(filepath.Join(dir, "alice"), identity.FromSeed(bytes.Repeat([]byte{6}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	alice := wallet.New(aliceKey, aliceBinding, region, node, nil, op.Addr(), chain)
	bob, _ := rollup.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{7}, 64)))

	// A wallet nobody paid yet has no account: both balances 0, no error.
	if b, err := alice.Balance(ctx); err != nil || b.Found || b.Pending != 0 || b.Proven != 0 {
		t.Fatalf("balance of a wallet without an account: %+v, %v", b, err)
	}
	if _, err := alice.Send(ctx, bob.Public(), 1); !errors.Is(err, wallet.ErrNoAccount) {
		t.Fatalf("send from an empty wallet: %v", err)
	}
	if _, err := faucet.Send(ctx, alice.Address(), 500); err != nil {
		t.Fatal(err)
	}
	sent, err := alice.Send(ctx, bob.Public(), 120)
	if err != nil {
		t.Fatal(err)
	}
	if sent.To != 2 || sent.From != 1 {
		t.Fatalf("send: %+v", sent)
	}
	if _, err := alice.Send(ctx, bob.Public(), 1000); !errors.Is(err, wire.ErrInsufficientBalance) {
		t.Fatalf("overdraft: %v", err)
	}
	b, err := alice.Balance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b.Pending != 380 || b.Proven != 0 {
		t.Fatalf("before the batch: %+v", b)
	}
	if err := op.Batcher().RunOnce(ctx, true); err != nil {
		t.Fatal(err)
	}
	if b, err = alice.Balance(ctx); err != nil {
		t.Fatal(err)
	}
	if b.Pending != 380 || b.Proven != 380 || b.ProvenBatch != 1 {
		t.Fatalf("after the batch: %+v", b)
	}
	h, err := alice.History(ctx, 0)
	if err != nil || len(h) != 2 || h[0].Amount != 120 || h[0].Batch != 1 {
		t.Fatalf("history: %+v %v", h, err)
	}

	// A chain root the operator's proof was not made against: refused.
	lie := genesis
	chain.mu.Lock()
	chain.lie = &lie
	chain.mu.Unlock()
	short, cancelShort := context.WithTimeout(ctx, 10*time.Second)
	defer cancelShort()
	if _, err := alice.Balance(short); !errors.Is(err, wallet.ErrRootNotAccepted) {
		t.Fatalf("balance against a root the operator did not prove: %v", err)
	}
}
