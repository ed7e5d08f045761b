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
func (p *Peer) handleGetPiece(ctx context.Context, s *transport.Stream, m wire.Message) error {
	req, ok := m.(*wire.GetPiece)
	if !ok {
		return wire.Errorf(wire.CodeBadRequest, "unexpected %v", m.Type())
	}
	root, err := shard.DigestOf(req.Shard, shard.ShardCodec)
	if err != nil {
		return wire.Errorf(wire.CodeBadRequest, "get piece: not a shard CID: %v", err)
	}
	p.sealer.served()
	rec := p.store.get(root)
	if rec == nil {
		return wire.Errorf(wire.CodeNotFound, "miner %s does not hold %v", p.short, req.Shard)
	}
	if err := p.access.allow(ctx, s.Peer(), req.Shard, root, rec); err != nil {
		return err
	}
	i := int(req.Index)
	if i >= len(rec.pieces) {
		return wire.Errorf(wire.CodeBadRequest, "shard %v has %d pieces; there is no piece %d", req.Shard, len(rec.pieces), req.Index)
	}
	if req.Count > wire.MaxPiecesPerRequest {
		return wire.Errorf(wire.CodeBadRequest, "get %d pieces of %v in one request: at most %d; split the range", req.Count, req.Shard, wire.MaxPiecesPerRequest)
	}
	n := int(req.Count)
	if n == 0 {
		n = 1
	}
	if n > len(rec.pieces)-i {
		return wire.Errorf(wire.CodeBadRequest, "shard %v has %d pieces; there are no pieces %d..%d", req.Shard, len(rec.pieces), i, i+n-1)
	}
	f, readData, err := p.sealer.openReplica(req.Shard, root, rec)
	if err != nil {
		p.log.Error("cannot open a stored shard", "shard", req.Shard, "err", err)
		return err
	}
	defer f.Close()
	buf := getBuf(int(rec.pieceSize))
	defer putBuf(buf)
	// A run of pieces takes as long as the reader's link needs; only a
	// reader that takes nothing for serveIdle is given up.
	s.SetIdleTimeout(p.cfg.serveIdle)
	tree := shard.NewTree(rec.pieces) // hashed once for the whole run
	for j := i; j < i+n; j++ {
		data := buf[:rec.pieceLen(j)]
		if err := readData(data, int64(j)*rec.pieceSize); err != nil {
			p.log.Error("cannot read a stored piece", "shard", req.Shard, "piece", j, "err", err)
			return wire.Errorf(wire.CodeInternal, "%s: read piece %d of %v: %v", p.short, j, req.Shard, err)
		}
		path := tree.Proof(j)
		proof := make([][32]byte, len(path))
		for k, d := range path {
			proof[k] = d
		}
		if err := s.Send(&wire.Piece{Index: uint32(j), Data: data, Proof: proof}); err != nil {
			return fmt.Errorf("miner %s: send piece %d of %v: %w", p.short, j, req.Shard, err)
		}
		p.metrics.bytesServed.Add(float64(len(data)))
	}
	return nil
}
