package user

import (
	"context"
	"fmt"
	"time"

	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
)

// fetchRun asks the miner at addr for count consecutive pieces of shard
// shardIdx of the file m, starting at piece first, on one stream (with the
// share code's grant a, if any: Access.PieceRequest), and checks
// each against the shard's Merkle root as it arrives. Each piece is read into
// a buffer from buf (at least a piece and its proof long, or it grows) and
// handed to got with its index in the run; a buffer that held no good piece
// goes back through put. It returns how many pieces were delivered and, if
// not all, why the next one failed. get and play share it, so every piece a
// client reads is checked the same way.
func (c *Client) fetchRun(ctx context.Context, m *shard.Manifest, a *Access, addr wire.NodeAddr, shardIdx, first, count int,
	buf func() []byte, got func(k int, data, buf []byte), put func([]byte)) (int, error) {
	// The request must be under way within Timeout; after that the miner
	// may take as long as the link needs, but not fall silent for
	// PieceTimeout (a silent miner is dead).
	octx, cancel := context.WithTimeout(ctx, time.Duration(c.cfg.Timeout))
	defer cancel()
	st, err := c.node.Open(octx, addr)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	st.SetIdleTimeout(time.Duration(c.cfg.PieceTimeout))
	// Reads honour only deadlines: abort the stream when the caller's
	// context ends (the download ended, the miner was dropped, the player
	// went away).
	defer context.AfterFunc(ctx, st.Abort)()
	if err := st.Send(a.PieceRequest(m.ShardCID(shardIdx), uint32(first), uint32(count))); err != nil {
		return 0, err
	}
	_ = st.CloseWrite()
	for k := 0; k < count; k++ {
		b := buf()
		st.SetReadBuffer(b)
		data, err := checkPiece(st, m, addr, shardIdx, first+k)
		if err != nil {
			put(b)
			return k, err
		}
		got(k, data, b)
	}
	return count, nil
}

// checkPiece reads one Piece frame and verifies it is piece index of shard
// shardIdx of m: its number, its length and its Merkle path to the shard root
// the manifest names. A failure is a wire.ErrCorrupt naming the miner.
func checkPiece(st *transport.Stream, m *shard.Manifest, addr wire.NodeAddr, shardIdx, index int) ([]byte, error) {
	length := m.PieceLen(shardIdx, index)
	var pc wire.Piece
	if err := st.Expect(&pc); err != nil {
		return nil, err
	}
	if int(pc.Index) != index || int64(len(pc.Data)) != length {
		return nil, wire.Errorf(wire.CodeCorrupt, "miner %s sent piece %d with %d bytes, want piece %d with %d", addr.Peer.Short(), pc.Index, len(pc.Data), index, length)
	}
	proof := make([]shard.Digest, len(pc.Proof))
	for i, h := range pc.Proof {
		proof[i] = h
	}
	if err := shard.VerifyPiece(m.Shards[shardIdx], index, m.PieceCount(shardIdx), pc.Data, proof); err != nil {
		return nil, fmt.Errorf("miner %s, piece %d of shard %d: %w", addr.Peer.Short(), index, shardIdx, wire.Errorf(wire.CodeCorrupt, "%v", err))
	}
	// pc.Data aliases the buffer (or, for an oversized frame, one of its own).
	return pc.Data, nil
}
