package zkstore

import (
	"context"
	"encoding/hex"
	"net"
	"path/filepath"
	"testing"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/ppstore/ppstore/sidechain"
	"github.com/ppstore/ppstore/wallet"
)

func freeTCP(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// The operator against a real single-validator sidechain (CometBFT, the
// rollup ABCI app verifying with rollup.VerifyBatch): a wallet's transfer is
// proven, accepted by the chain, and the wallet's proven balance checks
// against the root the chain's light client reads.
func TestOperatorOnRealSidechain(t *testing.T) {
	dir := t.TempDir()
	p := startPeer(t, filepath.Join(dir, "op"))
	k, err := p.LoadKeys()
	if err != nil {
		t.Fatal(err)
	}
	genesis, _ := p.store.GenesisRoot()
	home := filepath.Join(dir, "sidechain")
	gs := sidechain.GenesisState{Regions: []sidechain.GenesisRegion{{Name: testRegion, Root: hex.EncodeToString(genesis[:]), VK: k.VerifyingKey()}}}
	if err := sidechain.InitSingle(home, "ppstore-zk-test", gs); err != nil {
		t.Fatal(err)
	}
	cons := cmtcfg.DefaultConsensusConfig()
	cons.TimeoutPropose = 300 * time.Millisecond
	cons.TimeoutPrevote, cons.TimeoutPrecommit, cons.TimeoutCommit = 100*time.Millisecond, 100*time.Millisecond, 20*time.Millisecond
	cons.CreateEmptyBlocks = false
	node, err := sidechain.NewNode(sidechain.NodeConfig{Home: home, P2PListen: freeTCP(t), RPCListen: freeTCP(t), Consensus: cons}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := node.Start(); err != nil {
		node.Close()
		t.Fatal(err)
	}
	defer node.Close()
	p.SetChain(node.Client())

	c := newClient(t)
	faucet := wallet.New(p.store.op, wallet.Binding{}, testRegion, c, nil, p.Addr(), node.Client())
	alice := newKey(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := faucet.Send(ctx, alice.Public(), 250); err != nil {
		t.Fatal(err)
	}
	if err := p.batcher.RunOnce(ctx, true); err != nil {
		t.Fatalf("batch to the sidechain: %v", err)
	}
	root, height, err := node.Client().Root(ctx, testRegion)
	if err != nil {
		t.Fatal(err)
	}
	st, err := p.store.Status()
	if err != nil {
		t.Fatal(err)
	}
	if root != st.ProvenRoot || height < 1 || st.ProvenBatch != 1 {
		t.Fatalf("chain root %x at %d, operator proven %x batch %d", root[:6], height, st.ProvenRoot[:6], st.ProvenBatch)
	}
	w := wallet.New(alice, wallet.Binding{}, testRegion, c, nil, p.Addr(), node.Client())
	b, err := w.Balance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b.Proven != 250 || b.Pending != 250 {
		t.Fatalf("alice: %+v", b)
	}
	// A stale batch (its previous root is no longer the chain's) is refused
	// by the chain itself.
	rec, _, _ := p.store.batch(p.store.db, 1)
	if _, err := node.Client().SubmitBatch(ctx, testRegion, rec.Prev, rec.Next, rec.Data, rec.Proof); err == nil {
		t.Fatal("the chain accepted a batch twice")
	}
}
