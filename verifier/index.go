package verifier

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/wire"
)

// Index is where the verifier reports proof status: the region's indexer
// (IndexerClient). Proven records that a committed holder's replica passed
// its PoRep; Replace makes a repair's new replica a holder in place of the
// failing one. Both return the indexer's refusals as *wire.Error
// (CodeNotCommitted, CodeNotHolder, CodeReplicaCount, CodeReclaimed, ...).
type Index interface {
	Proven(ctx context.Context, shard cid.Cid, miner identity.PeerID, epoch uint64) error
	Replace(ctx context.Context, shard cid.Cid, failing, repl identity.PeerID, epoch uint64) error
}

// indexTimeout bounds one report to the indexer.
const indexTimeout = 10 * time.Second

// IndexerClient reports to the indexer the bootstrap lists for the region,
// over QUIC, as this verifier (the indexer checks that).
type IndexerClient struct{ p *Peer }

func (c IndexerClient) call(ctx context.Context, req wire.Message) error {
	if c.p.client == nil {
		return wire.Errorf(wire.CodeUnavailable, "no bootstrap configured: the verifier cannot find the region's indexer")
	}
	ctx, cancel := context.WithTimeout(ctx, indexTimeout)
	defer cancel()
	to, err := c.p.client.Find(ctx, wire.RoleIndexer)
	if err != nil {
		return wire.Errorf(wire.CodeUnavailable, "finding the region's indexer: %v", err)
	}
	if err := c.p.node.Call(ctx, to, req, &wire.IndexUpdated{}); err != nil {
		if errors.As(err, new(*wire.Error)) {
			return err
		}
		return wire.Errorf(wire.CodeUnavailable, "the region's indexer %s: %v", to.Peer.Short(), err)
	}
	return nil
}

// Proven sends wire.ReplicaProven.
func (c IndexerClient) Proven(ctx context.Context, shard cid.Cid, miner identity.PeerID, epoch uint64) error {
	return c.call(ctx, &wire.ReplicaProven{Shard: shard, Miner: miner, Epoch: epoch})
}

// Replace sends wire.ReplicaReplace.
func (c IndexerClient) Replace(ctx context.Context, shard cid.Cid, failing, repl identity.PeerID, epoch uint64) error {
	return c.call(ctx, &wire.ReplicaReplace{Shard: shard, Failing: failing, New: repl, Epoch: epoch})
}

// SetIndex sets where proof status goes (IndexerClient by default). Call
// before Run.
func (p *Peer) SetIndex(ix Index) { p.index = ix }

// Epoch returns the epoch under way (1-based).
func (p *Peer) Epoch() uint64 { return p.epochAt(p.now()) }

// admit records a replica whose PoRep passed, once the indexer has: a
// replica of a shard no committed file holds, or of a miner the index does
// not list, is refused (the error goes back to the miner, which retries
// later or loses the copy with its lease). A repair's new replica replaces
// the failing one at the indexer and here, each in one durable step.
func (p *Peer) admit(ctx context.Context, st *ReplicaState) error {
	if old, err := p.store.replica(st.Miner, st.Shard); err != nil {
		return err
	} else if old != nil && !old.RepairTo.IsZero() {
		// Proven again while its own repair is under way: keep that.
		st.Status, st.Misses, st.RepairTo, st.RepairAt = old.Status, old.Misses, old.RepairTo, old.RepairAt
	}
	failing, ok, err := p.store.pendingRepair(st.Shard, st.Miner)
	if err != nil {
		return err
	}
	if ok {
		old, err := p.store.replica(failing, st.Shard)
		if err != nil {
			return err
		}
		if old == nil || old.RepairTo != st.Miner { // a repair given up since
			if err := p.store.dropRepair(st.Shard, st.Miner); err != nil {
				return err
			}
		} else {
			err := p.index.Replace(ctx, st.Shard, failing, st.Miner, st.Proven)
			switch {
			case err == nil:
				if err := p.store.finishRepair(old, st); err != nil {
					return fmt.Errorf("verifier: record the repair of %v: %w", st.Shard, err)
				}
				p.metrics.repaired.Inc()
				p.log.Info("replica repaired and proven", "shard", st.Shard, "failing", failing.Short(), "new", st.Miner.Short(), "epoch", st.Proven)
				return nil
			case errors.Is(err, wire.ErrReplicaCount):
				// The miner held the shard before the repair (a holder not
				// proven yet): it is no new replica. Repair elsewhere and
				// record it as the holder it is.
				old.RepairTo, old.RepairAt = identity.PeerID{}, time.Time{}
				if err := p.store.cancelRepair(old, st.Miner); err != nil {
					return err
				}
			case errors.Is(err, wire.ErrNotCommitted), errors.Is(err, wire.ErrNotHolder):
				// The index no longer lists the failing replica (its file
				// was removed, or it was replaced): nothing to repair.
				if err := p.store.finishRepair(old, nil); err != nil {
					return err
				}
				return err
			default:
				return err
			}
		}
	}
	if err := p.index.Proven(ctx, st.Shard, st.Miner, st.Proven); err != nil {
		return err
	}
	return p.store.putReplica(st)
}

