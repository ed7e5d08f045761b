package miner

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/config"
	"github.com/ppstore/ppstore/discover"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/internal/pebbledb"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/sharecode"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
	"github.com/prometheus/client_golang/prometheus"
)

// Who may read a shard (docs/SHARING.md).
//
// A shard is public unless its owner marked it private (MarkPrivate, sent by
// the owner right after the upload and before the commit). A private shard's
// pieces go only to one of its owners, or to a GetSharedPiece whose grant is
// signed by the owner who marked it, names the file it was marked with, is
// issued to the asking peer (if to anyone), has not expired and is not
// revoked. Marks live in pebble under "p/" ‖ shard CID:
//
//	owner peer ID (wire bytes) ‖ file CID (wire bytes)
//
// Revocations are fetched from the region's indexer every
// RevocationRefresh (10 s by default) and kept in memory. A miner that could
// not refresh them for 3×RevocationRefresh refuses share codes on private
// shards (owners still read), so a revocation recorded at the indexer is
// honoured by every miner within 3×RevocationRefresh.

// DefaultRevocationRefresh is how often a miner pulls new revocations.
const DefaultRevocationRefresh = 10 * time.Second

// staleAfter is how many refresh intervals without a successful pull make a
// miner refuse share codes on private shards.
const staleAfter = 3

var (
	markPrefix = []byte("p/")
	markEnd    = []byte("p0")
)

// mark is what a miner knows of a private shard.
type mark struct {
	owner identity.PeerID
	file  cid.Cid
}

type revKey struct {
	owner identity.PeerID
	grant [32]byte
}

// access holds the private marks and the revocations.
type access struct {
	db      *pebbledb.DB
	log     *slog.Logger
	refresh time.Duration
	short   string
	now     func() time.Time
	metrics *accessMetrics

	// finding the indexer
	node    *transport.Node
	cfg     Config
	discMu  sync.Mutex
	disc    *discover.Client
	indexer wire.NodeAddr // from the config, or last found

	mu       sync.RWMutex
	marks    map[shard.Digest]mark
	revoked  map[revKey]uint64 // → the grant's expiry (0: never)
	seq      uint64            // last revocation sequence number pulled
	synced   time.Time         // start of the last successful pull
	verified map[[32]byte]bool // grants (hash of their bytes with signature) whose signature checked

	syncMu sync.Mutex // one pull at a time
}

// newAccess loads the private marks, dropping those of shards no longer
// held (held reports whether the store has a shard).
func newAccess(db *pebbledb.DB, node *transport.Node, cfg Config, log *slog.Logger, m *accessMetrics, held func(shard.Digest) bool) (*access, error) {
	a := &access{db: db, log: log, refresh: cfg.RevocationRefresh, short: node.ID().Short(), now: time.Now, metrics: m,
		node: node, cfg: cfg, marks: map[shard.Digest]mark{}, revoked: map[revKey]uint64{}, verified: map[[32]byte]bool{}}
	if a.refresh <= 0 {
		a.refresh = DefaultRevocationRefresh
	}
	if cfg.Indexer != "" {
		var err error
		if a.indexer, err = config.ParsePeerAddr(cfg.Indexer); err != nil {
			return nil, fmt.Errorf("miner: indexer: %w", err)
		}
	}
	if len(cfg.Bootstrap) > 0 {
		seeds, err := discover.ParseSeeds(cfg.Bootstrap)
		if err != nil {
			return nil, fmt.Errorf("miner: bootstrap: %w", err)
		}
		a.disc = discover.NewClient(node, seeds)
	}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: markPrefix, UpperBound: markEnd})
	if err != nil {
		return nil, fmt.Errorf("miner: private marks: %w", err)
	}
	defer it.Close()
	var gone [][]byte
	for it.First(); it.Valid(); it.Next() {
		c, err := cid.Cast(it.Key()[len(markPrefix):])
		var root shard.Digest
		if err == nil {
			root, err = shard.DigestOf(c, shard.ShardCodec)
		}
		d := wire.NewDec(it.Value())
		m := mark{owner: d.Peer(), file: d.CID()}
		if err == nil {
			err = d.Finish()
		}
		if err != nil {
			return nil, fmt.Errorf("%w: private mark %x: %v", errBadRecord, it.Key(), err)
		}
		if !held(root) {
			gone = append(gone, bytes.Clone(it.Key()))
			continue
		}
		a.marks[root] = m
	}
	if err := it.Error(); err != nil {
		return nil, err
	}
	for _, k := range gone {
		if err := db.Delete(k, pebble.Sync); err != nil {
			return nil, fmt.Errorf("miner: drop the private mark of a removed shard: %w", err)
		}
	}
	return a, nil
}

