package user

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/sched"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/wire"
)

// GetOptions tunes one get.
type GetOptions struct {
	Progress func(int64) // called with bytes checked
	// Window is how many bytes past the write position may be fetched at once
	// (memory bound of the reorder buffer); default 64 MiB.
	Window int64
}

// ErrNoReplica is returned when some piece can be fetched from no miner.
var ErrNoReplica = errors.New("no reachable miner holds a piece")

// GetResult tells where a download's pieces came from.
type GetResult struct {
	Stat          *FileStat
	PiecesByMiner map[string]int   // peer ID → pieces delivered and checked
	DroppedMiners map[string]error // peer ID → why it was dropped
}

// Get fetches the file, checking every piece against the manifest, and writes
// it to w in order. Pieces come from every miner holding them at once,
// chosen rarest-first; a miner that fails or sends bad bytes is dropped and
// its pieces fetched from other replicas.
func (c *Client) Get(ctx context.Context, file cid.Cid, w io.Writer, opts GetOptions) (*GetResult, error) {
	st, err := c.Stat(ctx, file)
	if err != nil {
		return nil, err
	}
	d := newDownload(c, st, w, opts)
	err = d.run(ctx)
	res := &GetResult{Stat: st, PiecesByMiner: map[string]int{}, DroppedMiners: map[string]error{}}
	d.mu.Lock()
	for mk, n := range d.byMiner {
		res.PiecesByMiner[string(mk)] = n
	}
	for mk, e := range d.dropped {
		res.DroppedMiners[string(mk)] = e
	}
	d.mu.Unlock()
	return res, err
}

type pieceRef struct {
	shard, index int // index within the shard
	off          int64
	length       int64
}

type download struct {
	c        *Client
	m        *shard.Manifest
	st       *FileStat
	w        io.Writer
	progress func(int64)
	window   int

	pieces  []pieceRef
	holders [][]sched.Miner // per shard
	addrs   map[sched.Miner]wire.NodeAddr

	mu       sync.Mutex
	cond     *sync.Cond
	s        *sched.RarestFirst
	ready    map[int][]byte
	added    int // pieces [0, added) handed to the scheduler
	written  int // pieces [0, written) written out
	failErr  error
	dropped  map[sched.Miner]error
	byMiner  map[sched.Miner]int
	inFlight int
}

func newDownload(c *Client, st *FileStat, w io.Writer, opts GetOptions) *download {
	m := st.manifest
	d := &download{c: c, m: m, st: st, w: w, progress: opts.Progress, s: sched.NewRarestFirst(),
		ready: map[int][]byte{}, addrs: map[sched.Miner]wire.NodeAddr{}, dropped: map[sched.Miner]error{}, byMiner: map[sched.Miner]int{}}
	if d.progress == nil {
		d.progress = func(int64) {}
	}
	win := opts.Window
	if win <= 0 {
		win = 64 << 20
	}
	d.window = int(max(1, win/m.PieceSize))
	d.cond = sync.NewCond(&d.mu)
	d.holders = make([][]sched.Miner, len(m.Shards))
	for i := range m.Shards {
		for j := 0; j < m.PieceCount(i); j++ {
			d.pieces = append(d.pieces, pieceRef{shard: i, index: j, off: int64(i)*m.ShardSize + int64(j)*m.PieceSize, length: m.PieceLen(i, j)})
		}
		for _, r := range st.replicas[i] {
			mk := sched.Miner(r.Peer.String())
			d.addrs[mk] = r.NodeAddr
			d.holders[i] = append(d.holders[i], mk)
		}
	}
	return d
}

// fill hands pieces inside the window to the scheduler. Caller holds mu.
func (d *download) fill() {
	for d.added < len(d.pieces) && d.added < d.written+d.window {
		p := d.pieces[d.added]
		d.s.Add(d.added, d.holders[p.shard])
		d.added++
	}
}

func (d *download) fail(err error) {
	if d.failErr == nil {
		d.failErr = err
	}
	d.cond.Broadcast()
}

func (d *download) run(ctx context.Context) error {
	if len(d.pieces) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.mu.Lock()
	d.fill()
	d.checkOrphans()
	d.mu.Unlock()

	var wg sync.WaitGroup
	for mk := range d.addrs {
		for k := 0; k < d.c.cfg.Streams; k++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.tunnel(ctx, mk)
			}()
		}
	}
	// Wake everyone when ctx ends.
	stop := context.AfterFunc(ctx, func() {
		d.mu.Lock()
		d.fail(ctx.Err())
		d.mu.Unlock()
	})
	defer stop()

	err := d.writeOut()
	cancel()
	d.mu.Lock()
	if err != nil {
		d.fail(err)
	}
	d.cond.Broadcast()
	d.mu.Unlock()
	wg.Wait()
	return err
}

