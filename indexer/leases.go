package indexer

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/wire"
)

// DefaultUploadLease is how long a put's reservations and reported replicas
// live after its last request (see docs/LEASES.md). Miners keep an
// unconfirmed replica longer (miner.DefaultUploadLease, 90 s) before they
// ask, so that an interrupted put is forgotten here by then.
const DefaultUploadLease = time.Minute

// retryAfter is what a put waiting for other puts' reservations is told.
const retryAfter = 300 * time.Millisecond

// putKey names one put: its owner and the number it drew.
type putKey struct {
	owner identity.PeerID
	id    uint64
}

// leaseEntry is a replica reserved for, or stored by, a put under way.
type leaseEntry struct {
	miner   identity.PeerID
	put     putKey
	private bool
}

// shardLeases are the puts under way on one shard.
type shardLeases struct {
	reserved []leaseEntry // upload in progress or about to start
	stored   []leaseEntry // reported stored (ShardStored), not yet committed
}

type tombKey struct {
	shard string
	miner identity.PeerID
}

// leases is the indexer's memory of puts under way: which miners are
// reserved for or hold an uncommitted replica of which shard. It is not
// durable: after a restart every put under way fails at commit (or finds its
// replicas gone) and puts again, while miners reclaim what no commit confirmed.
// Every entry lives while its put made a request within ttl.
type leases struct {
	now func() time.Time
	ttl time.Duration

	mu     sync.Mutex
	shards map[string]*shardLeases
	puts   map[putKey]time.Time  // last request of each put
	secret map[putKey]bool       // puts that asked Private: never deduplicated
	tombs  map[tombKey]time.Time // replicas a miner was told to reclaim, and when
	swept  time.Time
}

func newLeases(ttl time.Duration) *leases {
	return &leases{now: time.Now, ttl: ttl, shards: map[string]*shardLeases{}, puts: map[putKey]time.Time{}, secret: map[putKey]bool{}, tombs: map[tombKey]time.Time{}}
}

func (l *leases) alive(e leaseEntry, now time.Time) bool {
	t, ok := l.puts[e.put]
	return ok && now.Sub(t) < l.ttl
}

// shardLocked returns the live entries of shard k, dropping dead ones.
func (l *leases) shardLocked(k string, now time.Time) *shardLeases {
	sl := l.shards[k]
	if sl == nil {
		sl = &shardLeases{}
		l.shards[k] = sl
	}
	keep := func(e leaseEntry) bool { return !l.alive(e, now) }
	sl.reserved = slices.DeleteFunc(sl.reserved, keep)
	sl.stored = slices.DeleteFunc(sl.stored, keep)
	return sl
}

// sweepLocked forgets dead puts, empty shards and old tombstones, at most
// once per ttl/4.
func (l *leases) sweepLocked(now time.Time) {
	if now.Sub(l.swept) < l.ttl/4 {
		return
	}
	l.swept = now
	for k, t := range l.puts {
		if now.Sub(t) >= l.ttl {
			delete(l.puts, k)
			delete(l.secret, k)
		}
	}
	for k := range l.shards {
		if sl := l.shardLocked(k, now); len(sl.reserved) == 0 && len(sl.stored) == 0 {
			delete(l.shards, k)
		}
	}
	for k, t := range l.tombs {
		if now.Sub(t) >= 2*l.ttl {
			delete(l.tombs, k)
		}
	}
}

// reclaimed reports whether r names a replica its miner was told to
// reclaim after r was issued (a receipt issued later is for a new upload).
func (l *leases) reclaimed(shardKey string, r wire.Receipt) bool {
	t, ok := l.tombs[tombKey{shardKey, r.Miner}]
	return ok && r.Stored <= uint64(t.Unix())
}

func minersOf(es []leaseEntry, keep func(leaseEntry) bool) []identity.PeerID {
	var out []identity.PeerID
	for _, e := range es {
		if keep(e) && !slices.Contains(out, e.miner) {
			out = append(out, e.miner)
		}
	}
	return out
}

// heldBy returns the miners holding an uncommitted, shareable replica of c.
func (l *leases) heldBy(c cid.Cid) []identity.PeerID {
	l.mu.Lock()
	defer l.mu.Unlock()
	sl := l.shardLocked(c.KeyString(), l.now())
	return minersOf(sl.stored, func(e leaseEntry) bool { return !e.private })
}

