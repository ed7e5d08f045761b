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
// holds no replica of it, asks that miner to copy the shard from the
// source (wire.RepairShard: every piece checked against commD), and once
// the copy is durable drops the failing replica's record. The new replica
// is recorded when its PoRep passes, as any other. One replica is replaced
// by one, so a shard keeps the count it was stored with.
//
// The indexer is not told yet (it still lists the failing holder and not
// the new one): that step is left for the indexer's replica status.
func (p *Peer) RunRepairs(ctx context.Context) error {
	states, err := p.store.replicas()
	if err != nil {
		return err
	}
	byShard := map[string][]*ReplicaState{}
	for _, r := range states {
		byShard[r.Shard.KeyString()] = append(byShard[r.Shard.KeyString()], r)
	}
	var addrs map[identity.PeerID]string
	var errs []error
	for _, r := range states {
		if r.Status != StatusRepairing {
			continue
		}
		if addrs == nil {
			if addrs, err = p.minerAddrs(ctx); err != nil {
				return fmt.Errorf("verifier: repair: listing the miners: %w", err)
			}
		}
		if err := p.repair(ctx, r, byShard[r.Shard.KeyString()], addrs); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (p *Peer) repair(ctx context.Context, bad *ReplicaState, same []*ReplicaState, addrs map[identity.PeerID]string) error {
	holders := map[identity.PeerID]bool{}
	var source *ReplicaState
	for _, r := range same {
		holders[r.Miner] = true
		if r.Status == StatusProven && addrs[r.Miner] != "" && source == nil {
			source = r
		}
	}
	if source == nil {
		return fmt.Errorf("verifier: repair of %v: no live proven replica to copy from", bad.Shard)
	}
	var cands []identity.PeerID
	for m, a := range addrs {
		if !holders[m] && a != "" {
			cands = append(cands, m)
		}
	}
	if len(cands) == 0 {
		return fmt.Errorf("verifier: repair of %v: every live miner holds it already", bad.Shard)
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
		if err := p.store.deleteReplica(bad.Miner, bad.Shard); err != nil {
			return fmt.Errorf("verifier: repair of %v: drop the failing record: %w", bad.Shard, err)
		}
		p.log.Info("replica repaired", "shard", bad.Shard, "failing", bad.Miner.Short(), "source", source.Miner.Short(), "new", to.Short())
		return nil
	}
	return fmt.Errorf("verifier: repair of %v failed: %w", bad.Shard, errors.Join(errs...))
}
