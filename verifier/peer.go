package verifier

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ppstore/ppstore/daemon"
	"github.com/ppstore/ppstore/discover"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/proofs"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
)

// Peer is a running verifier: its replica records, its committed hash
// chain, its QUIC node, its registration and the round chore.
type Peer struct {
	cfg     Config
	log     *slog.Logger
	key     *identity.Key
	store   *store
	node    *transport.Node
	metrics *metrics
	self    wire.NodeAddr
	chain   *HashChain
	genesis time.Time

	client    *discover.Client    // nil without bootstraps
	registrar *discover.Registrar // nil without bootstraps

	// payer receives passes; minerAddrs finds miners (the bootstrap's
	// records; tests replace it); now is the clock.
	payer      Payer
	index      Index // the indexer, told of proven and repaired replicas (index.go)
	minerAddrs func(ctx context.Context) (map[identity.PeerID]string, error)
	now        func() time.Time

	roundMu sync.Mutex // one round at a time

	life      daemon.Lifetime // Close waits for Run's chores before closing the store
	closeOnce sync.Once
	closeErr  error
}

// New loads the identity, opens the database (making the hash chain on
// first start) and binds the transport.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (_ *Peer, err error) {
	if log, err = daemon.Prepare(&cfg, log); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "rounds"), 0o700); err != nil {
		return nil, fmt.Errorf("verifier: data_dir: %w", err)
	}
	p := &Peer{cfg: cfg, log: log, now: time.Now}
	p.payer = LogPayer{Log: log}
	p.index = IndexerClient{p}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	if p.key, err = identity.LoadOrCreate(filepath.Join(cfg.DataDir, identity.KeyFile)); err != nil {
		return nil, err
	}
	if p.store, err = openStore(filepath.Join(cfg.DataDir, "db"), log); err != nil {
		return nil, err
	}
	if p.chain, p.genesis, err = p.store.chain(cfg.ChainLength, p.now()); err != nil {
		return nil, fmt.Errorf("verifier: hash chain: %w", err)
	}
	if p.metrics, err = newMetrics(reg, p.store.db.Collectors()...); err != nil {
		return nil, fmt.Errorf("verifier: metrics: %w", err)
	}
	if p.node, p.self, err = daemon.Listen(transport.Config{Key: p.key, Listen: cfg.Listen, Logger: log}, cfg.Advertise); err != nil {
		return nil, err
	}
	// No dns_seed: Register only parses Bootstrap and cannot fail.
	p.client, p.registrar, _ = daemon.Registration{Role: wire.RoleVerifier, Region: cfg.Region, Addr: p.self.Addr,
		Bootstrap: cfg.Bootstrap, TTL: cfg.RecordTTL, Node: p.node, Key: p.key, Log: log}.Register()
	if p.registrar == nil {
		log.Warn("no bootstrap configured: this verifier is not discoverable and finds no miners")
	}
	p.minerAddrs = p.bootstrapMiners
	p.node.Handle(wire.TypePing, transport.Ping(wire.RoleVerifier))
	p.node.Handle(wire.TypeSealCommit, p.handleSealCommit)
	p.node.Handle(wire.TypeProofStatus, transport.Unary(p.handleProofStatus))
	anchor := p.chain.Anchor()
	log.Info("verifier ready", "peer", p.key.ID().String(), "addr", p.self.Addr, "epoch", cfg.Epoch,
		"chain_anchor", shard.Digest(anchor).String(), "chain_length", p.chain.Length(), "genesis", p.genesis.UTC())
	return p, nil
}

// SetPayer sets where passes go (LogPayer by default). Call before Run.
func (p *Peer) SetPayer(pay Payer) { p.payer = pay }

// Addr is where the verifier answers.
func (p *Peer) Addr() wire.NodeAddr { return p.self }

// Anchor is the hash chain's public commitment (x_0).
func (p *Peer) Anchor() [32]byte { return p.chain.Anchor() }

// Run serves requests and runs the rounds until ctx is done.
func (p *Peer) Run(ctx context.Context) error { return p.life.Run(ctx, "verifier", p.run) }

// run is Run once the lifetime has started: it serves and runs the rounds.
func (p *Peer) run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return p.node.Serve(gctx) })
	if p.registrar != nil {
		g.Go(func() error { return p.registrar.Run(gctx) })
	}
	g.Go(func() error { return p.runRounds(gctx) })
	g.Go(func() error { return p.store.db.Watch(gctx) }) // a database that stopped stops the verifier
	return g.Wait()
}

// Close stops serving and closes the database. It may be called more than once.
func (p *Peer) Close() error {
	p.closeOnce.Do(func() {
		p.life.Stop() // Run's chores end before the store closes
		if p.node != nil {
			p.node.Close()
		}
		p.life.Wait()
		if p.store != nil {
			p.closeErr = p.store.Close()
		}
	})
	return p.closeErr
}

// epochAt returns the epoch under way at t (1-based).
func (p *Peer) epochAt(t time.Time) uint64 {
	if t.Before(p.genesis) {
		return 1
	}
	return uint64(t.Sub(p.genesis)/p.cfg.Epoch) + 1
}