// committed forgets the stored entries of miners a commit recorded.
func (l *leases) committed(c cid.Cid, miners []identity.PeerID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	sl := l.shards[c.KeyString()]
	if sl == nil {
		return
	}
	sl.stored = slices.DeleteFunc(sl.stored, func(e leaseEntry) bool { return slices.Contains(miners, e.miner) })
}

func union(a []identity.PeerID, bs ...[]identity.PeerID) []identity.PeerID {
	out := slices.Clone(a)
	for _, b := range bs {
		for _, p := range b {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// handleReserve answers wire.Reserve (see its doc). Under one lock per
// indexer it counts the shard's committed holders, the replicas stored by
// puts under way and the other puts' reservations, and places only what is
// missing: two puts of one shard at once never add more than asked.
func (p *Peer) handleReserve(_ context.Context, peer identity.PeerID, req *wire.Reserve) (wire.Message, error) {
	switch {
	case req.Replicas < 1 || req.Replicas > MaxReplicas:
		return nil, wire.Errorf(wire.CodeBadRequest, "reserve: %d replicas; ask for 1 to %d", req.Replicas, MaxReplicas)
	case req.Size == 0 || req.Size > shard.MaxShardSize:
		return nil, wire.Errorf(wire.CodeBadRequest, "reserve: shard size %d not in [1, %d]", req.Size, uint64(shard.MaxShardSize))
	case len(req.Exclude) > MaxReplicas*MaxPlaceCount:
		return nil, wire.Errorf(wire.CodeBadRequest, "reserve: %d miners excluded", len(req.Exclude))
	}
	if _, err := shard.DigestOf(req.Shard, shard.ShardCodec); err != nil {
		return nil, wire.Errorf(wire.CodeBadRequest, "reserve: not a shard CID: %v", err)
	}
	l := p.leases
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	put := putKey{owner: peer, id: req.Put}
	l.puts[put] = now
	if req.Private {
		l.secret[put] = true
	}
	l.sweepLocked(now)
	k := req.Shard.KeyString()
	sl := l.shardLocked(k, now)
	// This put asks again: its previous reservation of the shard ended.
	sl.reserved = slices.DeleteFunc(sl.reserved, func(e leaseEntry) bool { return e.put == put })
	mine := minersOf(sl.stored, func(e leaseEntry) bool { return e.put == put })

	var have, busy, avoid []identity.PeerID
	if req.Private {
		have = mine // nothing about other puts or the index is revealed or counted
		// Miners holding the same bytes already are avoided silently: a
		// replica there would be no new copy.
		committed, err := p.store.Holders(req.Shard)
		if err != nil {
			return nil, err
		}
		for _, a := range committed {
			avoid = append(avoid, a.Peer)
		}
		avoid = union(avoid, minersOf(sl.stored, func(leaseEntry) bool { return true }))
	} else {
		committed, err := p.store.Holders(req.Shard)
		if err != nil {
			return nil, err
		}
		for _, a := range committed {
			have = append(have, a.Peer)
		}
		have = union(have, minersOf(sl.stored, func(e leaseEntry) bool { return !e.private || e.put == put }))
		busy = minersOf(sl.reserved, func(e leaseEntry) bool { return !e.private && !slices.Contains(have, e.miner) })
	}
	rv := &wire.Reservation{}
	if len(have) >= int(req.Replicas) {
		for _, m := range have {
			rv.Have = append(rv.Have, p.addrOf(m))
		}
		p.metrics.reservations.WithLabelValues("held").Inc()
		return rv, nil
	}
	if len(have)+len(busy) >= int(req.Replicas) {
		rv.RetryAfter = uint32(retryAfter / time.Millisecond)
		p.metrics.reservations.WithLabelValues("wait").Inc()
		return rv, nil
	}
	need := int(req.Replicas) - len(have) - len(busy)
	pl, err := p.placer.Place(&wire.Place{Replicas: uint8(need), ShardSize: req.Size, Count: 1,
		Exclude: union(req.Exclude, have, busy, avoid, minersOf(sl.reserved, func(leaseEntry) bool { return true }))})
	if err != nil {
		p.metrics.reservations.WithLabelValues("refused").Inc()
		return nil, err
	}
	rv.Chain = pl.Chains[0]
	for _, a := range rv.Chain {
		sl.reserved = append(sl.reserved, leaseEntry{miner: a.Peer, put: put, private: req.Private})
	}
	for _, m := range have {
		rv.Have = append(rv.Have, p.addrOf(m))
	}
	p.metrics.reservations.WithLabelValues("placed").Inc()
	return rv, nil
}

// addrOf is a miner's live address, or its last known one.
func (p *Peer) addrOf(m identity.PeerID) wire.NodeAddr {
	if a, ok := p.placer.Live(m); ok {
		return a
	}
	return wire.NodeAddr{Peer: m}
}

// handleShardStored records the replicas one upload of a put stored: each
// receipt must be signed by a registered miner, for this shard and for the
// sender, and not for a replica its miner was told to reclaim.
func (p *Peer) handleShardStored(_ context.Context, peer identity.PeerID, req *wire.ShardStored) (wire.Message, error) {
	if _, err := shard.DigestOf(req.Shard, shard.ShardCodec); err != nil {
		return nil, wire.Errorf(wire.CodeBadRequest, "shard stored: not a shard CID: %v", err)
	}
	if len(req.Receipts) > MaxReplicas {
		return nil, wire.Errorf(wire.CodeBadRequest, "shard stored: %d receipts, at most %d", len(req.Receipts), MaxReplicas)
	}
	var size uint64
	for i := range req.Receipts {
		r := &req.Receipts[i]
		switch {
		case !r.Shard.Equals(req.Shard):
			return nil, wire.Errorf(wire.CodeBadRequest, "shard stored: receipt from miner %v is for shard %v, not %v", r.Miner, r.Shard, req.Shard)
		case r.Owner != peer:
			return nil, wire.Errorf(wire.CodeUnauthorized, "shard stored: receipt from miner %v was issued to %v, not to you (%v)", r.Miner, r.Owner, peer)
		case i > 0 && r.Size != size:
			return nil, wire.Errorf(wire.CodeBadRequest, "shard stored: receipts disagree on the shard's size (%d, %d)", size, r.Size)
		case !p.store.Registered(r.Miner):
			return nil, wire.Errorf(wire.CodeUnauthorized, "shard stored: receipt from %v, which is not a miner registered in this region", r.Miner)
		case r.Verify() != nil:
			return nil, wire.Errorf(wire.CodeUnauthorized, "shard stored: receipt from miner %v has a bad signature", r.Miner)
		}
		size = r.Size
	}
	l := p.leases
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	put := putKey{owner: peer, id: req.Put}
	k := req.Shard.KeyString()
	for _, r := range req.Receipts {
		if l.reclaimed(k, r) {
			return nil, wire.Errorf(wire.CodeReclaimed, "shard stored: miner %v reclaimed its replica of %v (its lease ended without a commit); store it again", r.Miner.Short(), req.Shard)
		}
	}
	l.puts[put] = now
	sl := l.shardLocked(k, now)
	private := l.secret[put] // what it stored must not be found by other puts
	sl.reserved = slices.DeleteFunc(sl.reserved, func(e leaseEntry) bool { return e.put == put })
	for _, r := range req.Receipts {
		if !slices.ContainsFunc(sl.stored, func(e leaseEntry) bool { return e.miner == r.Miner && e.put == put }) {
			sl.stored = append(sl.stored, leaseEntry{miner: r.Miner, put: put, private: private})
		}
	}
	var n int
	if private {
		n = len(minersOf(sl.stored, func(e leaseEntry) bool { return e.put == put }))
	} else {
		committed, err := p.store.Holders(req.Shard)
		if err != nil {
			return nil, err
		}
		var have []identity.PeerID
		for _, a := range committed {
			have = append(have, a.Peer)
		}
		n = len(union(have, minersOf(sl.stored, func(e leaseEntry) bool { return !e.private || e.put == put })))
	}
	return &wire.StoredAck{Replicas: uint32(n)}, nil
}

// handleLeaseCheck answers a miner whose replicas' leases ended: committed,
// pending (a put under way stored or is storing it), or unknown, which the
// miner deletes; an unknown replica is remembered (a tombstone) so that a
// late report or commit of it is refused.
func (p *Peer) handleLeaseCheck(_ context.Context, peer identity.PeerID, req *wire.LeaseCheck) (wire.Message, error) {
	l := p.leases
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.sweepLocked(now)
	st := &wire.LeaseStatus{States: make([]wire.LeaseState, len(req.Shards))}
	for i, c := range req.Shards {
		ok, err := p.store.Committed(c, peer)
		if err != nil {
			return nil, err
		}
		if ok {
			st.States[i] = wire.LeaseCommitted
			continue
		}
		sl := l.shardLocked(c.KeyString(), now)
		is := func(e leaseEntry) bool { return e.miner == peer }
		if slices.ContainsFunc(sl.stored, is) || slices.ContainsFunc(sl.reserved, is) {
			st.States[i] = wire.LeasePending
			continue
		}
		st.States[i] = wire.LeaseUnknown
		l.tombs[tombKey{c.KeyString(), peer}] = now
		p.metrics.leasesReclaimed.Inc()
	}
	return st, nil
}

// commit records a commit whose shards without receipts take the replicas
// the index and the puts under way hold; the replicas it records stop being
// pending. Receipts for replicas a miner was told to reclaim are refused.
func (p *Peer) commit(peer identity.PeerID, req *wire.Commit, now time.Time) (cid.Cid, error) {
	l := p.leases
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, rs := range req.Receipts {
		for _, r := range rs {
			if l.reclaimed(r.Shard.KeyString(), r) {
				return cid.Undef, wire.Errorf(wire.CodeReclaimed, "commit: shard %d: miner %v reclaimed its replica (its lease ended before the commit); put the file again", i, r.Miner.Short())
			}
		}
	}
	held := func(c cid.Cid) []identity.PeerID {
		sl := l.shardLocked(c.KeyString(), l.now())
		return minersOf(sl.stored, func(e leaseEntry) bool { return !e.private })
	}
	c, err := p.store.CommitHeld(peer, req, now, held)
	if err != nil {
		return cid.Undef, err
	}
	m, err := shard.DecodeManifest(req.Manifest)
	if err != nil {
		return c, nil // checked by the commit already
	}
	for i := range m.Shards {
		sc := m.ShardCID(i)
		hs, err := p.store.Holders(sc)
		if err != nil {
			continue
		}
		ps := make([]identity.PeerID, len(hs))
		for j, a := range hs {
			ps[j] = a.Peer
		}
		if sl := l.shards[sc.KeyString()]; sl != nil {
			sl.stored = slices.DeleteFunc(sl.stored, func(e leaseEntry) bool { return slices.Contains(ps, e.miner) })
		}
	}
	return c, nil
}

// handleRemove serves ppstore rm and starts deleting freed replicas.
func (p *Peer) handleRemove(_ context.Context, peer identity.PeerID, req *wire.Remove) (wire.Message, error) {
	res, err := p.store.Remove(peer, req.CID)
	if err != nil {
		return nil, err
	}
	p.log.Info("removed", "file", req.CID.String(), "owner", peer.Short(), "file_gone", res.FileGone, "shards_freed", res.Shards)
	if res.Shards > 0 {
		select {
		case p.dropKick <- struct{}{}:
		default:
		}
	}
	return res, nil
}

// DropReplicas is the chore's RunOnce: it tells each miner to delete the
// replicas queued for it and takes those it confirmed off the queue. A miner
// that does not answer keeps its queue for the next run.
func (p *Peer) DropReplicas(ctx context.Context) error {
	drops, err := p.store.PendingDrops()
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range drops {
		if d.Miner.Addr == "" {
			continue
		}
		if a, ok := p.placer.Live(d.Miner.Peer); ok {
			d.Miner = a
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var ans wire.Dropped
		err := p.node.Call(cctx, d.Miner, &wire.DropShards{Shards: d.Shards}, &ans)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("miner %s: %w", d.Miner.Peer.Short(), err))
			continue
		}
		if err := p.store.DoneDrops(d.Miner.Peer, d.Shards); err != nil {
			return err
		}
		p.metrics.replicasDropped.Add(float64(ans.Count))
	}
	if len(errs) > 0 {
		return fmt.Errorf("indexer: dropping replicas: %v", errs)
	}
	return nil
}

// runDrops runs DropReplicas when a removal freed replicas and every
// interval, until ctx is done.
func (p *Peer) runDrops(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := p.DropReplicas(ctx); err != nil && ctx.Err() == nil {
			p.log.Info("some replicas could not be dropped yet; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-p.dropKick:
		}
	}
}
