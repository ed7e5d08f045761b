package devnet

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ppstore/ppstore/daemon"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/rollup"
	"github.com/ppstore/ppstore/sidechain"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wallet"
	"github.com/ppstore/ppstore/wire"
)

// The devnet's rollup: batches of zkBatch transfers (small, so a transfer is
// proven within seconds), a tree of 2^zkDepth accounts, a faucet (the
// operator's account 0) of zkFaucet units, of which the client receives
// ClientFunds when the region is created.
const (
	zkBatch     = 4
	zkDepth     = 20
	zkFaucet    = 1_000_000_000_000
	ClientFunds = 1_000_000
)

// SidechainFile is DIR/sidechain.toml: the sidechain node's RPC address and
// genesis, which `ppstore wallet` reads beside client.toml.
const SidechainFile = "sidechain.toml"

// zkKeysDir caches the circuit keys across devnets (a setup takes a while;
// each devnet's chain pins the verifying key it was created with).
func zkKeysDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "ppstore", "rollup-keys")
	}
	return filepath.Join(os.TempDir(), "ppstore-rollup-keys")
}

// createZk adds a one-validator sidechain and the zkstore operator to the
// region being created: it makes the operator's account key, the circuit
// keys (cached in zkKeysDir) and the chain's genesis with the region's
// genesis root and verifying key.
func createZk(o Options, st *State, bootAddr string, addProc func(role, name string) (*Proc, string, error), common func(*strings.Builder, string, string) error) error {
	p2p, err := freeTCPAddr()
	if err != nil {
		return err
	}
	rpc, err := freeTCPAddr()
	if err != nil {
		return err
	}
	sp, sdir, err := addProc("sidechain", "sidechain")
	if err != nil {
		return err
	}
	sp.Args = []string{"start", "--home", sdir, "--p2p", p2p, "--rpc", rpc}
	sp.Config = ""
	sp.Listen = rpc

	zp, zdir, err := addProc("zkstore", "zkstore")
	if err != nil {
		return err
	}
	op, err := rollup.LoadOrCreateKeyFile(filepath.Join(zdir, "account.key"))
	if err != nil {
		return err
	}
	params := rollup.Params{Depth: zkDepth, BatchSize: zkBatch}
	o.Log("circuit keys for %s (the first devnet on this machine sets them up; this takes a minute)", params.Version())
	keys, err := rollup.LoadOrSetupKeys(zkKeysDir(), params)
	if err != nil {
		return err
	}
	root, err := rollup.GenesisRoot(zkDepth, []rollup.Account{{Index: 0, Key: op.Public(), Balance: zkFaucet}})
	if err != nil {
		return err
	}
	gs := sidechain.GenesisState{Regions: []sidechain.GenesisRegion{{Name: o.Region, Root: hex.EncodeToString(root[:]), VK: keys.VerifyingKey()}}}
	if err := sidechain.InitSingle(sdir, "ppstore-devnet", gs); err != nil {
		return err
	}
	genesis := filepath.Join(sdir, "config", "genesis.json")
	var b strings.Builder
	if err := common(&b, zdir, zp.Listen); err != nil {
		return err
	}
	fmt.Fprintf(&b, "bootstrap = [%q]\ntree_depth = %d\nbatch_size = %d\nbatch_wait = \"5s\"\nkeys_dir = %q\nfaucet = %d\nsidechain_rpc = %q\nsidechain_genesis = %q\n",
		bootAddr, zkDepth, zkBatch, zkKeysDir(), uint64(zkFaucet), rpc, genesis)
	if err := os.WriteFile(zp.Config, []byte(b.String()), 0o600); err != nil {
		return err
	}
	sc := fmt.Sprintf("# read by ppstore wallet beside client.toml\nrpc = %q\ngenesis = %q\n", rpc, genesis)
	return os.WriteFile(filepath.Join(o.Dir, SidechainFile), []byte(sc), 0o600)
}

// fundClient sends ClientFunds from the faucet to the client's wallet unless
// its account exists already.
func fundClient(ctx context.Context, dir string, st *State, log func(string, ...any)) error {
	var zk, sc *Proc
	for i := range st.Procs {
		switch st.Procs[i].Role {
		case "zkstore":
			zk = &st.Procs[i]
		case "sidechain":
			sc = &st.Procs[i]
		}
	}
	if zk == nil || sc == nil {
		return nil
	}
	info, err := daemon.ReadInfo(filepath.Join(dir, zk.Name))
	if err != nil {
		return err
	}
	peer, err := identity.Parse(info.Peer)
	if err != nil {
		return err
	}
	opAddr := wire.NodeAddr{Peer: peer, Addr: info.Addr}
	cdir := filepath.Join(dir, "client")
	id, err := identity.LoadOrCreate(filepath.Join(cdir, identity.KeyFile))
	if err != nil {
		return err
	}
	ck, cb, err := wallet.LoadOrCreateKey(cdir, id)
	if err != nil {
		return err
	}
	opKey, err := rollup.LoadOrCreateKeyFile(filepath.Join(dir, zk.Name, "account.key"))
	if err != nil {
		return err
	}
	key, err := identity.Generate()
	if err != nil {
		return err
	}
	node, err := transport.Listen(transport.Config{Key: key, RequestTimeout: 10 * time.Second})
	if err != nil {
		return err
	}
	defer node.Close()
	client := wallet.New(ck, cb, st.Region, node, nil, opAddr, nil)
	faucet := wallet.New(opKey, wallet.Binding{}, st.Region, node, nil, opAddr, nil)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := client.History(ctx, 1)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("devnet: zkstore operator not answering: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	if h, _ := client.History(ctx, 1); len(h) > 0 {
		return nil // funded when the region was created
	}
	sent, err := faucet.Send(ctx, client.Address(), ClientFunds)
	if err != nil {
		if errors.Is(err, wire.ErrBadNonce) {
			return nil // a concurrent start funded it
		}
		return fmt.Errorf("devnet: fund the client's wallet: %w", err)
	}
	log("funded the client's wallet %s… with %d (transfer %d)", client.Address().String()[:12], sent.Amount, sent.Seq)
	return nil
}
