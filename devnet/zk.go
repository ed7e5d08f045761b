package devnet

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ppstore/ppstore/daemon"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/rollup"
	"github.com/ppstore/ppstore/sidechain"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wallet"
	"github.com/ppstore/ppstore/wire"
)

// The devnet's rollup (docs/ZKSTORE.md, "Devnet"): a tree of 2^zkDepth
// accounts and batches of zkBatch transfers, small enough that the one-time
// Groth16 setup costs about 20 s of CPU (42,000 constraints) and a batch is
// proven in a few seconds; a faucet (the operator's account 0) of zkFaucet units, of which
// the client receives ClientFunds and the verifier VerifierFunds, to pay
// PricePerProof per passed proof, settled every SettleEvery epochs.
const (
	zkBatch       = 2
	zkDepth       = 16
	zkFaucet      = 1_000_000_000_000
	ClientFunds   = 1_000_000
	VerifierFunds = 1_000_000_000
	PricePerProof = 10
	SettleEvery   = 6
)

// SidechainFile is DIR/sidechain.toml: the sidechain node's RPC address and
// genesis, which `ppstore wallet` reads beside client.toml.
const SidechainFile = "sidechain.toml"

// ZkKeysDir is where the devnet caches circuit keys: one directory per
// circuit version (rollup.Params.Version) under the user's cache directory
// ($XDG_CACHE_HOME or ~/.cache, then ppstore/rollup-keys), shared by every
// devnet of this user, so the Groth16 setup is paid once per machine and
// circuit version rather than once per devnet (docs/ZKSTORE.md argues the
// choice). Each devnet's chain pins the verifying key it was created with.
func ZkKeysDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "ppstore", "rollup-keys")
	}
	return filepath.Join(os.TempDir(), "ppstore-rollup-keys")
}

// verifierPayment is the verifier's payment table in a region with a
// zkStore: it pays miners from its own account (funded by fundWallets).
func verifierPayment(o Options) string {
	if o.NoZkStore {
		return ""
	}
	return fmt.Sprintf("payment.zkstore = true\npayment.price_per_proof = %d\npayment.settle_every = %d\n", PricePerProof, SettleEvery)
}

// setupKeys loads the devnet circuit's keys from ZkKeysDir, or sets them up
// there, reporting progress every few seconds while it does.
func setupKeys(params rollup.Params, log func(string, ...any)) (*rollup.Keys, error) {
	dir := ZkKeysDir()
	if _, err := os.Stat(filepath.Join(dir, params.Version())); err == nil {
		return rollup.LoadOrSetupKeys(dir, params)
	}
	log("setting up the circuit keys %s: once per machine (about 20 s of CPU; longer on a busy machine), cached in %s", params.Version(), dir)
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				log("  … compiling the circuit and running the Groth16 setup (%ds)", int(time.Since(start).Seconds()))
			}
		}
	})
	k, err := rollup.LoadOrSetupKeys(dir, params)
	close(done)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	log("circuit keys ready: %d constraints, set up in %v", k.Constraints(), time.Since(start).Round(100*time.Millisecond))
	return k, nil
}

// createZk adds a one-validator sidechain and the zkstore operator to the
// region being created: it makes the operator's account key, the circuit
// keys (cached in ZkKeysDir), the chain's genesis with the region's genesis
// root and verifying key, and the wallet keys of the verifier and the
// miners, bound to their identities (the verifier pays from its account,
// miners are paid into theirs).
func createZk(o Options, st *State, bootAddr string, addProc func(role, name string) (*Proc, string, error), common func(*strings.Builder, string, string) error) error {
	for _, p := range st.Procs {
		if p.Role != "verifier" && p.Role != "miner" {
			continue
		}
		pdir := filepath.Join(o.Dir, p.Name)
		id, err := identity.LoadOrCreate(filepath.Join(pdir, identity.KeyFile))
		if err != nil {
			return err
		}
		if _, _, err := wallet.LoadOrCreateKey(pdir, id); err != nil {
			return fmt.Errorf("devnet: %s's wallet key: %w", p.Name, err)
		}
	}
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
	keys, err := setupKeys(params, o.Log)
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
		bootAddr, zkDepth, zkBatch, ZkKeysDir(), uint64(zkFaucet), rpc, genesis)
	if err := os.WriteFile(zp.Config, []byte(b.String()), 0o600); err != nil {
		return err
	}
	sc := fmt.Sprintf("# read by ppstore wallet beside client.toml\nrpc = %q\ngenesis = %q\n", rpc, genesis)
	return os.WriteFile(filepath.Join(o.Dir, SidechainFile), []byte(sc), 0o600)
}

// procOf returns the region's process of role, nil if it has none.
func procOf(st *State, role string) *Proc {
	for i := range st.Procs {
		if st.Procs[i].Role == role {
			return &st.Procs[i]
		}
	}
	return nil
}