// private returns the mark of a shard, if it is private.
func (a *access) private(root shard.Digest) (mark, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	m, ok := a.marks[root]
	return m, ok
}

// handleMarkPrivate records that shards the sender alone owns here belong to
// its private file (wire.MarkPrivate).
func (p *Peer) handleMarkPrivate(_ context.Context, peer identity.PeerID, req *wire.MarkPrivate) (wire.Message, error) {
	a := p.access
	if req.File.Type() != shard.ManifestCodec {
		return nil, wire.Errorf(wire.CodeBadRequest, "mark private: %v is not a file CID", req.File)
	}
	b := a.db.NewBatch()
	defer b.Close()
	add := map[shard.Digest]mark{}
	for _, c := range req.Shards {
		root, err := shard.DigestOf(c, shard.ShardCodec)
		if err != nil {
			return nil, wire.Errorf(wire.CodeBadRequest, "mark private: %v is not a shard CID", c)
		}
		rec := p.store.get(root)
		if rec == nil {
			return nil, wire.Errorf(wire.CodeNotFound, "mark private: miner %s does not hold %v", p.short, c)
		}
		if m, ok := a.private(root); ok {
			if m.owner != peer || !m.file.Equals(req.File) {
				return nil, wire.Errorf(wire.CodeConflict, "mark private: %v is already private to another owner or file", c)
			}
			continue
		}
		// Only the only owner may make a shard private: anyone else marking
		// a public shard would cut its other owners' readers off.
		if len(rec.owners) != 1 || rec.owners[0] != peer {
			return nil, wire.Errorf(wire.CodeConflict, "mark private: %v is stored here for %d owners, not for %s alone; a private file's shards are fresh ciphertext", c, len(rec.owners), peer.Short())
		}
		e := wire.Enc{}
		e.Peer(peer)
		e.CID(req.File)
		if err := b.Set(append(markPrefix[:len(markPrefix):len(markPrefix)], c.Bytes()...), e.B, nil); err != nil {
			return nil, err
		}
		add[root] = mark{owner: peer, file: req.File}
	}
	if err := a.db.Commit(b, pebble.Sync); err != nil {
		return nil, fmt.Errorf("miner %s: write private marks: %w", p.short, err)
	}
	a.mu.Lock()
	for r, m := range add {
		a.marks[r] = m
	}
	a.mu.Unlock()
	p.log.Debug("shards marked private", "file", req.File, "owner", peer.Short(), "shards", len(req.Shards))
	return &wire.Marked{}, nil
}

type grantedKey struct{}

// allow decides whether peer may read pieces of the shard root held in rec.
// Public shards are open to all; a private one to its owners, or within a
// GetSharedPiece whose grant was checked for this shard.
func (a *access) allow(ctx context.Context, peer identity.PeerID, c cid.Cid, root shard.Digest, rec *record) error {
	if _, ok := a.private(root); !ok || rec.hasOwner(peer) {
		return nil
	}
	if g, ok := ctx.Value(grantedKey{}).(shard.Digest); ok && g == root {
		return nil
	}
	a.metrics.refusals.WithLabelValues(wire.CodeShareDenied.String()).Inc()
	return wire.Errorf(wire.CodeShareDenied, "shard %v belongs to a private file: only its owner or the holder of a share code from the owner may read it", c)
}

