package user

import (
	"context"
	"fmt"

	"github.com/ppstore/ppstore/wire"
)

// Liveness of a replica's miner, as CheckLive sets it and `ppstore stat`
// prints it.
const (
	// LiveAtBootstrap: the miner has an unexpired, validly signed record at
	// the region's bootstrap, so it refreshed its registration within its
	// record TTL (a minute by default, miner.DefaultRecordTTL).
	LiveAtBootstrap = "live"
	// Unreachable: the bootstrap lists no live record of the miner; it
	// stopped, or lost its way to the bootstrap, at least a record TTL ago.
	Unreachable = "unreachable"
	// LivenessUnknown: the bootstrap was not asked or did not answer.
	LivenessUnknown = "unknown"
)

// Liveness names what r.Live says: LiveAtBootstrap, Unreachable or
// LivenessUnknown.
func (r ReplicaStat) Liveness() string {
	switch {
	case r.Live == nil:
		return LivenessUnknown
	case *r.Live:
		return LiveAtBootstrap
	default:
		return Unreachable
	}
}

// CheckLive asks the bootstrap for the live miner records of the region and
// sets Live on every replica of st: true when its miner has a record there.
// On error (no bootstrap answered: errors.Is discover.ErrNoBootstrap) st is
// left as it was, every Live nil.
//
// A miner's record outlives the miner by up to its TTL, so a miner stopped
// less than a TTL ago still counts as live.
func (c *Client) CheckLive(ctx context.Context, st *FileStat) error {
	recs, err := c.disc.List(ctx, wire.RoleMiner)
	if err != nil {
		return fmt.Errorf("asking the bootstrap which miners are live: %w", err)
	}
	live := make(map[string]bool, len(recs))
	for _, r := range recs {
		live[r.Peer.String()] = true
	}
	for i := range st.Shards {
		for j := range st.Shards[i].Replicas {
			r := &st.Shards[i].Replicas[j]
			v := live[r.Miner]
			r.Live = &v
		}
	}
	return nil
}
