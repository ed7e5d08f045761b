package miner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ppstore/ppstore/daemon"
	"github.com/ppstore/ppstore/discover"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
)

// Peer is a running miner: its identity, store, QUIC node and registration
// at the bootstrap.
type Peer struct {
	cfg     Config
	log     *slog.Logger
	key     *identity.Key
	short   string // short peer ID, for messages
	store   *store
	metrics *metrics
	node    *transport.Node
	reg     *discover.Registrar // nil until seeds are known, or without any bootstrap
	disc    *discover.Client    // the registrar's client: finds the indexers (lease.go)
	indexerState
	access *access // private marks and revocations (access.go)
	sealer *sealer // seals stored shards, reads sealed ones (seal.go)
	prover *prover // proves sealed replicas to the verifier (prove.go)

	uploadsMu sync.Mutex
	uploads   map[identity.PeerID]int // uploads in progress per sending peer

	closeOnce sync.Once
	closeErr  error

	// Run's chores (leases, revocations, sealing) write to the store: Close
	// ends them and waits for them before it closes the store.
	life daemon.Lifetime
}

// New loads the identity, opens the store (recovering from an unclean stop)
// and binds the QUIC listener, so Addr is known on return. Serving starts
// with Run. Without bootstrap or dns_seed the miner does not register, which
// suits tests and chains built by hand.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Peer, error) {
	log, err := daemon.Prepare(&cfg, log)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("miner: data dir: %w", err)
	}
	key, err := identity.LoadOrCreate(filepath.Join(cfg.DataDir, identity.KeyFile))
	if err != nil {
		return nil, fmt.Errorf("miner: %w", err)
	}
	p := &Peer{cfg: cfg, log: log, key: key, short: key.ID().Short()}

	p.store, err = openStoreOn(cfg.fs, cfg.DataDir, "miner "+p.short, int64(cfg.Capacity), log)
	if err != nil {
		return nil, err
	}
	if p.metrics, err = newMetrics(reg, p.store); err != nil {
		p.store.Close()
		return nil, fmt.Errorf("miner: metrics: %w", err)
	}
	if p.sealer, err = newSealer(p, cfg.Proofs, reg); err != nil {
		p.store.Close()
		return nil, err
	}
	p.node, err = transport.Listen(transport.Config{Key: key, Listen: cfg.Listen, DialTimeout: cfg.dialTimeout, RequestTimeout: cfg.requestTimeout,
		IdleTimeout: cfg.quicIdle, Logger: log})
	if err != nil {
		p.store.Close()
		return nil, fmt.Errorf("miner: %w", err)
	}
	p.node.Handle(wire.TypePing, transport.Ping(wire.RoleMiner))
	p.node.Handle(wire.TypeStoreShard, p.handleStoreShard)
	p.node.Handle(wire.TypeGetPiece, p.handleGetPiece)
	p.node.Handle(wire.TypeDropShards, p.handleDropShards)
	p.node.Handle(wire.TypeGetWalletBinding, transport.Unary(p.handleGetWalletBinding)) // wallet.go
	if err := p.initAccess(reg); err != nil {
		p.Close()
		return nil, err
	}
	p.node.Handle(wire.TypePoStChallenge, p.handlePoStChallenge)
	p.node.Handle(wire.TypeRepairShard, p.handleRepairShard)
	if p.prover, err = newProver(p); err != nil {
		p.Close()
		return nil, fmt.Errorf("miner: %w", err)
	}

	if len(cfg.Bootstrap) > 0 {
		seeds, err := discover.ParseSeeds(cfg.Bootstrap)
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("miner: bootstrap: %w", err)
		}
		p.reg = p.newRegistrar(seeds)
	}
	used, free, capacity := p.store.usage()
	log.Info("miner ready", "peer", key.ID().String(), "addr", p.node.Addr().String(),
		"shards", p.store.count(), "used", used, "free", free, "capacity", capacity)
	return p, nil
}

func (p *Peer) newRegistrar(seeds []wire.NodeAddr) *discover.Registrar {
	var reg *discover.Registrar
	p.disc, reg = p.registration().Open(seeds)
	return reg
}

// registration is how this miner registers at the bootstrap: its record
// carries its free space and capacity.
func (p *Peer) registration() daemon.Registration {
	return daemon.Registration{Role: wire.RoleMiner, Region: p.cfg.Region, Addr: p.node.Addr().String(), Usage: p.fillUsage,
		TTL: p.cfg.RecordTTL, Node: p.node, Key: p.key, Log: p.log}
}

// fillRecord describes this miner for the bootstrap.
func (p *Peer) fillRecord(rec *wire.NodeRecord) { p.registration().Fill(rec) }

// fillUsage sets the record's free space and capacity, in bytes.
func (p *Peer) fillUsage(rec *wire.NodeRecord) {
	_, free, capacity := p.store.usage()
	rec.Free = uint64(free)
	rec.Capacity = uint64(capacity)
}

// Addr is the miner's peer ID and bound address.
func (p *Peer) Addr() wire.NodeAddr { return p.node.Self() }

// Run serves requests and keeps the miner registered until ctx is done or
// Close is called. After Close it returns nil at once.
func (p *Peer) Run(ctx context.Context) error { return p.life.Run(ctx, "miner", p.run) }

// run is Run once the lifetime has started: it serves, registers and runs
// the chores.
func (p *Peer) run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return p.store.db.Watch(gctx) }) // a database that stopped stops the miner
	g.Go(func() error { return p.node.Serve(gctx) })
	g.Go(func() error { return p.register(gctx) })
	g.Go(func() error { return p.runLeases(gctx) })
	g.Go(func() error { return p.access.run(gctx) })
	if p.cfg.BenchKeepUnsealed {
		p.log.Warn("bench_keep_unsealed is set: this miner never seals or proves its replicas (a benchmark baseline, not a real miner)")
	}
	if !p.cfg.sealOff && !p.cfg.BenchKeepUnsealed {
		g.Go(func() error { return p.sealer.Run(gctx) })
	}
	return g.Wait()
}

// register runs the registrar, first finding the bootstraps through DNS if
// that is how they are configured.
func (p *Peer) register(ctx context.Context) error {
	reg := p.reg
	if reg == nil && p.cfg.DNSSeed != "" {
		for wait := time.Second; reg == nil; wait = min(2*wait, time.Minute) {
			seeds, err := discover.SeedsFromDNS(ctx, net.DefaultResolver, p.cfg.DNSSeed)
			if err == nil && len(seeds) == 0 {
				err = errors.New("no bootstrap records")
			}
			if err == nil {
				reg = p.newRegistrar(seeds)
				break
			}
			p.log.Warn("cannot find the bootstraps through DNS; retrying", "domain", p.cfg.DNSSeed, "err", err, "in", wait)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
		}
	}
	if reg == nil {
		p.log.Info("no bootstrap configured: not registering")
		return nil
	}
	if err := reg.Run(ctx); err != nil && ctx.Err() == nil {
		return fmt.Errorf("miner: registration: %w", err)
	}
	return nil
}

// Close stops serving, waits for requests in progress and closes the store.
// It may be called more than once.
func (p *Peer) Close() error {
	p.closeOnce.Do(func() {
		p.life.Stop()
		p.node.Close()
		p.life.Wait() // no chore writes to the store after this
		if p.sealer != nil {
			p.sealer.close() // before the store: a seal in progress writes to it
		}
		p.closeErr = p.store.Close()
	})
	return p.closeErr
}
