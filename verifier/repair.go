package verifier

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/wire"
)

// repairTimeout bounds one miner-to-miner copy (a shard of up to 64 MiB).
const repairTimeout = 2 * time.Minute

// RunRepairs re-replicates every replica marked repairing: it picks a
// proven replica of the same shard as the source and a live miner that
// holds no replica of it and is receiving none, and asks that miner to copy
// the shard from the source (wire.RepairShard: every piece checked against
// commD). The failing replica stays recorded, with the repair's target,
// until the new replica passes its PoRep: then the indexer replaces the
// failing holder by the new one and this verifier its record (admit,
// index.go), so a shard never has more or fewer replicas than its file
// asked for. A repair not proven within RepairTimeout is sent to another
// miner (the first one's unconfirmed copy goes with its lease); one whose
// failing replica passed a round since is called off.
func (p *Peer) RunRepairs(ctx context.Context) error {
	states, err := p.store.replicas()
	if err != nil {
		return err
	}
	byShard := map[string][]*ReplicaState{}
	taken := map[string]map[identity.PeerID]bool{} // holders and repair targets, per shard
	for _, r := range states {
		k := r.Shard.KeyString()
		byShard[k] = append(byShard[k], r)
		if taken[k] == nil {
			taken[k] = map[identity.PeerID]bool{}
		}
		taken[k][r.Miner] = true
		if !r.RepairTo.IsZero() {
			taken[k][r.RepairTo] = true
		}
	}
	now := p.now()
	var addrs map[identity.PeerID]string
	var errs []error
	for _, r := range states {
		if r.Status != StatusRepairing {
			continue
		}
		if !r.RepairTo.IsZero() {
			if now.Sub(r.RepairAt) < p.cfg.RepairTimeout {
				continue // under way
			}
			if r.Misses == 0 { // passed a round since: call the repair off
				prev := r.RepairTo
				r.Status, r.RepairTo, r.RepairAt = StatusProven, identity.PeerID{}, time.Time{}
				if err := p.store.cancelRepair(r, prev); err != nil {
					errs = append(errs, err)
				}
				continue
			}
			p.log.Warn("repair not proven in time; trying another miner", "shard", r.Shard, "failing", r.Miner.Short(), "target", r.RepairTo.Short(), "since", r.RepairAt)
		}
		if gone, err := p.unindexed(ctx, r); err != nil {
			errs = append(errs, err)
			continue
		} else if gone {
			continue
		}
		if addrs == nil {
			if addrs, err = p.minerAddrs(ctx); err != nil {
				return fmt.Errorf("verifier: repair: listing the miners: %w", err)
			}
		}
		k := r.Shard.KeyString()
		if err := p.repair(ctx, r, byShard[k], taken[k], addrs); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// unindexed asks the indexer whether it still lists r (a Proven report of
// r's PoRep epoch again, which changes nothing when it does) and, when it
// does not (its file was removed with ppstore rm, or the replica was
// reclaimed or replaced), drops r's record: the replica is no longer wanted,
// so it is neither repaired nor challenged again. Errors other than those
// two answers (an unreachable indexer) leave r as it is.
func (p *Peer) unindexed(ctx context.Context, r *ReplicaState) (bool, error) {
	if p.index == nil || r.Proven == 0 {
		return false, nil
	}
	err := p.index.Proven(ctx, r.Shard, r.Miner, r.Proven)
	switch {
	case err == nil:
		return false, nil
	case errors.Is(err, wire.ErrNotCommitted), errors.Is(err, wire.ErrNotHolder):
		if err := p.store.finishRepair(r, nil); err != nil {
			return false, fmt.Errorf("verifier: drop the unlisted replica of %v: %w", r.Shard, err)
		}
		p.log.Info("replica no longer listed at the indexer (file removed, or replica reclaimed): no repair, no more challenges",
			"shard", r.Shard, "miner", r.Miner.Short())
		return true, nil
	default:
		return false, fmt.Errorf("verifier: repair of %v: asking the indexer whether it still lists the replica: %w", r.Shard, err)
	}
}

// repair sends one repair of bad and records its target in taken and bad.
func (p *Peer) repair(ctx context.Context, bad *ReplicaState, same []*ReplicaState, taken map[identity.PeerID]bool, addrs map[identity.PeerID]string) error {
	var source *ReplicaState
	for _, r := range same {
		if r.Status == StatusProven && addrs[r.Miner] != "" {
			source = r
			break
		}
	}
	if source == nil {
		return fmt.Errorf("verifier: repair of %v: no live proven replica to copy from", bad.Shard)
	}
	var cands []identity.PeerID
	for m, a := range addrs {
		if !taken[m] && a != "" {
			cands = append(cands, m)
		}
	}
	if len(cands) == 0 {
		return fmt.Errorf("verifier: repair of %v: every live miner holds it or is receiving it already", bad.Shard)
	}
	// Spread repairs: start at a miner chosen by the shard's digest.
	sort.Slice(cands, func(i, j int) bool { return cands[i].String() < cands[j].String() })
	root, _ := shard.DigestOf(bad.Shard, shard.ShardCodec)
	start := int(root[0]) % len(cands)
	req := &wire.RepairShard{Shard: bad.Shard, Size: uint64(bad.Size), PieceSize: uint32(bad.PieceSize),
		Source: wire.NodeAddr{Peer: source.Miner, Addr: addrs[source.Miner]}}
	var errs []error
	for k := 0; k < min(3, len(cands)); k++ {
		to := cands[(start+k)%len(cands)]
		cctx, cancel := context.WithTimeout(ctx, repairTimeout)
		err := p.node.Call(cctx, wire.NodeAddr{Peer: to, Addr: addrs[to]}, req, &wire.RepairDone{})
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", to.Short(), err))
			continue
		}
		prev := bad.RepairTo
		bad.RepairTo, bad.RepairAt = to, p.now()
		if err := p.store.startRepair(bad, prev); err != nil {
			return fmt.Errorf("verifier: repair of %v: record its target: %w", bad.Shard, err)
		}
		taken[to] = true
		p.log.Info("replica copied for repair; it replaces the failing one once proven", "shard", bad.Shard, "failing", bad.Miner.Short(), "source", source.Miner.Short(), "new", to.Short())
		return nil
	}
	return fmt.Errorf("verifier: repair of %v failed: %w", bad.Shard, errors.Join(errs...))
}
