package user

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

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
	// Run is the most consecutive pieces of one shard asked of a miner in one
	// request; default Config.RunPieces.
	Run int
	// Access is what a share code gave (Client.Resolve); nil reads public
	// files, and private ones as their owner.
	Access *Access
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
	return c.Fetch(ctx, st, w, opts)
}

// Fetch is Get for a file already located with Stat.
func (c *Client) Fetch(ctx context.Context, st *FileStat, w io.Writer, opts GetOptions) (*GetResult, error) {
	if a := opts.Access; a != nil && a.File.String() != st.CID {
		return nil, wire.Errorf(wire.CodeShareDenied, "the share code is for file %v, not %v", a.File, st.CID)
	}
	w, finish := c.decrypting(st, w, opts.Access) // private files (private.go)
	d := newDownload(c, st, w, opts)
	err := d.run(ctx)
	if err == nil {
		err = finish()
	}
	err = noKey(err, opts.Access)
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
	runLen   int
	access   *Access // presented to miners (share.go)

	pieces  []pieceRef
	holders [][]sched.Miner // per shard
	addrs   map[sched.Miner]wire.NodeAddr

	mu       sync.Mutex
	cond     *sync.Cond // tunnels wait here for work
	wcond    *sync.Cond // the writer waits here for the next piece
	s        *sched.RarestFirst
	ready    map[int][]byte // checked pieces waiting to be written
	bufs     map[int][]byte // the pooled buffer each ready piece lives in
	pool     sync.Pool
	added    int // pieces [0, added) handed to the scheduler
	written  int // pieces [0, written) written out
	failErr  error
	dropped  map[sched.Miner]error
	stop     map[sched.Miner]context.CancelFunc // ends a miner's requests when it is dropped
	byMiner  map[sched.Miner]int
	inFlight int
}

func newDownload(c *Client, st *FileStat, w io.Writer, opts GetOptions) *download {
	m := st.manifest
	d := &download{c: c, m: m, st: st, w: w, progress: opts.Progress, s: sched.NewRarestFirst(), access: opts.Access,
		ready: map[int][]byte{}, bufs: map[int][]byte{}, addrs: map[sched.Miner]wire.NodeAddr{}, dropped: map[sched.Miner]error{}, byMiner: map[sched.Miner]int{}}
	if d.progress == nil {
		d.progress = func(int64) {}
	}
	win := opts.Window
	if win <= 0 {
		win = 64 << 20
	}
	d.window = int(max(1, win/m.PieceSize))
	d.runLen = opts.Run
	if d.runLen <= 0 {
		d.runLen = c.cfg.RunPieces
	}
	d.runLen = min(d.runLen, wire.MaxPiecesPerRequest) // what a miner answers
	d.cond = sync.NewCond(&d.mu)
	d.wcond = sync.NewCond(&d.mu)
	bufSize := int(m.PieceSize) + 4096 // a piece frame: the piece, its proof, a few fields
	d.pool.New = func() any { return make([]byte, bufSize) }
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
	d.wcond.Broadcast()
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
	d.stop = make(map[sched.Miner]context.CancelFunc, len(d.addrs))
	for mk := range d.addrs {
		mctx, stop := context.WithCancel(ctx)
		d.stop[mk] = stop
		for k := 0; k < d.c.cfg.Streams; k++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.tunnel(mctx, mk)
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
			d.wcond.Wait()
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
		var batch, bufs [][]byte
		for d.ready[d.written] != nil {
			batch = append(batch, d.ready[d.written])
			bufs = append(bufs, d.bufs[d.written])
			delete(d.ready, d.written)
			delete(d.bufs, d.written)
			d.written++
		}
		before := d.added
		d.fill()
		if d.added != before {
			d.cond.Broadcast() // new pieces in the window
			// A piece entering the window may have lost every holder already.
			d.checkOrphans()
		}
		d.mu.Unlock()
		for i, b := range batch {
			if _, err := d.w.Write(b); err != nil {
				return fmt.Errorf("writing output: %w", err)
			}
			d.pool.Put(bufs[i])
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

// tunnel is one request slot on one miner. It asks the scheduler for a piece,
// extends it to a run of following pieces of the same shard, and fetches the
// run on one stream. ctx ends when the download ends or the miner is dropped.
func (d *download) tunnel(ctx context.Context, mk sched.Miner) {
	addr := d.addrs[mk]
	run := make([]int, 0, d.runLen)
	for {
		d.mu.Lock()
		for {
			if d.failErr != nil || d.written == len(d.pieces) {
				d.mu.Unlock()
				return
			}
			if _, gone := d.dropped[mk]; gone {
				d.mu.Unlock()
				return
			}
			if gp, ok := d.s.Next(mk); ok {
				run = append(run[:0], gp)
				break
			}
			d.cond.Wait()
		}
		for len(run) < d.runLen {
			q := run[len(run)-1] + 1
			if q >= d.added || d.pieces[q].shard != d.pieces[run[0]].shard || !d.s.Take(q, mk) {
				break
			}
			run = append(run, q)
		}
		d.inFlight++
		d.mu.Unlock()

		done, err := d.fetchRun(ctx, addr, mk, run)

		d.mu.Lock()
		d.inFlight--
		if err != nil {
			failed := run[done]
			switch {
			case ctx.Err() != nil:
				// The download ended, or another request dropped this miner.
				d.s.Release(failed)
			case errors.Is(err, wire.ErrNotFound):
				// This miner lost the shard: ask others for the piece.
				d.s.Fail(failed, mk)
			case refusedAccess(err):
				// Every miner checks a code the same way: the get ends here.
				d.s.Release(failed)
				d.fail(err)
			default:
				// Bad bytes, a dead connection or a timeout: stop using the miner.
				d.c.log.Warn("dropping miner", "miner", addr.Peer.Short(), "piece", failed, "err", err)
				d.s.Fail(failed, mk)
				d.s.Drop(mk)
				d.dropped[mk] = err
			}
			for _, q := range run[done+1:] {
				d.s.Release(q)
			}
			// Also when this miner's requests were ended because another
			// dropped it: the pieces released here may have had no other
			// holder, and the check at the drop did not see them in flight.
			if d.failErr == nil {
				d.checkOrphans()
			}
			if _, gone := d.dropped[mk]; gone {
				d.stop[mk]() // its other requests end now, not at their own timeouts
			}
			d.cond.Broadcast() // released pieces are work for other tunnels
		}
		d.mu.Unlock()
	}
}

// fetchRun gets consecutive pieces of one shard from one miner on one stream,
// checking each against its shard's Merkle root and handing it over as it
// arrives. It returns how many pieces were delivered and, if not all, why the
// next one failed.
func (d *download) fetchRun(ctx context.Context, addr wire.NodeAddr, mk sched.Miner, run []int) (int, error) {
	first := d.pieces[run[0]]
	buf := func() []byte { return d.pool.Get().([]byte) }
	return d.c.fetchRun(ctx, d.m, d.access, addr, first.shard, first.index, len(run), buf, func(k int, data, b []byte) {
		gp := run[k]
		d.mu.Lock()
		d.s.Done(gp)
		d.ready[gp] = data
		d.bufs[gp] = b
		d.byMiner[mk]++
		d.progress(int64(len(data)))
		if gp == d.written {
			d.wcond.Signal()
		}
		d.mu.Unlock()
	}, func(b []byte) { d.pool.Put(b) })
}