// bootstrapMiners returns the live miners' addresses from the bootstrap.
func (p *Peer) bootstrapMiners(ctx context.Context) (map[identity.PeerID]string, error) {
	if p.client == nil {
		return nil, nil
	}
	recs, err := p.client.List(ctx, wire.RoleMiner)
	if err != nil {
		return nil, err
	}
	out := make(map[identity.PeerID]string, len(recs))
	for _, r := range recs {
		if len(r.Addrs) > 0 {
			out[r.Peer] = r.Addrs[0]
		}
	}
	return out, nil
}

// porepTimeout bounds a whole PoRep exchange.
const porepTimeout = 2 * time.Minute

// handleSealCommit runs a proof of replication (see wire/proofs.go): it
// draws a fresh seed only after commR is committed, checks the openings,
// and records the replica as proven.
func (p *Peer) handleSealCommit(ctx context.Context, s *transport.Stream, m wire.Message) error {
	sc, ok := m.(*wire.SealCommit)
	if !ok {
		return wire.Errorf(wire.CodeBadRequest, "unexpected %v", m.Type())
	}
	s.SetDeadline(time.Now().Add(porepTimeout))
	root, err := shard.DigestOf(sc.Shard, shard.ShardCodec)
	if err != nil {
		return wire.Errorf(wire.CodeBadRequest, "seal commit: not a shard CID: %v", err)
	}
	rep := &proofs.Replica{Miner: s.Peer().Bytes(), CommD: root, Size: int64(sc.Size), PieceSize: int64(sc.PieceSize), Layers: int(sc.Layers), CommR: sc.CommR}
	if sc.Size < 1 || sc.Size > shard.MaxShardSize || sc.PieceSize < 1 || sc.PieceSize > shard.MaxPieceSize ||
		rep.Pieces() > shard.MaxPiecesPerShard {
		return wire.Errorf(wire.CodeBadRequest, "seal commit for %v: sizes %d / %d out of range", sc.Shard, sc.Size, sc.PieceSize)
	}
	if want := p.cfg.Proofs.Layers(rep.Size); rep.Layers != want {
		return wire.Errorf(wire.CodeBadRequest, "seal commit for %v: sealed with %d layers; this region's verifier asks for %d (proofs parameters differ: align the miner's [proofs] with the verifier's)", sc.Shard, rep.Layers, want)
	}
	var seed [32]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return err
	}
	pieces := proofs.PoRepPieces(rep, seed, p.cfg.Proofs.PoRepChallenges)
	if err := s.Send(&wire.PoRepChallenge{Seed: seed, Parts: uint32(len(pieces))}); err != nil {
		return err
	}
	proof := &proofs.PoRepProof{}
	for range pieces {
		var part wire.PoRepPart
		if err := s.Expect(&part); err != nil {
			return err
		}
		pp, err := proofs.ParsePoRepProof(bytes.Clone(part.Proof)) // the stream reuses its buffer
		if err != nil || len(pp.Openings) != 1 {
			p.metrics.porep.WithLabelValues("fail").Inc()
			return wire.Errorf(wire.CodeBadRequest, "PoRep part for %v: want one opening: %v", sc.Shard, err)
		}
		proof.Openings = append(proof.Openings, pp.Openings[0])
	}
	if err := proofs.VerifyPoRep(rep, seed, p.cfg.Proofs, proof); err != nil {
		p.metrics.porep.WithLabelValues("fail").Inc()
		p.log.Info("PoRep refused", "miner", s.Peer().Short(), "shard", sc.Shard, "err", err)
		return wire.Errorf(wire.CodeBadProof, "PoRep of %v by %s refused: %v", sc.Shard, s.Peer().Short(), err)
	}
	epoch := p.epochAt(p.now())
	st := &ReplicaState{Miner: s.Peer(), Shard: sc.Shard, Size: rep.Size, PieceSize: rep.PieceSize, Layers: rep.Layers,
		CommR: rep.CommR, Proven: epoch, Status: StatusProven}
	if err := p.admit(ctx, st); err != nil { // only a committed holder's replica (index.go)
		p.metrics.porep.WithLabelValues("not indexed").Inc()
		p.log.Info("PoRep passed but the replica is not recorded", "miner", s.Peer().Short(), "shard", sc.Shard, "err", err)
		return err
	}
	p.metrics.porep.WithLabelValues("pass").Inc()
	p.log.Info("replica proven", "miner", s.Peer().Short(), "shard", sc.Shard, "epoch", epoch)
	return s.Send(&wire.PoRepResult{Epoch: epoch})
}

// handleProofStatus answers the proof states of the replicas of the shards
// asked (a scan of the replica records: fine for a devnet's thousands; an
// index by shard is the next step for a region's millions).
func (p *Peer) handleProofStatus(_ context.Context, _ identity.PeerID, req *wire.ProofStatus) (wire.Message, error) {
	want := make(map[string][]int, len(req.Shards))
	for i, c := range req.Shards {
		want[c.KeyString()] = append(want[c.KeyString()], i)
	}
	states, err := p.store.replicas()
	if err != nil {
		return nil, err
	}
	out := &wire.ProofStates{Shards: make([][]wire.ReplicaProof, len(req.Shards))}
	for i := range out.Shards {
		out.Shards[i] = []wire.ReplicaProof{}
	}
	for _, r := range states {
		for _, i := range want[r.Shard.KeyString()] {
			out.Shards[i] = append(out.Shards[i], wire.ReplicaProof{Miner: r.Miner, State: r.Status, Proven: r.Proven, LastPass: r.LastPass, Misses: r.Misses})
		}
	}
	return out, nil
}