// handleGetSharedPiece checks a share code's grant for the shard, then
// answers as GetPiece does.
func (p *Peer) handleGetSharedPiece(ctx context.Context, s *transport.Stream, m wire.Message) error {
	req, ok := m.(*wire.GetSharedPiece)
	if !ok {
		return wire.Errorf(wire.CodeBadRequest, "unexpected %v", m.Type())
	}
	root, err := shard.DigestOf(req.Shard, shard.ShardCodec)
	if err != nil {
		return wire.Errorf(wire.CodeBadRequest, "get piece: not a shard CID: %v", err)
	}
	if err := p.access.checkGrant(req.Grant, s.Peer(), req.Shard, root); err != nil {
		var we *wire.Error
		if errors.As(err, &we) {
			p.access.metrics.refusals.WithLabelValues(we.Code.String()).Inc()
		}
		p.log.Debug("share code refused", "shard", req.Shard, "peer", s.Peer().Short(), "err", err)
		return err
	}
	return p.handleGetPiece(context.WithValue(ctx, grantedKey{}, root), s, &req.GetPiece)
}

// checkGrant checks a grant presented by peer for shard c: the signature,
// that the signer owns the file the shard was marked with, the file, the
// peer, the expiry and the revocations.
func (a *access) checkGrant(b []byte, peer identity.PeerID, c cid.Cid, root shard.Digest) error {
	g, err := sharecode.ParseGrant(b)
	if err != nil {
		return wire.Errorf(wire.CodeBadRequest, "share code: %v", err)
	}
	sum := sha256.Sum256(b)
	a.mu.RLock()
	ok := a.verified[sum]
	a.mu.RUnlock()
	if !ok {
		if err := g.Verify(); err != nil {
			return err
		}
		a.mu.Lock()
		if len(a.verified) >= 4096 { // a bounded cache: start again when full
			clear(a.verified)
		}
		a.verified[sum] = true
		a.mu.Unlock()
	}
	m, private := a.private(root)
	if private {
		if g.Owner != m.owner {
			return wire.Errorf(wire.CodeShareForged, "share code for %v is signed by %v, who does not own it", g.File, g.Owner)
		}
		if !g.File.Equals(m.file) {
			return wire.Errorf(wire.CodeShareDenied, "share code is for file %v; shard %v belongs to another file", g.File, c)
		}
	}
	now := a.now()
	if err := g.Check(now, peer); err != nil {
		return err
	}
	a.mu.RLock()
	_, revoked := a.revoked[revKey{g.Owner, g.ID()}]
	synced := a.synced
	a.mu.RUnlock()
	if revoked {
		return wire.Errorf(wire.CodeShareRevoked, "share code for %v was revoked by its owner %v", g.File, g.Owner.Short())
	}
	if private && now.Sub(synced) > staleAfter*a.refresh {
		when := "never"
		if !synced.IsZero() {
			when = synced.UTC().Format(time.RFC3339)
		}
		return wire.Errorf(wire.CodeUnavailable, "miner %s cannot check revocations (last pulled from the indexer: %s); try another replica or later", a.short, when)
	}
	return nil
}

// findIndexer returns the indexer to pull revocations from.
func (a *access) findIndexer(ctx context.Context) (wire.NodeAddr, error) {
	if a.cfg.Indexer != "" {
		return a.indexer, nil
	}
	a.discMu.Lock()
	defer a.discMu.Unlock()
	if a.disc == nil && a.cfg.DNSSeed != "" {
		seeds, err := discover.SeedsFromDNS(ctx, net.DefaultResolver, a.cfg.DNSSeed)
		if err != nil {
			return wire.NodeAddr{}, err
		}
		a.disc = discover.NewClient(a.node, seeds)
	}
	if a.disc == nil {
		return wire.NodeAddr{}, errors.New("no indexer: set indexer, bootstrap or dns_seed")
	}
	if !a.indexer.Peer.IsZero() {
		return a.indexer, nil
	}
	idx, err := a.disc.Find(ctx, wire.RoleIndexer)
	if err == nil {
		a.indexer = idx
	}
	return idx, err
}

