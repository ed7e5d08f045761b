package user

import (
	"container/list"
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

// Policy chooses how a Stream schedules its pieces.
type Policy int

const (
	// UrgencyFirst takes pieces in playback order, each to the miner that
	// is expected to deliver it first, and hedges late pieces
	// (sched.Urgent). The default.
	UrgencyFirst Policy = iota
	// RarestFirst is get's policy, kept for comparison benchmarks.
	RarestFirst
)

// StreamOptions tunes a Stream. Zero values mean the defaults.
type StreamOptions struct {
	// ReadAhead is how far past a reader's position pieces are fetched;
	// default 4 MiB (4 s of an 8 Mbit/s video).
	ReadAhead int64
	// Cache is how many bytes of checked pieces are kept for re-reads and
	// overlapping ranges (players ask for the same bytes more than once);
	// default 32 MiB.
	Cache int64
	// Streams is the number of requests in flight per miner; default 2,
	// enough to hide a round trip between pieces.
	Streams int
	// Policy is UrgencyFirst by default.
	Policy Policy
	// Access is what a share code gave (Client.Resolve); nil reads public
	// files, and private ones as their owner.
	Access *Access
}

// StreamStats counts what a Stream did.
type StreamStats struct {
	PiecesByMiner map[string]int   // peer ID → pieces delivered and checked
	DroppedMiners map[string]error // peer ID → why it was dropped
	Hedged        int              // late pieces asked of a second miner
	Requests      int              // requests in flight now
}

// ErrStreamClosed is returned by reads from a closed Stream.
var ErrStreamClosed = errors.New("stream closed")

// Stream reads ranges of one file on demand, for a player: only the pieces a
// range needs are fetched, from its position on and ReadAhead past it, each
// checked against its Merkle path like get's. Concurrent readers share the
// pieces and the miners' measured speeds. Create it with OpenStream; Close
// ends its requests.
type Stream struct {
	c      *Client
	m      *shard.Manifest
	st     *FileStat
	opts   StreamOptions
	ahead  int // pieces
	pieces []pieceRef
	hold   [][]sched.Miner // per shard
	addrs  map[sched.Miner]wire.NodeAddr

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	cond    *sync.Cond
	closed  bool
	urg     *sched.Urgent
	rf      *sched.RarestFirst
	cache   map[int]*list.Element // piece → element of lru holding *cached
	lru     *list.List            // front: most recently used
	cached  int64                 // bytes in cache
	wants   map[int]int           // piece → readers waiting for it
	pos     map[*RangeReader]int  // each open reader's current piece
	reqs    map[*streamReq]bool   // requests in flight
	dropped map[sched.Miner]error
	stop    map[sched.Miner]context.CancelFunc
	byMiner map[sched.Miner]int
	hedged  int
	failErr error // a refusal every miner would repeat (a share code refused)

	hdr []byte // a private file's encryption header (stream_private.go)
}

type cachedPiece struct {
	p    int
	data []byte
}

type streamReq struct {
	pieces []int
	cancel context.CancelFunc
}

// OpenStream locates file and returns a Stream of it. For a private file
// it also reads the encryption header (the first piece), so that
// PlainRange can decrypt.
func (c *Client) OpenStream(ctx context.Context, file cid.Cid, opts StreamOptions) (*Stream, error) {
	if a := opts.Access; a != nil && !a.File.Equals(file) {
		return nil, wire.Errorf(wire.CodeShareDenied, "the share code is for file %v, not %v", a.File, file)
	}
	st, err := c.Stat(ctx, file)
	if err != nil {
		return nil, err
	}
	s := c.NewStream(st, opts)
	if st.Private() {
		if err := s.readHeader(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// NewStream returns a Stream of a file already located with Stat. Its
// requests run until Close.
func (c *Client) NewStream(st *FileStat, opts StreamOptions) *Stream {
	if opts.ReadAhead <= 0 {
		opts.ReadAhead = 4 << 20
	}
	if opts.Cache <= 0 {
		opts.Cache = 32 << 20
	}
	if opts.Streams <= 0 {
		opts.Streams = 2
	}
	m := st.manifest
	s := &Stream{c: c, m: m, st: st, opts: opts, addrs: map[sched.Miner]wire.NodeAddr{},
		cache: map[int]*list.Element{}, lru: list.New(), wants: map[int]int{}, pos: map[*RangeReader]int{},
		reqs: map[*streamReq]bool{}, dropped: map[sched.Miner]error{}, stop: map[sched.Miner]context.CancelFunc{},
		byMiner: map[sched.Miner]int{}}
	s.ahead = int(max(1, (opts.ReadAhead+m.PieceSize-1)/m.PieceSize))
	s.cond = sync.NewCond(&s.mu)
	if opts.Policy == RarestFirst {
		s.rf = sched.NewRarestFirst()
	} else {
		s.urg = sched.NewUrgent(0)
	}
	s.hold = make([][]sched.Miner, len(m.Shards))
	for i := range m.Shards {
		for j := 0; j < m.PieceCount(i); j++ {
			s.pieces = append(s.pieces, pieceRef{shard: i, index: j, off: int64(i)*m.ShardSize + int64(j)*m.PieceSize, length: m.PieceLen(i, j)})
		}
		for _, r := range st.replicas[i] {
			mk := sched.Miner(r.Peer.String())
			s.addrs[mk] = r.NodeAddr
			s.hold[i] = append(s.hold[i], mk)
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for mk := range s.addrs {
		mctx, stop := context.WithCancel(s.ctx)
		s.stop[mk] = stop
		for k := 0; k < opts.Streams; k++ {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.tunnel(mctx, mk)
			}()
		}
	}
	if s.urg != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.hedgeLoop()
		}()
	}
	return s
}

// Size is the file's size in bytes.
func (s *Stream) Size() int64 { return s.m.Size }

// CID is the file's CID.
func (s *Stream) CID() string { return s.st.CID }

// Stats returns what the stream did so far.
func (s *Stream) Stats() StreamStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := StreamStats{PiecesByMiner: map[string]int{}, DroppedMiners: map[string]error{}, Hedged: s.hedged, Requests: len(s.reqs)}
	for mk, n := range s.byMiner {
		out.PiecesByMiner[string(mk)] = n
	}
	for mk, err := range s.dropped {
		out.DroppedMiners[string(mk)] = err
	}
	return out
}

// Close ends every request and reader of the stream and waits for its
// goroutines.
func (s *Stream) Close() error {
	s.mu.Lock()
	s.closed = true
	s.cond.Broadcast()
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

// hedgeLoop asks a second miner for the pieces readers need next that are
// late, every HedgeSlack/3 until Close.
func (s *Stream) hedgeLoop() {
	tick := time.NewTicker(sched.HedgeSlack / 3)
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
		s.mu.Lock()
		if len(s.pos) > 0 {
			now := time.Now()
			for _, p := range s.urg.Overdue(now, sched.HedgeSlack) {
				if s.soon(p) {
					if _, ok := s.urg.Hedge(p, now); ok {
						s.hedged++
						s.cond.Broadcast()
					}
				}
			}
		}
		s.mu.Unlock()
	}
}

// soon reports whether a reader needs piece p within its next two pieces.
// Caller holds mu.
func (s *Stream) soon(p int) bool {
	for _, at := range s.pos {
		if p >= at && p < at+2 {
			return true
		}
	}
	return false
}

// want registers a reader's need of piece p. Caller holds mu.
func (s *Stream) want(p int) {
	s.wants[p]++
	if s.wants[p] > 1 || s.cache[p] != nil {
		return
	}
	ref := s.pieces[p]
	if s.urg != nil {
		s.urg.Add(p, ref.length, s.hold[ref.shard], time.Now())
	} else {
		s.rf.Add(p, s.hold[ref.shard])
	}
	s.cond.Broadcast()
}

// unwant withdraws a reader's need of piece p; a piece nobody needs any more
// is dropped from the schedule and the requests carrying only such pieces end.
// Caller holds mu.
func (s *Stream) unwant(p int) {
	s.wants[p]--
	if s.wants[p] > 0 {
		return
	}
	delete(s.wants, p)
	if s.cache[p] != nil {
		return
	}
	if s.urg != nil {
		s.urg.Cancel(p, time.Now())
	} else {
		s.rf.Done(p) // withdraws it
	}
	// Requests for p nobody needs end. (A hedge's late copy, whose piece is
	// cached, runs on: it measures its miner, or times out and drops it.)
	for r := range s.reqs {
		if !containsInt(r.pieces, p) {
			continue
		}
		needed := false
		for _, q := range r.pieces {
			if s.wants[q] > 0 && s.cache[q] == nil {
				needed = true
				break
			}
		}
		if !needed {
			r.cancel()
		}
	}
}

func containsInt(s []int, x int) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// next gives tunnel mk its next run of pieces. Caller holds mu.
func (s *Stream) next(mk sched.Miner) []int {
	if s.urg != nil {
		if p, ok := s.urg.Next(mk, time.Now()); ok {
			return []int{p}
		}
		return nil
	}
	if p, ok := s.rf.Next(mk); ok {
		return []int{p}
	}
	return nil
}

// tunnel is one request slot on one miner: it fetches the pieces the
// scheduler gives the miner until the stream ends or the miner is dropped.
func (s *Stream) tunnel(ctx context.Context, mk sched.Miner) {
	addr := s.addrs[mk]
	for {
		s.mu.Lock()
		var run []int
		for {
			if s.closed || ctx.Err() != nil {
				s.mu.Unlock()
				return
			}
			if run = s.next(mk); run != nil {
				break
			}
			s.cond.Wait()
		}
		rctx, cancel := context.WithCancel(ctx)
		req := &streamReq{pieces: run, cancel: cancel}
		s.reqs[req] = true
		s.mu.Unlock()

		ref := s.pieces[run[0]]
		size := int(s.m.PieceSize) + 4096
		done, err := s.c.fetchRun(rctx, s.m, s.opts.Access, addr, ref.shard, ref.index, len(run),
			func() []byte { return make([]byte, size) },
			func(k int, data, _ []byte) { s.deliver(run[k], mk, data) },
			func([]byte) {})
		ended := rctx.Err() != nil // by unwant, Close or a drop, before our cancel
		cancel()

		s.mu.Lock()
		delete(s.reqs, req)
		if err != nil && !s.closed {
			now := time.Now()
			switch {
			case ended && ctx.Err() == nil:
				// Ended because nobody needs its pieces any more.
			case ctx.Err() != nil:
				// The miner was dropped through another request (Urgent.Drop
				// moved its pieces; RarestFirst needs them released).
				if s.rf != nil {
					for _, p := range run[done:] {
						s.rf.Release(p)
					}
				}
			case refusedAccess(err):
				// Every miner checks a code the same way: readers get the refusal.
				if s.failErr == nil {
					s.failErr = err
				}
			case errors.Is(err, wire.ErrNotFound):
				for _, p := range run[done:] {
					s.failPiece(p, mk, now)
				}
			default:
				s.c.log.Warn("stream: dropping miner", "miner", addr.Peer.Short(), "piece", run[done], "err", err)
				for _, p := range run[done:] {
					s.failPiece(p, mk, now)
				}
				if s.urg != nil {
					s.urg.Drop(mk, now)
				} else {
					s.rf.Drop(mk)
				}
				s.dropped[mk] = err
				s.stop[mk]()
			}
			s.cond.Broadcast()
		}
		s.mu.Unlock()
	}
}

func (s *Stream) failPiece(p int, mk sched.Miner, now time.Time) {
	if s.urg != nil {
		s.urg.Fail(p, mk, now)
	} else {
		s.rf.Fail(p, mk)
	}
}

// deliver keeps a checked piece and wakes its readers.
func (s *Stream) deliver(p int, mk sched.Miner, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.urg != nil {
		s.urg.Done(p, mk, time.Now())
	} else {
		s.rf.Done(p)
	}
	if s.cache[p] != nil {
		return // a hedge's second copy
	}
	s.byMiner[mk]++
	s.cache[p] = s.lru.PushFront(&cachedPiece{p: p, data: data})
	s.cached += int64(len(data))
	// Evict the least recently used pieces nobody waits for.
	for e := s.lru.Back(); e != nil && s.cached > s.opts.Cache; {
		prev := e.Prev()
		if cp := e.Value.(*cachedPiece); s.wants[cp.p] == 0 {
			s.lru.Remove(e)
			delete(s.cache, cp.p)
			s.cached -= int64(len(cp.data))
		}
		e = prev
	}
	s.cond.Broadcast()
}

// orphaned reports whether wanted piece p can come from no miner. Caller holds mu.
func (s *Stream) orphaned(p int) bool {
	var orphans []int
	if s.urg != nil {
		orphans = s.urg.Orphans()
	} else {
		orphans = s.rf.Orphans()
	}
	for _, q := range orphans {
		if q == p {
			return true
		}
	}
	return false
}

// RangeReader reads bytes [off, off+n) of a Stream's file in order, fetching
// only the pieces they span. It is an io.ReadCloser; one goroutine reads it.
type RangeReader struct {
	s        *Stream
	ctx      context.Context
	stopCtx  func() bool
	off, end int64
	first    int // first piece still registered as wanted
	added    int // pieces [first, added) are registered
	closed   bool
}

// Range returns a reader of n bytes from offset off (clamped to the file).
// Reads fail with ctx's error once ctx ends; Close withdraws the reader's
// pieces, ending requests nobody else needs.
func (s *Stream) Range(ctx context.Context, off, n int64) *RangeReader {
	off = min(max(off, 0), s.m.Size)
	end := min(off+max(n, 0), s.m.Size)
	r := &RangeReader{s: s, ctx: ctx, off: off, end: end}
	r.first = s.pieceAt(off)
	r.added = r.first
	s.mu.Lock()
	s.pos[r] = r.first
	s.mu.Unlock()
	r.stopCtx = context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	return r
}

// pieceAt is the piece holding byte off.
func (s *Stream) pieceAt(off int64) int {
	if off >= s.m.Size {
		return len(s.pieces)
	}
	sh := int(off / s.m.ShardSize)
	n := 0
	for i := 0; i < sh; i++ {
		n += s.m.PieceCount(i)
	}
	return n + int((off-int64(sh)*s.m.ShardSize)/s.m.PieceSize)
}

// Read implements io.Reader.
func (r *RangeReader) Read(b []byte) (int, error) {
	if r.off >= r.end {
		return 0, io.EOF
	}
	if r.closed {
		return 0, ErrStreamClosed
	}
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pieceAt(r.off)
	// Release pieces already read; register those up to ReadAhead past p.
	for ; r.first < p && r.first < r.added; r.first++ {
		s.unwant(r.first)
	}
	r.first = max(r.first, p)
	r.added = max(r.added, r.first)
	s.pos[r] = p
	last := s.pieceAt(r.end-1) + 1
	for ; r.added < min(p+s.ahead, last); r.added++ {
		s.want(r.added)
	}
	for {
		if s.closed {
			return 0, ErrStreamClosed
		}
		if err := r.ctx.Err(); err != nil {
			return 0, err
		}
		if s.failErr != nil {
			return 0, s.failErr
		}
		if e := s.cache[p]; e != nil {
			s.lru.MoveToFront(e)
			cp := e.Value.(*cachedPiece)
			ref := s.pieces[p]
			from := r.off - ref.off
			n := copy(b, cp.data[from:min(int64(len(cp.data)), from+(r.end-r.off))])
			r.off += int64(n)
			return n, nil
		}
		if s.orphaned(p) {
			ref := s.pieces[p]
			var why []error
			for mk, err := range s.dropped {
				why = append(why, fmt.Errorf("%s: %w", string(mk)[max(0, len(mk)-10):], err))
			}
			return 0, fmt.Errorf("%w: piece %d of shard %d (%v); dropped miners: %w", ErrNoReplica, ref.index, ref.shard, s.m.ShardCID(ref.shard), errors.Join(why...))
		}
		s.cond.Wait()
	}
}

// Close withdraws the reader's pieces; requests only it needed end.
func (r *RangeReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.stopCtx()
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for ; r.first < r.added; r.first++ {
		s.unwant(r.first)
	}
	delete(s.pos, r)
	if len(s.pos) == 0 {
		// No player left: late copies of hedged pieces end too.
		for req := range s.reqs {
			req.cancel()
		}
	}
	return nil
}
