package indexer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/sharecode"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
)

// Private files and share-code revocations (docs/SHARING.md).
//
// The indexer keeps every revocation signed by a code's owner, numbered in
// the order it arrived, for the region's miners to pull:
//
//	"r/" ‖ u64 BE sequence        → revocation (sharecode.Revocation's encoding)
//	"R/" ‖ owner key ‖ grant ID   → u64 BE sequence (one record per grant)
//
// It also refuses the commit of a private file on which one miner would
// hold every shard.

const (
	pfxRevocation = "r/"
	pfxRevokedBy  = "R/"
)

func keyRevocation(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(pfxRevocation), seq)
}

// checkPrivatePlacement refuses a private file with fewer than two shards or
// with a miner among the replicas of every shard: that miner would hold the
// whole ciphertext.
func checkPrivatePlacement(m *shard.Manifest, replicas [][]identity.PeerID) error {
	if m.Flags&shard.FlagEncrypted == 0 {
		return nil
	}
	if len(replicas) < 2 {
		return wire.Errorf(wire.CodeBadRequest, "commit: a private file needs at least 2 shards so that no miner holds all of it; this one has %d", len(replicas))
	}
	common := map[identity.PeerID]bool{}
	for _, p := range replicas[0] {
		common[p] = true
	}
	for _, ms := range replicas[1:] {
		next := map[identity.PeerID]bool{}
		for _, p := range ms {
			if common[p] {
				next[p] = true
			}
		}
		common = next
	}
	for p := range common {
		return wire.Errorf(wire.CodeConflict, "commit: private file: miner %v holds every one of its %d shards; place shards 0 and 1 on different miners", p, len(replicas))
	}
	return nil
}

// Revoke records a signed revocation and returns its sequence number; a
// revocation of a grant already revoked returns the first one's number.
func (s *Store) Revoke(b []byte) (uint64, error) {
	r, err := sharecode.ParseRevocation(b)
	if err != nil {
		if errors.Is(err, sharecode.ErrMalformed) {
			return 0, wire.Errorf(wire.CodeBadRequest, "revoke: %v", err)
		}
		return 0, err
	}
	by := append(append([]byte(pfxRevokedBy), r.Owner.PublicKey()...), r.Grant[:]...)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if v, err := s.get(by); err == nil && len(v) == 8 {
		return binary.BigEndian.Uint64(v), nil
	} else if err != nil && !errors.Is(err, pebble.ErrNotFound) {
		return 0, err
	}
	last, err := s.lastRevocation()
	if err != nil {
		return 0, err
	}
	seq := last + 1
	bt := s.db.NewBatch()
	defer bt.Close()
	if err := bt.Set(keyRevocation(seq), r.Encode(), nil); err != nil {
		return 0, err
	}
	if err := bt.Set(by, binary.BigEndian.AppendUint64(nil, seq), nil); err != nil {
		return 0, err
	}
	if err := s.db.Commit(bt, pebble.Sync); err != nil {
		return 0, fmt.Errorf("indexer: record revocation: %w", err)
	}
	return seq, nil
}

// lastRevocation returns the highest sequence number used (0: none).
func (s *Store) lastRevocation() (uint64, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte(pfxRevocation), UpperBound: prefixEnd([]byte(pfxRevocation))})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	if !it.Last() {
		return 0, it.Error()
	}
	return binary.BigEndian.Uint64(it.Key()[len(pfxRevocation):]), nil
}

// Revocations lists up to limit revocations recorded after sequence number
// after, the number of the last one listed, and whether more follow.
func (s *Store) Revocations(after uint64, limit int) ([][]byte, uint64, bool, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: keyRevocation(after + 1), UpperBound: prefixEnd([]byte(pfxRevocation))})
	if err != nil {
		return nil, 0, false, err
	}
	defer it.Close()
	var out [][]byte
	last := after
	for it.First(); it.Valid(); it.Next() {
		if len(out) == limit {
			return out, last, true, nil
		}
		out = append(out, append([]byte(nil), it.Value()...))
		last = binary.BigEndian.Uint64(it.Key()[len(pfxRevocation):])
	}
	return out, last, false, it.Error()
}

func (p *Peer) handleRevoke(_ context.Context, peer identity.PeerID, req *wire.Revoke) (wire.Message, error) {
	seq, err := p.store.Revoke(req.Revocation)
	if err != nil {
		p.log.Info("revocation refused", "peer", peer.Short(), "err", err)
		return nil, err
	}
	p.log.Info("share code revoked", "seq", seq, "from", peer.Short())
	return &wire.Revoked{Seq: seq}, nil
}

func (p *Peer) handleListRevocations(_ context.Context, _ identity.PeerID, req *wire.ListRevocations) (wire.Message, error) {
	list, last, more, err := p.store.Revocations(req.After, wire.MaxRevocationsPerList)
	if err != nil {
		return nil, err
	}
	return &wire.RevocationList{Revocations: list, Last: last, More: more}, nil
}

// handleShare registers the share-code handlers (called from New).
func (p *Peer) handleShare() {
	p.node.Handle(wire.TypeRevoke, transport.Unary(p.handleRevoke))
	p.node.Handle(wire.TypeListRevocations, transport.Unary(p.handleListRevocations))
}
