package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"time"

	"github.com/ppstore/ppstore/daemon"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
)

// Limits on one record's contents.
const (
	maxAddrs      = 16
	maxAddrLen    = 255
	maxClockSkew  = 30 * time.Second // allowed on top of max_ttl
	sweepInterval = 30 * time.Second
)

// Peer is a running bootstrap server: its transport, its record table and
// its chores.
type Peer struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	key     *identity.Key
	node    *transport.Node
	table   *table
	metrics *metrics

	// Sweeper drops expired records from memory.
	Sweeper *Sweeper
	// Syncer pulls records from the seed bootstraps.
	Syncer *Syncer

	closeOnce sync.Once
	closeErr  error
}

// New loads the identity, binds the transport and registers the handlers.
// It applies cfg's defaults and validates it. log and reg may be nil.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Peer, error) {
	log, err := daemon.Prepare(&cfg, log)
	if err != nil {
		return nil, err
	}
	seeds, err := cfg.seedAddrs()
	if err != nil {
		return nil, err
	}
	p := &Peer{cfg: cfg, log: log, now: cfg.now}
	if p.now == nil {
		p.now = time.Now
	}
	p.key, err = identity.LoadOrCreate(filepath.Join(cfg.DataDir, identity.KeyFile))
	if err != nil {
		return nil, err
	}
	p.table = newTable(cfg.MaxRecords)
	if p.metrics, err = newMetrics(reg, p.table, p.now); err != nil {
		return nil, fmt.Errorf("bootstrap: metrics: %w", err)
	}
	p.Sweeper = &Sweeper{p: p, interval: sweepInterval}
	p.Syncer = &Syncer{p: p, seeds: p.withoutSelf(seeds), dnsSeed: cfg.DNSSeed, resolver: cfg.resolver, interval: cfg.SyncInterval.D()}
	if p.Syncer.resolver == nil {
		p.Syncer.resolver = net.DefaultResolver
	}

	p.node, err = transport.Listen(transport.Config{Key: p.key, Listen: cfg.Listen, Logger: log})
	if err != nil {
		return nil, err
	}
	p.node.Handle(wire.TypePing, transport.Ping(wire.RoleBootstrap))
	p.node.Handle(wire.TypeRegister, transport.Unary(p.register))
	p.node.Handle(wire.TypeListNodes, transport.Unary(p.listNodes))
	return p, nil
}

// ID is the bootstrap's peer ID.
func (p *Peer) ID() identity.PeerID { return p.key.ID() }

// Addr is where the bootstrap's QUIC listener answers.
func (p *Peer) Addr() wire.NodeAddr { return p.node.Self() }

// Run serves requests and runs the chores until ctx is done.
func (p *Peer) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return p.node.Serve(gctx) })
	if !p.cfg.manualChores {
		g.Go(func() error { return p.Sweeper.Run(gctx) })
		g.Go(func() error { return p.Syncer.Run(gctx) })
	}
	return g.Wait()
}

// Close stops the transport. It may be called more than once.
func (p *Peer) Close() error {
	p.closeOnce.Do(func() { p.closeErr = p.node.Close() })
	return p.closeErr
}

// withoutSelf drops this bootstrap from a list of seeds.
func (p *Peer) withoutSelf(seeds []wire.NodeAddr) []wire.NodeAddr {
	var out []wire.NodeAddr
	for _, s := range seeds {
		if s.Peer != p.key.ID() {
			out = append(out, s)
		}
	}
	return out
}

func (p *Peer) unixNow() uint64 { return uint64(p.now().Unix()) }

// register answers wire.Register.
func (p *Peer) register(_ context.Context, from identity.PeerID, req *wire.Register) (wire.Message, error) {
	rec := &req.Record
	if rec.Peer != from {
		p.metrics.reject(sourceRegister, reasonNotSender)
		return nil, wire.Errorf(wire.CodeUnauthorized, "record of %v sent by %v: a node registers only its own record", rec.Peer, from)
	}
	now := p.now()
	if reason, err := p.check(rec, now); err != nil {
		p.metrics.reject(sourceRegister, reason)
		return nil, err
	}
	if err := p.table.put(rec, uint64(now.Unix())); err != nil {
		if errors.Is(err, wire.ErrConflict) {
			p.metrics.reject(sourceRegister, reasonReplay)
		} else {
			p.metrics.reject(sourceRegister, reasonFull)
		}
		return nil, err
	}
	p.metrics.registrations.WithLabelValues(rec.Role.String()).Inc()
	p.log.Debug("registered", "peer", rec.Peer.Short(), "role", rec.Role, "seq", rec.Seq, "addrs", rec.Addrs)
	return &wire.Registered{Expires: rec.Expires}, nil
}

// listNodes answers wire.ListNodes.
func (p *Peer) listNodes(_ context.Context, _ identity.PeerID, req *wire.ListNodes) (wire.Message, error) {
	if req.Role != 0 && !knownRole(req.Role) {
		return nil, wire.Errorf(wire.CodeBadRequest, "unknown role %d: ask for a known role or 0 for all", uint8(req.Role))
	}
	recs, truncated := p.table.list(req.Role, p.unixNow(), maxListRecords, maxListBytes)
	if truncated {
		p.metrics.listTruncated.Inc()
		p.log.Debug("list truncated", "role", req.Role, "records", len(recs))
	}
	return &wire.NodeList{Records: recs}, nil
}

// check applies every rule but the sender and Seq rules to rec, returning the
// metric reason and the error to answer.
func (p *Peer) check(rec *wire.NodeRecord, now time.Time) (reason string, err error) {
	if err := rec.Verify(now); err != nil {
		if errors.Is(err, wire.ErrUnauthorized) {
			return reasonSignature, err
		}
		return reasonExpired, err
	}
	maxTTL := p.cfg.MaxTTL.D()
	if limit := uint64(now.Add(maxTTL + maxClockSkew).Unix()); rec.Expires > limit {
		return reasonTTL, wire.Errorf(wire.CodeBadRequest, "record of %v expires in %v, more than this bootstrap's max_ttl of %v: sign it with a shorter ttl",
			rec.Peer, time.Unix(int64(rec.Expires), 0).Sub(now).Round(time.Second), maxTTL)
	}
	if rec.Region != p.cfg.Region {
		return reasonRegion, wire.Errorf(wire.CodeBadRequest, "record of %v is for region %q, this bootstrap serves region %q", rec.Peer, rec.Region, p.cfg.Region)
	}
	if !knownRole(rec.Role) {
		return reasonRole, wire.Errorf(wire.CodeBadRequest, "record of %v has unknown role %d", rec.Peer, uint8(rec.Role))
	}
	if len(rec.Addrs) > maxAddrs {
		return reasonInvalid, wire.Errorf(wire.CodeBadRequest, "record of %v has %d addresses, at most %d are accepted", rec.Peer, len(rec.Addrs), maxAddrs)
	}
	for _, a := range rec.Addrs {
		if len(a) > maxAddrLen {
			return reasonInvalid, wire.Errorf(wire.CodeBadRequest, "record of %v: address of %d bytes, at most %d are accepted", rec.Peer, len(a), maxAddrLen)
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			return reasonInvalid, wire.Errorf(wire.CodeBadRequest, "record of %v: address %q is not host:port", rec.Peer, a)
		}
	}
	if rec.Free > rec.Capacity {
		return reasonInvalid, wire.Errorf(wire.CodeBadRequest, "record of %v: %d bytes free out of a capacity of %d", rec.Peer, rec.Free, rec.Capacity)
	}
	return "", nil
}