// writeOut writes checked pieces in order as they become ready.
func (d *download) writeOut() error {
	for {
		d.mu.Lock()
		for d.failErr == nil && d.written < len(d.pieces) && d.ready[d.written] == nil {
			d.cond.Wait()
		}
		if d.failErr != nil {
			err := d.failErr
			d.mu.Unlock()
			return err
		}
		if d.written == len(d.pieces) {
			d.mu.Unlock()
			return nil
		}
		var batch [][]byte
		for d.ready[d.written] != nil {
			batch = append(batch, d.ready[d.written])
			delete(d.ready, d.written)
			d.written++
		}
		d.fill()
		d.cond.Broadcast()
		d.mu.Unlock()
		for _, b := range batch {
			if _, err := d.w.Write(b); err != nil {
				return fmt.Errorf("writing output: %w", err)
			}
		}
	}
}

// checkOrphans fails the download if some piece has no holder left. Caller holds mu.
func (d *download) checkOrphans() {
	if orphans := d.s.Orphans(); len(orphans) > 0 {
		p := d.pieces[orphans[0]]
		var why []error
		for mk, err := range d.dropped {
			why = append(why, fmt.Errorf("%s: %w", string(mk)[max(0, len(mk)-10):], err))
		}
		d.fail(fmt.Errorf("%w: piece %d of shard %d (%v); %d pieces affected; dropped miners: %w",
			ErrNoReplica, p.index, p.shard, d.m.ShardCID(p.shard), len(orphans), errors.Join(why...)))
	}
}

// tunnel is one request slot on one miner.
func (d *download) tunnel(ctx context.Context, mk sched.Miner) {
	addr := d.addrs[mk]
	for {
		d.mu.Lock()
		var (
			gp int
			ok bool
		)
		for {
			if d.failErr != nil || d.written == len(d.pieces) {
				d.mu.Unlock()
				return
			}
			if _, gone := d.dropped[mk]; gone {
				d.mu.Unlock()
				return
			}
			if gp, ok = d.s.Next(mk); ok {
				break
			}
			d.cond.Wait()
		}
		d.inFlight++
		d.mu.Unlock()

		data, err := d.fetch(ctx, addr, gp)

		d.mu.Lock()
		d.inFlight--
		switch {
		case err == nil:
			d.s.Done(gp)
			d.ready[gp] = data
			d.byMiner[mk]++
			d.progress(int64(len(data)))
		case ctx.Err() != nil:
			d.s.Release(gp)
		case errors.Is(err, wire.ErrNotFound):
			// This miner lost the shard: ask others for the piece.
			d.s.Fail(gp, mk)
		default:
			// Bad bytes, a dead connection or a timeout: stop using the miner.
			d.c.log.Warn("dropping miner", "miner", addr.Peer.Short(), "piece", gp, "err", err)
			d.s.Fail(gp, mk)
			d.s.Drop(mk)
			d.dropped[mk] = err
		}
		if err != nil && ctx.Err() == nil {
			d.checkOrphans()
		}
		d.cond.Broadcast()
		d.mu.Unlock()
	}
}

// fetch gets one piece and checks it against its shard's Merkle root.
func (d *download) fetch(ctx context.Context, addr wire.NodeAddr, gp int) ([]byte, error) {
	p := d.pieces[gp]
	cctx, cancel := context.WithTimeout(ctx, time.Duration(d.c.cfg.Timeout))
	defer cancel()
	var pc wire.Piece
	if err := d.c.node.Call(cctx, addr, &wire.GetPiece{Shard: d.m.ShardCID(p.shard), Index: uint32(p.index)}, &pc); err != nil {
		return nil, err
	}
	if int(pc.Index) != p.index || int64(len(pc.Data)) != p.length {
		return nil, wire.Errorf(wire.CodeCorrupt, "miner %s sent piece %d with %d bytes, want piece %d with %d", addr.Peer.Short(), pc.Index, len(pc.Data), p.index, p.length)
	}
	proof := make([]shard.Digest, len(pc.Proof))
	for i, h := range pc.Proof {
		proof[i] = h
	}
	if err := shard.VerifyPiece(d.m.Shards[p.shard], p.index, d.m.PieceCount(p.shard), pc.Data, proof); err != nil {
		return nil, fmt.Errorf("miner %s, piece %d of shard %d: %w", addr.Peer.Short(), p.index, p.shard, wire.Errorf(wire.CodeCorrupt, "%v", err))
	}
	// pc.Data aliases the stream's buffer, which dies with the stream: keep it.
	return pc.Data, nil
}
