package indexer

import (
	"errors"
	"unicode/utf8"

	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/wire"
)

const (
	// MaxReplicas is the most replicas one Place or one commit may ask for per shard.
	MaxReplicas = wire.MaxReplicas
	// MaxNameLen is the longest file name a commit may carry, in bytes.
	MaxNameLen = wire.MaxNameLen
)

// checkCommit checks everything a commit claims without touching the index,
// except the receipts' signatures (verifyReceipts, the costly part, which the
// caller runs once the signers are known to be miners of the region). Errors
// name the shard and miner at fault.
func checkCommit(owner identity.PeerID, c *wire.Commit) (fileRecord, error) {
	if owner.IsZero() {
		return fileRecord{}, wire.Errorf(wire.CodeUnauthorized, "commit from an unidentified peer")
	}
	m, err := shard.DecodeManifest(c.Manifest)
	if err != nil {
		if errors.Is(err, shard.ErrBadManifest) {
			return fileRecord{}, wire.Errorf(wire.CodeBadRequest, "commit: %v", err)
		}
		return fileRecord{}, err
	}
	if len(c.Name) > MaxNameLen || !utf8.ValidString(c.Name) {
		return fileRecord{}, wire.Errorf(wire.CodeBadRequest, "commit: name of %d bytes; at most %d bytes of UTF-8", len(c.Name), MaxNameLen)
	}
	if len(c.Receipts) != len(m.Shards) {
		return fileRecord{}, wire.Errorf(wire.CodeBadRequest,
			"commit: manifest has %d shards but receipts are given for %d; send one receipt list per shard", len(m.Shards), len(c.Receipts))
	}
	rec := fileRecord{
		cid:      m.CID(),
		manifest: c.Manifest,
		shards:   len(m.Shards),
		size:     uint64(m.Size),
		owner:    owner,
		name:     c.Name,
		replicas: make([][]identity.PeerID, len(m.Shards)),
	}
	// Cheap checks over every receipt first, signatures last.
	for i, rs := range c.Receipts {
		if len(rs) == 0 {
			return fileRecord{}, wire.Errorf(wire.CodeBadRequest, "commit: shard %d has no receipt; store it on a miner first", i)
		}
		if len(rs) > MaxReplicas {
			return fileRecord{}, wire.Errorf(wire.CodeBadRequest, "commit: shard %d has %d receipts, at most %d", i, len(rs), MaxReplicas)
		}
		want, wantLen := m.ShardCID(i), uint64(m.ShardLen(i))
		miners := make([]identity.PeerID, 0, len(rs))
		for j := range rs {
			r := &rs[j]
			if r.Miner.IsZero() {
				return fileRecord{}, wire.Errorf(wire.CodeBadRequest, "commit: shard %d: receipt %d names no miner", i, j)
			}
			if !r.Shard.Equals(want) {
				return fileRecord{}, wire.Errorf(wire.CodeBadRequest,
					"commit: shard %d: receipt from miner %v is for shard %v, the manifest says %v", i, r.Miner, r.Shard, want)
			}
			if r.Size != wantLen {
				return fileRecord{}, wire.Errorf(wire.CodeBadRequest,
					"commit: shard %d: receipt from miner %v is for %d bytes, the manifest says %d", i, r.Miner, r.Size, wantLen)
			}
			if r.Owner != owner {
				return fileRecord{}, wire.Errorf(wire.CodeUnauthorized,
					"commit: shard %d: receipt from miner %v was issued to %v, not to the committing peer %v", i, r.Miner, r.Owner, owner)
			}
			for _, p := range miners {
				if p == r.Miner {
					return fileRecord{}, wire.Errorf(wire.CodeBadRequest,
						"commit: shard %d: miner %v gave more than one receipt; replicas must be on distinct miners", i, r.Miner)
				}
			}
			miners = append(miners, r.Miner)
		}
		rec.replicas[i] = miners
	}
	return rec, nil
}

// verifyReceipts checks the signature of every receipt of c.
func verifyReceipts(c *wire.Commit) error {
	for i, rs := range c.Receipts {
		for j := range rs {
			if rs[j].Verify() != nil {
				return wire.Errorf(wire.CodeUnauthorized,
					"commit: shard %d: receipt from miner %v has a bad signature", i, rs[j].Miner)
			}
		}
	}
	return nil
}
