package miner

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
)

// DefaultUploadLease is how long a stored replica stays pending, waiting for
// a commit to confirm it, before the miner asks the indexer about it and
// reclaims it if no commit did (see docs/LEASES.md). It is longer than the
// indexer's memory of a put (indexer.DefaultUploadLease, 60 s), so that
// when the miner asks about an interrupted put's replica the indexer has
// already forgotten the put: its bytes are gone within 90 s plus a check
// interval (an eighth of the lease) of its last upload.
const DefaultUploadLease = 90 * time.Second

// Lease keys: a replica is pending while its key exists.
//
//	l/<shard CID bytes> → lease end, unix seconds (8 bytes)
var (
	leasePrefix = []byte("l/")
	leaseEnd    = []byte("l0")
)

func leaseKey(c cid.Cid) []byte { return append(slices.Clip(leasePrefix), c.Bytes()...) }

// lease is a pending replica's lease.
type lease struct {
	c     cid.Cid
	until time.Time
}

// loadLeases reads the lease keys into s.leases; keys of shards without a
// record (dropped by recover) are deleted.
func (s *store) loadLeases() error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: leasePrefix, UpperBound: leaseEnd})
	if err != nil {
		return fmt.Errorf("miner store: %w", err)
	}
	var stale [][]byte
	for it.First(); it.Valid(); it.Next() {
		k, v := it.Key(), it.Value()
		c, err := cid.Cast(k[len(leasePrefix):])
		var root shard.Digest
		if err == nil {
			root, err = shard.DigestOf(c, shard.ShardCodec)
		}
		if err != nil || len(v) != 8 {
			it.Close()
			return fmt.Errorf("%w: lease key %x", errBadRecord, k)
		}
		if s.shards[root] == nil {
			stale = append(stale, slices.Clone(k))
			continue
		}
		s.leases[root] = lease{c: c, until: time.Unix(int64(binary.BigEndian.Uint64(v)), 0)}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("miner store: reading leases: %w", err)
	}
	for _, k := range stale {
		if err := s.db.Delete(k, pebble.Sync); err != nil {
			return fmt.Errorf("miner store: %w", err)
		}
	}
	return nil
}

func leaseValue(until time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(until.Unix()))
}

// setLease makes a stored replica pending until until (if it is pending or
// new: a confirmed replica stays confirmed).
func (s *store) setLease(c cid.Cid, root shard.Digest, until time.Time, isNew bool) error {
	s.mu.Lock()
	_, pending := s.leases[root]
	s.mu.Unlock()
	if !pending && !isNew {
		return nil
	}
	if err := s.db.Set(leaseKey(c), leaseValue(until), pebble.Sync); err != nil {
		return s.ioError("record the lease of", c, err)
	}
	s.mu.Lock()
	s.leases[root] = lease{c: c, until: until}
	s.mu.Unlock()
	return nil
}

// pendingCount is the number of replicas waiting for a commit.
func (s *store) pendingCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.leases)
}

// dueLeases returns up to n replicas whose lease ended at now.
func (s *store) dueLeases(now time.Time, n int) []lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []lease
	for _, l := range s.leases {
		if !l.until.After(now) {
			out = append(out, l)
			if len(out) == n {
				break
			}
		}
	}
	return out
}

// confirm makes a pending replica permanent.
func (s *store) confirm(c cid.Cid, root shard.Digest) error {
	unlock := s.locks.lock(root)
	defer unlock()
	if err := s.db.Delete(leaseKey(c), pebble.Sync); err != nil {
		return s.ioError("confirm", c, err)
	}
	s.mu.Lock()
	delete(s.leases, root)
	s.mu.Unlock()
	return nil
}

// remove deletes a stored replica: its record (and lease) first, with Sync,
// then its file, so that a crash in between leaves a file without a record,
// which the next start removes. It reports whether the shard was held.
func (s *store) remove(c cid.Cid, root shard.Digest) (bool, error) {
	unlock := s.locks.lock(root)
	defer unlock()
	rec := s.get(root)
	if rec == nil {
		return false, nil
	}
	b := s.db.NewBatch()
	b.Delete(recordKey(c), nil)
	b.Delete(leaseKey(c), nil)
	err := s.db.Commit(b, pebble.Sync)
	b.Close()
	if err != nil {
		return false, s.ioError("delete the record of", c, err)
	}
	s.mu.Lock()
	delete(s.shards, root)
	delete(s.leases, root)
	s.used -= rec.size
	s.mu.Unlock()
	p := s.shardPath(root)
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Error("cannot remove a dropped shard's file; the next start removes it", "file", p, "err", err)
	} else if err := syncDir(filepath.Dir(p)); err != nil {
		s.log.Warn("cannot sync a shard folder", "dir", filepath.Dir(p), "err", err)
	}
	return true, nil
}

// indexers returns the region's indexers: the configured ones, or those the
// bootstrap lists, cached for indexerTTL.
func (p *Peer) indexers(ctx context.Context, fresh bool) ([]wire.NodeAddr, error) {
	if len(p.cfg.indexers) > 0 {
		return p.cfg.indexers, nil
	}
	p.idxMu.Lock()
	defer p.idxMu.Unlock()
	if !fresh && time.Since(p.idxAt) < indexerTTL && len(p.idxCache) > 0 {
		return p.idxCache, nil
	}
	if p.disc == nil {
		return nil, errors.New("no bootstrap configured to find the indexer")
	}
	recs, err := p.disc.List(ctx, wire.RoleIndexer)
	if err != nil {
		return nil, err
	}
	var out []wire.NodeAddr
	for _, r := range recs {
		if len(r.Addrs) > 0 && (r.Region == "" || r.Region == p.cfg.Region) {
			out = append(out, wire.NodeAddr{Peer: r.Peer, Addr: r.Addrs[0]})
		}
	}
	if len(out) == 0 {
		return nil, errors.New("the bootstrap lists no indexer")
	}
	p.idxCache, p.idxAt = out, time.Now()
	return out, nil
}

