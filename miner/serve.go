package miner

import (
	"context"
	"fmt"

	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
)

// handleGetPiece answers one piece of a stored shard with its Merkle proof.
// The bytes are read from disk as they are, not re-hashed: the client checks
// every piece against the shard's root, and finding bit rot is the
// verifier's job.
func (p *Peer) handleGetPiece(_ context.Context, s *transport.Stream, m wire.Message) error {
	req, ok := m.(*wire.GetPiece)
	if !ok {
		return wire.Errorf(wire.CodeBadRequest, "unexpected %v", m.Type())
	}
	root, err := shard.DigestOf(req.Shard, shard.ShardCodec)
	if err != nil {
		return wire.Errorf(wire.CodeBadRequest, "get piece: not a shard CID: %v", err)
	}
	rec := p.store.get(root)
	if rec == nil {
		return wire.Errorf(wire.CodeNotFound, "miner %s does not hold %v", p.short, req.Shard)
	}
	i := int(req.Index)
	if i >= len(rec.pieces) {
		return wire.Errorf(wire.CodeBadRequest, "shard %v has %d pieces; there is no piece %d", req.Shard, len(rec.pieces), req.Index)
	}
	buf := getBuf(int(rec.pieceLen(i)))
	defer putBuf(buf)
	if err := p.store.readPiece(req.Shard, root, rec, i, buf); err != nil {
		p.log.Error("cannot read a stored piece", "shard", req.Shard, "piece", i, "err", err)
		return err
	}
	path := shard.MerkleProof(rec.pieces, i)
	proof := make([][32]byte, len(path))
	for j, d := range path {
		proof[j] = d
	}
	if err := s.Send(&wire.Piece{Index: req.Index, Data: buf, Proof: proof}); err != nil {
		return fmt.Errorf("miner %s: send piece %d of %v: %w", p.short, i, req.Shard, err)
	}
	p.metrics.bytesServed.Add(float64(len(buf)))
	return nil
}