func (a *access) forgetIndexer() {
	if a.cfg.Indexer != "" {
		return
	}
	a.discMu.Lock()
	a.indexer = wire.NodeAddr{}
	a.discMu.Unlock()
}

// RefreshRevocations pulls the revocations recorded at the indexer since the
// last pull (the chore's RunOnce).
func (p *Peer) RefreshRevocations(ctx context.Context) error { return p.access.pull(ctx) }

func (a *access) pull(ctx context.Context) error {
	a.syncMu.Lock()
	defer a.syncMu.Unlock()
	start := a.now()
	idx, err := a.findIndexer(ctx)
	if err != nil {
		return fmt.Errorf("pull revocations: %w", err)
	}
	a.mu.RLock()
	after := a.seq
	a.mu.RUnlock()
	for {
		var list wire.RevocationList
		if err := a.node.Call(ctx, idx, &wire.ListRevocations{After: after}, &list); err != nil {
			if errors.Is(err, transport.ErrUnreachable) {
				a.forgetIndexer()
			}
			return fmt.Errorf("pull revocations from indexer %s: %w", idx.Peer.Short(), err)
		}
		if list.Last < after || (len(list.Revocations) > 0 && list.Last == after) {
			return fmt.Errorf("pull revocations: indexer %s answered sequence %d after %d", idx.Peer.Short(), list.Last, after)
		}
		a.mu.Lock()
		for _, b := range list.Revocations {
			r, err := sharecode.ParseRevocation(b)
			if err != nil {
				a.log.Warn("indexer sent a bad revocation; ignored", "indexer", idx.Peer.Short(), "err", err)
				continue
			}
			a.revoked[revKey{r.Owner, r.Grant}] = r.Expires
		}
		a.seq = list.Last
		a.metrics.revocations.Set(float64(len(a.revoked)))
		a.mu.Unlock()
		after = list.Last
		if !list.More {
			break
		}
	}
	a.mu.Lock()
	a.synced = start
	// Revocations of expired grants protect nothing any more.
	now := uint64(start.Unix())
	for k, exp := range a.revoked {
		if exp != 0 && exp < now {
			delete(a.revoked, k)
		}
	}
	a.mu.Unlock()
	return nil
}

// run pulls revocations every refresh interval until ctx ends, sooner
// after a failure (a miner may start before the indexer is registered).
func (a *access) run(ctx context.Context) error {
	if a.cfg.Indexer == "" && len(a.cfg.Bootstrap) == 0 && a.cfg.DNSSeed == "" {
		a.log.Info("no indexer to pull revocations from: share codes for private shards are refused")
		return nil
	}
	failing := false
	retry := time.Second // after a failure: 1 s, doubling up to the interval
	for {
		cctx, cancel := context.WithTimeout(ctx, a.refresh)
		err := a.pull(cctx)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			a.metrics.pullFailures.Inc()
			if !failing {
				a.log.Warn("pulling revocations failed; retrying", "err", err)
			}
			failing = true
		case err == nil && failing:
			a.log.Info("revocations pulled again")
			failing = false
		}
		wait := a.refresh
		if failing {
			wait, retry = min(retry, a.refresh), 2*retry
		} else {
			retry = time.Second
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// initAccess opens the private marks, registers the share handlers and
// prepares the revocation chore.
func (p *Peer) initAccess(reg prometheus.Registerer) error {
	m, err := newAccessMetrics(reg)
	if err != nil {
		return fmt.Errorf("miner: metrics: %w", err)
	}
	held := func(root shard.Digest) bool { return p.store.get(root) != nil }
	if p.access, err = newAccess(p.store.db, p.node, p.cfg, p.log, m, held); err != nil {
		return err
	}
	p.node.Handle(wire.TypeMarkPrivate, transport.Unary(p.handleMarkPrivate))
	p.node.Handle(wire.TypeGetSharedPiece, p.handleGetSharedPiece)
	return nil
}