const indexerTTL = time.Minute

// CheckLeases is the lease chore's RunOnce: it asks the indexer about the
// replicas whose lease ended, keeps those a commit confirmed, extends those
// a put under way still holds, and deletes the rest. When the indexer cannot
// be asked nothing is deleted; the next run asks again.
func (p *Peer) CheckLeases(ctx context.Context) error {
	now := time.Now()
	reclaimed := 0
	defer func() {
		if reclaimed > 0 && p.reg != nil {
			if err := p.reg.RunOnce(ctx); err != nil {
				p.log.Info("re-registering after reclaiming space failed; the registrar retries", "err", err)
			}
		}
	}()
	for {
		due := p.store.dueLeases(now, wire.MaxLeaseBatch)
		if len(due) == 0 {
			return nil
		}
		idx, err := p.indexers(ctx, false)
		if err != nil {
			return fmt.Errorf("miner %s: leases: %w", p.short, err)
		}
		req := &wire.LeaseCheck{Shards: make([]cid.Cid, len(due))}
		for i, l := range due {
			req.Shards[i] = l.c
		}
		var st wire.LeaseStatus
		cctx, cancel := context.WithTimeout(ctx, p.cfg.requestTimeoutOrDefault())
		err = p.node.Call(cctx, idx[0], req, &st)
		cancel()
		if err != nil {
			if errors.Is(err, transport.ErrUnreachable) {
				p.indexers(ctx, true) // it may have moved
			}
			return fmt.Errorf("miner %s: asking indexer %s about %d leases: %w", p.short, idx[0].Peer.Short(), len(due), err)
		}
		if len(st.States) != len(due) {
			return fmt.Errorf("miner %s: indexer answered %d lease states for %d shards", p.short, len(st.States), len(due))
		}
		for i, l := range due {
			root, _ := shard.DigestOf(l.c, shard.ShardCodec)
			switch st.States[i] {
			case wire.LeaseCommitted:
				err = p.store.confirm(l.c, root)
			case wire.LeasePending:
				// A put under way that outlived the lease: ask again at the
				// next check, so that once it dies the replica goes soon.
				err = p.store.setLease(l.c, root, now.Add(p.cfg.UploadLease/8), false)
			default:
				var held bool
				if held, err = p.store.remove(l.c, root); held {
					reclaimed++
					p.metrics.leasesReclaimed.Inc()
					p.log.Info("reclaimed a replica no commit confirmed", "shard", l.c)
				}
			}
			if err != nil {
				return err
			}
		}
	}
}

// runLeases runs CheckLeases every eighth of the lease until ctx is done.
func (p *Peer) runLeases(ctx context.Context) error {
	t := time.NewTicker(max(p.cfg.UploadLease/8, 100*time.Millisecond))
	defer t.Stop()
	for {
		if err := p.CheckLeases(ctx); err != nil && ctx.Err() == nil {
			p.log.Info("lease check failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// handleDropShards deletes replicas the region's indexer says no file
// references any more. Any other peer is refused.
func (p *Peer) handleDropShards(ctx context.Context, s *transport.Stream, m wire.Message) error {
	req, ok := m.(*wire.DropShards)
	if !ok {
		return wire.Errorf(wire.CodeBadRequest, "unexpected %v", m.Type())
	}
	if !p.isIndexer(ctx, s.Peer()) {
		return wire.Errorf(wire.CodeUnauthorized, "miner %s: only the region's indexer may drop replicas; %s is not one", p.short, s.Peer().Short())
	}
	var n uint32
	for _, c := range req.Shards {
		root, err := shard.DigestOf(c, shard.ShardCodec)
		if err != nil {
			return wire.Errorf(wire.CodeBadRequest, "drop: %v is not a shard CID", c)
		}
		held, err := p.store.remove(c, root)
		if err != nil {
			return err
		}
		if held {
			n++
		}
	}
	p.metrics.replicasDropped.Add(float64(n))
	p.log.Info("dropped replicas of removed files", "asked", len(req.Shards), "dropped", n, "indexer", s.Peer().Short())
	if n > 0 && p.reg != nil {
		if err := p.reg.RunOnce(ctx); err != nil {
			p.log.Info("re-registering after dropping replicas failed; the registrar retries", "err", err)
		}
	}
	return s.Send(&wire.Dropped{Count: n})
}

// isIndexer reports whether peer is one of the region's indexers, asking the
// bootstrap again once if it is not in the cached list.
func (p *Peer) isIndexer(ctx context.Context, peer identity.PeerID) bool {
	for _, fresh := range []bool{false, true} {
		idx, err := p.indexers(ctx, fresh)
		if err != nil {
			continue
		}
		for _, a := range idx {
			if a.Peer == peer {
				return true
			}
		}
	}
	return false
}

// indexerState is the miner's cache of the region's indexers.
type indexerState struct {
	idxMu    sync.Mutex
	idxCache []wire.NodeAddr
	idxAt    time.Time
}
