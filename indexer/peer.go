package indexer

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

	"github.com/cockroachdb/pebble/vfs"
	"github.com/ppstore/ppstore/daemon"
	"github.com/ppstore/ppstore/discover"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
)

// GCPercent is the GOGC the indexer binary runs with when the GOGC
// environment variable is not set. The indexer's Go heap is small (pebble
// keeps its block cache and memtables outside it) while every Locate answer
// allocates some 60 KB, so the default of 100 starts a collection every few
// dozen requests and those collections dominate Locate's p99; 400 makes them
// four times rarer for a few more MB of heap (see TestLocateP99).
const GCPercent = 400

// Config configures an indexer. The zero value of every field but DataDir
// means its default.
type Config struct {
	DataDir     string   `toml:"data_dir"`
	Listen      string   `toml:"listen"`       // UDP host:port; default "127.0.0.1:0"
	Advertise   string   `toml:"advertise"`    // host:port published at the bootstrap; default the bound address
	Region      string   `toml:"region"`       // miner records of another region are ignored
	MetricsAddr string   `toml:"metrics_addr"` // empty: no metrics endpoint
	LogLevel    string   `toml:"log_level"`    // default "info"
	Bootstrap   []string `toml:"bootstrap"`    // "peerID@host:port" of the region's bootstraps
	DNSSeed     string   `toml:"dns_seed"`     // domain whose _ppstore TXT records list bootstraps

	RefreshInterval time.Duration `toml:"refresh_interval"` // how often the live miners are pulled; default 2s
	RecordTTL       time.Duration `toml:"record_ttl"`       // lifetime of the indexer's own record; default 1m
	UploadLease     time.Duration `toml:"upload_lease"`     // life of a put's reservations after its last request; default 1m (docs/LEASES.md)
	DropInterval    time.Duration `toml:"drop_interval"`    // how often replicas of removed files are retried at their miners; default 30s

	fs vfs.FS // the index's file system; nil: the operating system's (tests fail it with internal/faultfs)
}

// EnsureDefaults fills zero fields with their defaults.
func (c *Config) EnsureDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.RefreshInterval <= 0 {
		c.RefreshInterval = 2 * time.Second
	}
	if c.RecordTTL <= 0 {
		c.RecordTTL = time.Minute
	}
	if c.UploadLease <= 0 {
		c.UploadLease = DefaultUploadLease
	}
	if c.DropInterval <= 0 {
		c.DropInterval = 30 * time.Second
	}
}

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("indexer: data_dir is required")
	}
	if _, err := net.ResolveUDPAddr("udp", c.Listen); err != nil {
		return fmt.Errorf("indexer: listen %q: %v", c.Listen, err)
	}
	if c.Advertise != "" {
		if _, _, err := net.SplitHostPort(c.Advertise); err != nil {
			return fmt.Errorf("indexer: advertise %q: want host:port: %v", c.Advertise, err)
		}
	}
	if _, err := discover.ParseSeeds(c.Bootstrap); err != nil {
		return fmt.Errorf("indexer: bootstrap: %w", err)
	}
	if c.RefreshInterval < 0 || c.RecordTTL < 0 {
		return errors.New("indexer: refresh_interval and record_ttl must be positive")
	}
	if c.RecordTTL > 0 && c.RecordTTL < 3*time.Second {
		return fmt.Errorf("indexer: record_ttl %v is too short; use at least 3s", c.RecordTTL)
	}
	return nil
}

// Peer is a running indexer: its index, its placer, its QUIC node and the
// chores that keep its record and its miner list fresh.
type Peer struct {
	cfg     Config
	log     *slog.Logger
	key     *identity.Key
	store   *Store
	placer  *Placer
	node    *transport.Node
	metrics *metrics
	self    wire.NodeAddr

	client    *discover.Client    // nil without bootstraps
	registrar *discover.Registrar // nil without bootstraps

	leases   *leases
	dropKick chan struct{}

	refreshMu sync.Mutex
	failing   bool // last miner refresh failed (log once per outage)

	verifierMu    sync.Mutex
	verifiers     map[identity.PeerID]bool // the region's verifiers at the bootstrap (proven.go)
	verifierAsked time.Time                // last pull of the verifiers on a miss

	life      daemon.Lifetime // Close waits for Run's chores before closing the store
	closeOnce sync.Once
	closeErr  error
}