func repairKey(shardCID cid.Cid, repl identity.PeerID) []byte {
	c := shardCID.Bytes()
	k := append([]byte("p/"), byte(len(c)>>8), byte(len(c)))
	k = append(k, c...)
	return append(k, repl.Bytes()...)
}

// replica returns the record of miner's replica of c, or nil.
func (s *store) replica(miner identity.PeerID, c cid.Cid) (*ReplicaState, error) {
	v, closer, err := s.db.Get(replicaKey(miner, c))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return decodeReplicaState(v)
}

// pendingRepair returns the failing miner whose replica of c a repair to
// repl replaces, if one is under way.
func (s *store) pendingRepair(c cid.Cid, repl identity.PeerID) (identity.PeerID, bool, error) {
	v, closer, err := s.db.Get(repairKey(c, repl))
	if errors.Is(err, pebble.ErrNotFound) {
		return identity.PeerID{}, false, nil
	}
	if err != nil {
		return identity.PeerID{}, false, err
	}
	defer closer.Close()
	p, err := identity.IDFromBytes(v)
	if err != nil {
		return identity.PeerID{}, false, fmt.Errorf("verifier: repair record: %w", err)
	}
	return p, true, nil
}

// startRepair records that failing's replica is being repaired to repl
// (failing.RepairTo, set by the caller), replacing an earlier attempt.
func (s *store) startRepair(failing *ReplicaState, prev identity.PeerID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	if !prev.IsZero() {
		b.Delete(repairKey(failing.Shard, prev), nil)
	}
	b.Set(replicaKey(failing.Miner, failing.Shard), failing.encode(), nil)
	b.Set(repairKey(failing.Shard, failing.RepairTo), failing.Miner.Bytes(), nil)
	return s.db.Commit(b, pebble.Sync)
}

// cancelRepair forgets the repair to repl and stores failing as given.
func (s *store) cancelRepair(failing *ReplicaState, repl identity.PeerID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	b.Delete(repairKey(failing.Shard, repl), nil)
	b.Set(replicaKey(failing.Miner, failing.Shard), failing.encode(), nil)
	return s.db.Commit(b, pebble.Sync)
}

// finishRepair drops the failing replica and its repair record and, when
// repl is set, records the new replica, in one synced batch.
func (s *store) finishRepair(failing, repl *ReplicaState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	b.Delete(replicaKey(failing.Miner, failing.Shard), nil)
	if !failing.RepairTo.IsZero() {
		b.Delete(repairKey(failing.Shard, failing.RepairTo), nil)
	}
	if repl != nil {
		b.Set(replicaKey(repl.Miner, repl.Shard), repl.encode(), nil)
	}
	return s.db.Commit(b, pebble.Sync)
}

// dropRepair deletes a stale repair record.
func (s *store) dropRepair(c cid.Cid, repl identity.PeerID) error {
	return s.db.Delete(repairKey(c, repl), pebble.Sync)
}