// operatorAddr is the running zkstore operator's address.
func operatorAddr(dir string, zk *Proc) (wire.NodeAddr, error) {
	info, err := daemon.ReadInfo(filepath.Join(dir, zk.Name))
	if err != nil {
		return wire.NodeAddr{}, err
	}
	peer, err := identity.Parse(info.Peer)
	if err != nil {
		return wire.NodeAddr{}, err
	}
	return wire.NodeAddr{Peer: peer, Addr: info.Addr}, nil
}

// fundWallets sends ClientFunds from the faucet to the client's wallet and
// VerifierFunds to the verifier's, each unless its account exists already.
func fundWallets(ctx context.Context, dir string, st *State, log func(string, ...any)) error {
	zk, sc := procOf(st, "zkstore"), procOf(st, "sidechain")
	if zk == nil || sc == nil {
		return nil
	}
	opAddr, err := operatorAddr(dir, zk)
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
	faucet := wallet.New(opKey, wallet.Binding{}, st.Region, node, nil, opAddr, nil)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := faucet.Account(ctx)
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
	type payee struct {
		name, dir string
		amount    uint64
	}
	payees := []payee{{"client", filepath.Join(dir, "client"), ClientFunds}}
	if v := procOf(st, "verifier"); v != nil {
		if _, err := os.Stat(filepath.Join(dir, v.Name, wallet.BindingFile)); err == nil {
			payees = append(payees, payee{"verifier", filepath.Join(dir, v.Name), VerifierFunds})
		}
	}
	for _, p := range payees {
		id, err := identity.LoadOrCreate(filepath.Join(p.dir, identity.KeyFile))
		if err != nil {
			return err
		}
		k, b, err := wallet.LoadOrCreateKey(p.dir, id)
		if err != nil {
			return err
		}
		w := wallet.New(k, b, st.Region, node, nil, opAddr, nil)
		if me, err := w.Account(ctx); err != nil {
			return fmt.Errorf("devnet: the %s's account: %w", p.name, err)
		} else if me.Found {
			continue // funded when the region was created
		}
		sent, err := faucet.Send(ctx, w.Address(), p.amount)
		if err != nil {
			if errors.Is(err, wire.ErrBadNonce) {
				continue // a concurrent start funded it
			}
			return fmt.Errorf("devnet: fund the %s's wallet: %w", p.name, err)
		}
		log("funded the %s's wallet %s… with %d (transfer %d)", p.name, w.Address().String()[:12], sent.Amount, sent.Seq)
	}
	return nil
}

// zkStatus fills in the accounts of the processes that have one and the
// health of the sidechain node (the region's root as its light client
// checks it) and of the zkstore operator (its own status).
func zkStatus(dir string, st *State, out []Status) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var node *transport.Node
	defer func() {
		if node != nil {
			node.Close()
		}
	}()
	for i := range out {
		s := &out[i]
		pdir := filepath.Join(dir, s.Name)
		switch s.Role {
		case "miner", "verifier":
			if data, err := os.ReadFile(filepath.Join(pdir, wallet.BindingFile)); err == nil {
				if b, err := wallet.ParseBinding(data); err == nil {
					s.Account = b.Account.String()
				}
			}
		case "zkstore":
			if _, err := os.Stat(filepath.Join(pdir, "account.key")); err == nil {
				if k, err := rollup.LoadOrCreateKeyFile(filepath.Join(pdir, "account.key")); err == nil {
					s.Account = k.Public().String()
				}
			}
			if !s.Running {
				continue
			}
			if node == nil {
				key, err := identity.Generate()
				if err != nil {
					continue
				}
				if node, err = transport.Listen(transport.Config{Key: key, RequestTimeout: 3 * time.Second}); err != nil {
					s.Health = "unknown: " + err.Error()
					continue
				}
			}
			s.Health = zkstoreHealth(ctx, dir, node, procOf(st, "zkstore"))
		case "sidechain":
			if info, err := daemon.ReadInfo(pdir); err == nil {
				s.Peer = info.Peer // CometBFT's node ID
			}
			if s.Running {
				s.Health = sidechainHealth(ctx, st.Region, procOf(st, "sidechain").Listen, filepath.Join(pdir, "config", "genesis.json"))
			}
		}
	}
}

func zkstoreHealth(ctx context.Context, dir string, node *transport.Node, zk *Proc) string {
	to, err := operatorAddr(dir, zk)
	if err != nil {
		return "not answering: " + err.Error()
	}
	var zs wire.ZkStatus
	if err := node.Call(ctx, to, &wire.GetZkStatus{}, &zs); err != nil {
		return "not answering: " + err.Error()
	}
	return fmt.Sprintf("ok: batch %d accepted, %d transfers pending", zs.ProvenBatch, zs.Pending)
}

func sidechainHealth(ctx context.Context, region, rpc, genesis string) string {
	trust, err := sidechain.TrustFromGenesisFile(genesis)
	if err != nil {
		return "unknown: " + err.Error()
	}
	c, err := sidechain.Dial(rpc, trust)
	if err != nil {
		return "not answering: " + err.Error()
	}
	root, height, err := c.Root(ctx, region)
	if err != nil {
		return "not answering: " + err.Error()
	}
	return fmt.Sprintf("ok: height %d, region root %x…, rpc %s", height, root[:6], rpc)
}