// New loads the identity, opens the index and binds the transport.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (_ *Peer, err error) {
	if log, err = daemon.Prepare(&cfg, log); err != nil {
		return nil, err
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("indexer: data_dir: %w", err)
	}
	p := &Peer{cfg: cfg, log: log, placer: NewPlacer(), leases: newLeases(cfg.UploadLease), dropKick: make(chan struct{}, 1)}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	if p.key, err = identity.LoadOrCreate(filepath.Join(cfg.DataDir, identity.KeyFile)); err != nil {
		return nil, err
	}
	if p.store, err = OpenStore(filepath.Join(cfg.DataDir, "db"), StoreOptions{Logger: log.With("component", "pebble"), FS: cfg.fs}); err != nil {
		return nil, err
	}
	if p.metrics, err = newMetrics(reg, p.store, p.placer); err != nil {
		return nil, fmt.Errorf("indexer: metrics: %w", err)
	}
	if p.node, p.self, err = daemon.Listen(transport.Config{Key: p.key, Listen: cfg.Listen, Logger: log}, cfg.Advertise); err != nil {
		return nil, err
	}
	if ip := p.node.Addr().IP; cfg.Advertise == "" && ip.IsUnspecified() {
		log.Warn("listening on an unspecified address; set advertise so miners and clients can reach this indexer", "addr", p.self.Addr)
	}

	p.client, p.registrar, err = daemon.Registration{Role: wire.RoleIndexer, Region: cfg.Region, Addr: p.self.Addr,
		Bootstrap: cfg.Bootstrap, DNSSeed: cfg.DNSSeed, TTL: cfg.RecordTTL, Node: p.node, Key: p.key, Log: log}.Register()
	if err != nil {
		return nil, fmt.Errorf("indexer: dns_seed: %w", err)
	}
	if p.registrar == nil {
		log.Warn("no bootstrap configured (bootstrap or dns_seed): this indexer is not discoverable and knows no miners")
	}

	p.node.Handle(wire.TypePing, transport.Ping(wire.RoleIndexer))
	p.node.Handle(wire.TypePlace, transport.Unary(p.handlePlace))
	p.node.Handle(wire.TypeCommit, p.serveCommit)
	p.node.Handle(wire.TypeLocate, transport.Unary(p.handleLocate))
	p.node.Handle(wire.TypeListFiles, transport.Unary(p.handleListFiles))
	p.node.Handle(wire.TypeReserve, transport.Unary(p.handleReserve))
	p.node.Handle(wire.TypeShardStored, transport.Unary(p.handleShardStored))
	p.node.Handle(wire.TypeLeaseCheck, transport.Unary(p.handleLeaseCheck))
	p.node.Handle(wire.TypeRemove, transport.Unary(p.handleRemove))
	p.handleShare() // private.go
	// proof status from the verifier (proven.go)
	p.node.Handle(wire.TypeReplicaProven, transport.Unary(p.handleReplicaProven))
	p.node.Handle(wire.TypeReplicaReplace, transport.Unary(p.handleReplicaReplace))
	return p, nil
}

// Addr is where the indexer answers.
func (p *Peer) Addr() wire.NodeAddr { return p.self }

// Node is the indexer's transport node.
func (p *Peer) Node() *transport.Node { return p.node }

// Store is the indexer's index.
func (p *Peer) Store() *Store { return p.store }

// Placer is the indexer's placer.
func (p *Peer) Placer() *Placer { return p.placer }

// Run serves requests and runs the chores until ctx is done.
func (p *Peer) Run(ctx context.Context) error { return p.life.Run(ctx, "indexer", p.run) }

// run is Run once the lifetime has started: it serves and runs the chores.
func (p *Peer) run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return p.node.Serve(gctx) })
	g.Go(func() error { return p.runDrops(gctx, p.cfg.DropInterval) })
	g.Go(func() error { return p.store.db.Watch(gctx) }) // a database that stopped stops the indexer
	if p.registrar != nil {
		g.Go(func() error { return p.registrar.Run(gctx) })
		g.Go(func() error { return p.runRefresh(gctx) })
	}
	return g.Wait()
}

// Close stops the transport (waiting for running handlers) and closes the
// index. It is idempotent.
func (p *Peer) Close() error {
	p.closeOnce.Do(func() {
		p.life.Stop() // Run's chores end before the store closes
		var errs []error
		if p.node != nil {
			errs = append(errs, p.node.Close())
		}
		p.life.Wait()
		if p.store != nil {
			errs = append(errs, p.store.Close())
		}
		p.closeErr = errors.Join(errs...)
	})
	return p.closeErr
}

// UpdateMiners installs a list of live miner records: the placer picks from
// them and Locate answers with their addresses.
func (p *Peer) UpdateMiners(recs []wire.NodeRecord) error {
	if p.cfg.Region != "" {
		kept := recs[:0:0]
		for _, r := range recs {
			if r.Region == "" || r.Region == p.cfg.Region {
				kept = append(kept, r)
			}
		}
		recs = kept
	}
	p.placer.Update(recs)
	return p.store.NoteMiners(recs)
}

// RefreshMiners pulls the live miners from the bootstrap once (the chore's
// RunOnce). Without bootstraps it does nothing.
func (p *Peer) RefreshMiners(ctx context.Context) error {
	if p.client == nil {
		return nil
	}
	recs, err := p.client.List(ctx, wire.RoleMiner)
	if err != nil {
		return fmt.Errorf("indexer: list miners: %w", err)
	}
	if err := p.UpdateMiners(recs); err != nil {
		return err
	}
	return p.RefreshVerifiers(ctx) // who may report proofs (proven.go)
}

// runRefresh calls RefreshMiners every RefreshInterval until ctx is done.
// Failures keep the last list (whose records expire on their own) and are
// logged once per outage.
func (p *Peer) runRefresh(ctx context.Context) error {
	t := time.NewTicker(p.cfg.RefreshInterval)
	defer t.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, max(p.cfg.RefreshInterval, 5*time.Second))
		err := p.RefreshMiners(cctx)
		cancel()
		p.refreshMu.Lock()
		switch {
		case err != nil && ctx.Err() == nil:
			p.metrics.refreshFailures.Inc()
			if !p.failing {
				p.log.Warn("pulling the miner list from the bootstrap failed; retrying", "err", err)
			}
			p.failing = true
		case err == nil && p.failing:
			p.log.Info("miner list pulled again", "miners", p.placer.LiveCount())
			p.failing = false
		}
		p.refreshMu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
