package zkstore

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ppstore/ppstore/daemon"
	"github.com/ppstore/ppstore/discover"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/rollup"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
)

// AccountKeyFile is the operator's rollup account key (account 0, the
// genesis faucet, which also signs padding transfers), beside its identity.
const AccountKeyFile = "account.key"

// GenesisFile is written into the data directory once the circuit keys are
// ready: what the sidechain's genesis needs for this region (GenesisInfo).
const GenesisFile = "genesis.json"

// GenesisInfo is the content of GenesisFile.
type GenesisInfo struct {
	Region       string `json:"region"`
	Depth        int    `json:"tree_depth"`
	BatchSize    int    `json:"batch_size"`
	GenesisRoot  string `json:"genesis_root"`  // hex
	VerifyingKey string `json:"verifying_key"` // hex of gnark's WriteTo bytes
	OperatorKey  string `json:"operator_key"`  // hex of account 0's public key
}

// Peer is a running operator: its store, its batcher and its QUIC node.
type Peer struct {
	cfg     Config
	log     *slog.Logger
	key     *identity.Key
	store   *Store
	batcher *Batcher
	node    *transport.Node
	metrics *metrics
	self    wire.NodeAddr

	client    *discover.Client
	registrar *discover.Registrar

	life      daemon.Lifetime // Close waits for Run's chores before closing the store
	closeOnce sync.Once
	closeErr  error
}

// New loads the identity and the operator's account key, opens the store
// (writing the genesis on first start) and binds the transport. The circuit
// keys are loaded (or generated, which takes minutes for the default batch of 21) by
// Run, so transfers are accepted meanwhile.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (_ *Peer, err error) {
	if log, err = daemon.Prepare(&cfg, log); err != nil {
		return nil, err
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	if cfg.KeysDir == "" {
		cfg.KeysDir = filepath.Join(cfg.DataDir, "keys")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("zkstore: data_dir: %w", err)
	}
	p := &Peer{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	if p.key, err = identity.LoadOrCreate(filepath.Join(cfg.DataDir, identity.KeyFile)); err != nil {
		return nil, err
	}
	op, err := rollup.LoadOrCreateKeyFile(filepath.Join(cfg.DataDir, AccountKeyFile))
	if err != nil {
		return nil, err
	}
	if p.store, err = OpenStore(filepath.Join(cfg.DataDir, "db"), cfg.Params(), cfg.Region, op, cfg.Faucet); err != nil {
		return nil, err
	}
	if p.metrics, err = newMetrics(reg, p.store); err != nil {
		return nil, fmt.Errorf("zkstore: metrics: %w", err)
	}
	p.batcher = newBatcher(p.store, cfg.Region, log, p.metrics, cfg.BatchWait, cfg.RoundInterval)
	if p.node, p.self, err = daemon.Listen(transport.Config{Key: p.key, Listen: cfg.Listen, Logger: log}, cfg.Advertise); err != nil {
		return nil, err
	}

	p.client, p.registrar, err = daemon.Registration{Role: wire.RoleZkStore, Region: cfg.Region, Addr: p.self.Addr,
		Bootstrap: cfg.Bootstrap, DNSSeed: cfg.DNSSeed, TTL: cfg.RecordTTL, Node: p.node, Key: p.key, Log: log}.Register()
	if err != nil {
		return nil, fmt.Errorf("zkstore: dns_seed: %w", err)
	}
	if p.registrar == nil {
		log.Warn("no bootstrap configured (bootstrap or dns_seed): clients cannot find this operator")
	}

	p.node.Handle(wire.TypePing, transport.Ping(wire.RoleZkStore))
	p.node.Handle(wire.TypeSubmitTransfer, transport.Unary(p.handleSubmit))
	p.node.Handle(wire.TypeGetAccount, transport.Unary(p.handleGetAccount))
	p.node.Handle(wire.TypeGetZkStatus, transport.Unary(p.handleStatus))
	p.node.Handle(wire.TypeGetHistory, transport.Unary(p.handleHistory))
	return p, nil
}

// Addr is where the operator answers.
func (p *Peer) Addr() wire.NodeAddr { return p.self }

// Node is the operator's transport node.
func (p *Peer) Node() *transport.Node { return p.node }

// Store is the operator's store.
func (p *Peer) Store() *Store { return p.store }

// Batcher is the operator's batch chore.
func (p *Peer) Batcher() *Batcher { return p.batcher }

// SetChain connects the operator to the sidechain; call before Run. Without a
// chain, batches are sealed and proven but not submitted.
func (p *Peer) SetChain(c Chain) { p.batcher.setChain(c) }

// LoadKeys loads or generates the circuit keys and writes GenesisFile. Run
// calls it; tests call it to wait for the keys.
func (p *Peer) LoadKeys() (*rollup.Keys, error) {
	start := time.Now()
	k, err := rollup.LoadOrSetupKeys(p.cfg.KeysDir, p.cfg.Params())
	if err != nil {
		return nil, err
	}
	root, err := p.store.GenesisRoot()
	if err != nil {
		return nil, err
	}
	pub := p.store.op.Public()
	info := GenesisInfo{Region: p.cfg.Region, Depth: p.cfg.Depth, BatchSize: p.cfg.BatchSize,
		GenesisRoot: hex.EncodeToString(root[:]), VerifyingKey: hex.EncodeToString(k.VerifyingKey()), OperatorKey: pub.String()}
	b, _ := json.MarshalIndent(info, "", "  ")
	tmp := filepath.Join(p.cfg.DataDir, GenesisFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, filepath.Join(p.cfg.DataDir, GenesisFile)); err != nil {
		return nil, err
	}
	p.batcher.setKeys(k)
	p.log.Info("circuit keys ready", "circuit", p.cfg.Params().Version(), "constraints", k.Constraints(), "took", time.Since(start).Round(time.Millisecond))
	return k, nil
}

// Run serves requests, loads the circuit keys and runs the batcher until ctx
// is done.
func (p *Peer) Run(ctx context.Context) error { return p.life.Run(ctx, "zkstore", p.run) }

// run is Run once the lifetime has started: it serves, loads the keys and
// runs the batcher.
func (p *Peer) run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return p.node.Serve(gctx) })
	g.Go(func() error {
		if _, err := p.LoadKeys(); err != nil {
			return fmt.Errorf("zkstore: circuit keys: %w", err)
		}
		return nil
	})
	g.Go(func() error { return p.batcher.Run(gctx) })
	g.Go(func() error { return p.store.db.Watch(gctx) }) // a database that stopped stops the zkstore
	if p.registrar != nil {
		g.Go(func() error { return p.registrar.Run(gctx) })
	}
	return g.Wait()
}

// Close stops the transport (waiting for running handlers) and closes the
// store. It is idempotent.
func (p *Peer) Close() error {
	p.closeOnce.Do(func() {
		p.life.Stop() // the batch chore ends before the store closes
		var errs []error
		if p.node != nil {
			errs = append(errs, p.node.Close())
		}
		p.life.Wait()
		if p.batcher != nil {
			// Wait for a round in progress to end before closing the store.
			p.batcher.mu.Lock()
			defer p.batcher.mu.Unlock()
		}
		if p.store != nil {
			errs = append(errs, p.store.Close())
		}
		p.closeErr = errors.Join(errs...)
	})
	return p.closeErr
}
