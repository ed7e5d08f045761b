package miner

import (
	"context"
	"fmt"
	"time"

	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
)

// repairRun is how many pieces a repair asks of the source per request.
const repairRun = 4

// handleRepairShard copies a shard from another miner on the verifier's
// request (miner-to-miner repair): every piece is checked against the
// shard's root (commD) as it arrives, the shard is stored as an upload is
// (temp file, fsync, rename, record), then sealed and proven in the
// background. Only the region's verifier may ask: anyone else could make
// a miner fetch and keep data for free. The shard is recorded as held for
// the verifier (the owners of its files are not known here).
func (p *Peer) handleRepairShard(ctx context.Context, s *transport.Stream, m wire.Message) error {
	req, ok := m.(*wire.RepairShard)
	if !ok {
		return wire.Errorf(wire.CodeBadRequest, "unexpected %v", m.Type())
	}
	v, err := p.prover.findVerifier(ctx)
	if err != nil || v.Peer != s.Peer() {
		return wire.Errorf(wire.CodeUnauthorized, "miner %s: only the region's verifier may ask for a repair", p.short)
	}
	root, err := shard.DigestOf(req.Shard, shard.ShardCodec)
	if err != nil {
		return wire.Errorf(wire.CodeBadRequest, "repair: not a shard CID: %v", err)
	}
	if req.Size < 1 || req.Size > shard.MaxShardSize || req.PieceSize < 1 || req.PieceSize > shard.MaxPieceSize ||
		(req.Size+uint64(req.PieceSize)-1)/uint64(req.PieceSize) > shard.MaxPiecesPerShard {
		return wire.Errorf(wire.CodeBadRequest, "repair %v: sizes %d / %d out of range", req.Shard, req.Size, req.PieceSize)
	}
	if p.store.get(root) != nil {
		return s.Send(&wire.RepairDone{}) // held already
	}
	s.SetIdleTimeout(p.cfg.serveIdle)
	pend, err := p.store.begin(req.Shard, root, int64(req.Size))
	if err != nil {
		return err
	}
	defer pend.abort() // no-op after commit
	n := int((req.Size + uint64(req.PieceSize) - 1) / uint64(req.PieceSize))
	digests := make([]shard.Digest, 0, n)
	for first := 0; first < n; first += repairRun {
		count := min(repairRun, n-first)
		if err := p.fetchRun(ctx, req, root, n, first, count, func(d shard.Digest, data []byte) error {
			digests = append(digests, d)
			return pend.write(data)
		}); err != nil {
			return err
		}
	}
	// Pending like an upload until the indexer records the repaired replica
	// (after its PoRep); unconfirmed when the lease ends, it is reclaimed.
	if _, err := pend.commit(int64(req.PieceSize), digests, s.Peer(), time.Now().Add(p.cfg.UploadLease)); err != nil {
		return err
	}
	p.metrics.shardsStored.Inc()
	p.sealer.notify()
	p.log.Info("repaired shard", "shard", req.Shard, "from", req.Source.Peer.Short())
	return s.Send(&wire.RepairDone{})
}

// fetchRun reads pieces [first, first+count) of a shard from the repair's
// source, checking each against root.
func (p *Peer) fetchRun(ctx context.Context, req *wire.RepairShard, root shard.Digest, n, first, count int, got func(shard.Digest, []byte) error) error {
	st, err := p.node.Open(ctx, req.Source)
	if err != nil {
		return wire.Errorf(wire.CodeUnavailable, "repair %v: source %s: %v", req.Shard, req.Source.Peer.Short(), err)
	}
	defer st.Close()
	st.SetIdleTimeout(p.cfg.serveIdle)
	if err := st.Send(&wire.GetPiece{Shard: req.Shard, Index: uint32(first), Count: uint32(count)}); err != nil {
		return err
	}
	st.CloseWrite()
	for i := first; i < first+count; i++ {
		var pc wire.Piece
		if err := st.Expect(&pc); err != nil {
			return wire.Errorf(wire.CodeUnavailable, "repair %v: piece %d from %s: %v", req.Shard, i, req.Source.Peer.Short(), err)
		}
		proof := make([]shard.Digest, len(pc.Proof))
		for k, d := range pc.Proof {
			proof[k] = d
		}
		want := min(int64(req.PieceSize), int64(req.Size)-int64(i)*int64(req.PieceSize))
		if int(pc.Index) != i || int64(len(pc.Data)) != want {
			return wire.Errorf(wire.CodeCorrupt, "repair %v: source %s sent piece %d of %d bytes for piece %d of %d", req.Shard, req.Source.Peer.Short(), pc.Index, len(pc.Data), i, want)
		}
		if err := shard.VerifyPiece(root, i, n, pc.Data, proof); err != nil {
			return wire.Errorf(wire.CodeCorrupt, "repair %v: piece %d from %s: %v", req.Shard, i, req.Source.Peer.Short(), err)
		}
		if err := got(shard.PieceDigest(pc.Data), pc.Data); err != nil {
			return fmt.Errorf("repair %v: %w", req.Shard, err)
		}
	}
	return nil
}
