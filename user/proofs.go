package user

import (
	"context"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/wire"
)

// proofStateNames name the verifier's replica states for ReplicaStat.Proof.
var proofStateNames = map[uint8]string{wire.ProofProven: "proven", wire.ProofFailing: "failing", wire.ProofRepairing: "repairing"}

// CheckProofs asks the region's verifier for the proof state of every
// replica in st and fills ReplicaStat.Proof ("proven", "failing",
// "repairing"; "stored" for a replica the verifier has not proven yet),
// ReplicaStat.LastPassEpoch and ReplicaStat.ProvenEpoch. On error (no verifier registered or
// answering) st is left as it was.
func (c *Client) CheckProofs(ctx context.Context, st *FileStat) error {
	v, err := c.disc.Find(ctx, wire.RoleVerifier)
	if err != nil {
		return fmt.Errorf("finding the region's verifier: %w", err)
	}
	states := make([][]wire.ReplicaProof, 0, len(st.Shards))
	for lo := 0; lo < len(st.Shards); lo += wire.MaxPoStShards {
		hi := min(lo+wire.MaxPoStShards, len(st.Shards))
		req := &wire.ProofStatus{Shards: make([]cid.Cid, hi-lo)}
		for i := lo; i < hi; i++ {
			if req.Shards[i-lo], err = cid.Decode(st.Shards[i].CID); err != nil {
				return err
			}
		}
		var resp wire.ProofStates
		if err := c.node.Call(ctx, v, req, &resp); err != nil {
			return fmt.Errorf("asking the verifier %s: %w", v.Peer.Short(), err)
		}
		if len(resp.Shards) != hi-lo {
			return wire.Errorf(wire.CodeBadRequest, "the verifier answered for %d shards, asked %d", len(resp.Shards), hi-lo)
		}
		states = append(states, resp.Shards...)
	}
	for i := range st.Shards {
		byMiner := map[string]wire.ReplicaProof{}
		for _, rp := range states[i] {
			byMiner[rp.Miner.String()] = rp
		}
		for j := range st.Shards[i].Replicas {
			r := &st.Shards[i].Replicas[j]
			r.Proof = "stored"
			if rp, ok := byMiner[r.Miner]; ok {
				r.Proof = proofStateNames[rp.State]
				r.LastPassEpoch = rp.LastPass
				r.ProvenEpoch = rp.Proven
			}
		}
	}
	return nil
}
