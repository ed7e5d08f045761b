package miner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/proofs"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/wire"
	"github.com/prometheus/client_golang/prometheus"
)

// Sealing (package proofs) turns each stored shard into this miner's
// replica of it, in place: the shard file then holds the first size bytes
// of the sealed replica and no unsealed copy is kept. GetPiece unseals the
// pieces it serves (one squaring per 16 bytes and layer). Keys beside the
// shard record:
//
//	r/<shard CID bytes>  →  ver(1)=1 ‖ state(1) ‖ layers(4) ‖ commR(32) ‖ n(1) ‖ tail(n)
//	t/<shard CID bytes>  →  proofs.Tree encoding (the cached top of the replica tree)
//
// tail is the replica's last n < 16 bytes beyond the shard's size (the
// replica is padded to whole blocks), so the shard file keeps exactly the
// size the store checks at startup. state is sealPending while the sealed
// file is being renamed into place and sealDone after: at startup a pending
// entry whose file still hashes as the unsealed piece 0 is dropped (the
// shard is sealed again), any other is marked done.

const (
	sealVersion = 1
	sealPending = 1
	sealDone    = 2
)

var (
	sealPrefix = []byte("r/")
	sealEnd    = []byte("r0")
	treePrefix = []byte("t/")
)

// sealInfo is what a miner keeps about one sealed replica.
type sealInfo struct {
	state  uint8
	layers int
	commR  shard.Digest
	tail   []byte
}

func (si *sealInfo) encode() []byte {
	e := wire.Enc{}
	e.U8(sealVersion)
	e.U8(si.state)
	e.U32(uint32(si.layers))
	e.Digest(si.commR)
	e.U8(uint8(len(si.tail)))
	e.B = append(e.B, si.tail...)
	return e.B
}

func decodeSealInfo(b []byte) (*sealInfo, error) {
	d := wire.NewDec(b)
	if v := d.U8(); v != sealVersion {
		return nil, fmt.Errorf("%w: sealing record version %d, this miner reads %d", errBadRecord, v, sealVersion)
	}
	si := &sealInfo{state: d.U8(), layers: int(d.U32()), commR: d.Digest()}
	n := int(d.U8())
	if n >= proofs.BlockSize {
		return nil, fmt.Errorf("%w: sealing tail of %d bytes", errBadRecord, n)
	}
	si.tail = make([]byte, n)
	for i := range si.tail {
		si.tail[i] = d.U8()
	}
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadRecord, err)
	}
	if si.layers < 1 || si.layers > proofs.MaxLayers || (si.state != sealPending && si.state != sealDone) {
		return nil, fmt.Errorf("%w: sealing record with %d layers, state %d", errBadRecord, si.layers, si.state)
	}
	return si, nil
}

func sealKey(c cid.Cid) []byte { return append(slices.Clip(sealPrefix), c.Bytes()...) }
func treeKey(c cid.Cid) []byte { return append(slices.Clip(treePrefix), c.Bytes()...) }

// sealer seals stored shards and tells GetPiece how to read them.
type sealer struct {
	p      *Peer
	params proofs.Params
	wake   chan struct{}

	// mu guards sealed and pairs a lookup of a shard's state with the open
	// of its file, so a reader never reads a sealed file as plain or the
	// reverse while the sealed file is renamed into place.
	mu     sync.Mutex
	sealed map[shard.Digest]*sealInfo

	shardsSealed prometheus.Counter

	// runMu is held while sealing or proving; close cancels stopCtx and
	// takes it, so the store is not closed under a seal in progress.
	runMu   sync.Mutex
	stopCtx context.Context
	stop    context.CancelFunc

	lastServe atomic.Int64 // unix ns of the last GetPiece served
}

// Sealing is CPU-bound for seconds per shard; it yields to the miner's
// real work: it does not start while an upload is in progress or pieces
// were served in the last idleBefore, and a seal under way gives up (to be
// done again later) when that changes, unless the shard has waited
// maxDefer already.
const (
	idleBefore = time.Second
	maxDefer   = time.Minute
	busyPoll   = 50 * time.Millisecond
)

// served records that pieces are being served.
func (sl *sealer) served() { sl.lastServe.Store(time.Now().UnixNano()) }

// busy reports whether the miner is uploading or serving.
func (sl *sealer) busy() bool {
	if time.Since(time.Unix(0, sl.lastServe.Load())) < idleBefore {
		return true
	}
	sl.p.uploadsMu.Lock()
	defer sl.p.uploadsMu.Unlock()
	return len(sl.p.uploads) > 0
}

// errYield reports a seal given up for the miner's other work.
var errYield = errors.New("miner: sealing yields to uploads and gets")

func newSealer(p *Peer, params proofs.Params, reg prometheus.Registerer) (*sealer, error) {
	sl := &sealer{p: p, params: params.WithDefaults(), wake: make(chan struct{}, 1), sealed: map[shard.Digest]*sealInfo{},
		shardsSealed: prometheus.NewCounter(prometheus.CounterOpts{Name: "ppstore_miner_shards_sealed_total", Help: "Shards sealed into this miner's replicas."})}
	if reg != nil {
		if err := reg.Register(sl.shardsSealed); err != nil {
			return nil, fmt.Errorf("miner: metrics: %w", err)
		}
	}
	sl.stopCtx, sl.stop = context.WithCancel(context.Background())
	if err := sl.load(); err != nil {
		return nil, err
	}
	return sl, nil
}

// close stops sealing and proving and waits for the step under way.
func (sl *sealer) close() {
	sl.stop()
	sl.runMu.Lock()
	sl.runMu.Unlock()
}

// load reads the sealing records, settles pending ones and drops those of
// shards the store no longer holds.
func (sl *sealer) load() error {
	db := sl.p.store.db
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: sealPrefix, UpperBound: sealEnd})
	if err != nil {
		return fmt.Errorf("miner seal: %w", err)
	}
	type entry struct {
		c  cid.Cid
		si *sealInfo
	}
	var entries []entry
	for it.First(); it.Valid(); it.Next() {
		c, err := cid.Cast(it.Key()[len(sealPrefix):])
		if err != nil {
			it.Close()
			return fmt.Errorf("%w: sealing key %x: %v", errBadRecord, it.Key(), err)
		}
		si, err := decodeSealInfo(it.Value())
		if err != nil {
			it.Close()
			return fmt.Errorf("miner seal: shard %v: %w", c, err)
		}
		entries = append(entries, entry{c, si})
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("miner seal: %w", err)
	}
	for _, e := range entries {
		root, err := shard.DigestOf(e.c, shard.ShardCodec)
		if err != nil {
			return fmt.Errorf("%w: sealing key %v: %v", errBadRecord, e.c, err)
		}
		rec := sl.p.store.get(root)
		if rec != nil && e.si.state == sealPending {
			plain, err := sl.stillPlain(root, rec)
			if err != nil {
				return err
			}
			if !plain {
				e.si.state = sealDone
				if err := db.Set(sealKey(e.c), e.si.encode(), pebble.Sync); err != nil {
					return fmt.Errorf("miner seal: %w", err)
				}
			} else {
				rec = nil // the rename did not happen: seal again
			}
		}
		if rec == nil {
			if err := sl.drop(e.c); err != nil {
				return err
			}
			continue
		}
		sl.sealed[root] = e.si
	}
	return nil
}

// stillPlain reports whether the shard file's piece 0 is the unsealed piece.
func (sl *sealer) stillPlain(root shard.Digest, rec *record) (bool, error) {
	f, err := os.Open(sl.p.store.shardPath(root))
	if err != nil {
		return false, fmt.Errorf("miner seal: %w", err)
	}
	defer f.Close()
	b := make([]byte, rec.pieceLen(0))
	if _, err := f.ReadAt(b, 0); err != nil {
		return false, fmt.Errorf("miner seal: %w", err)
	}
	return shard.PieceDigest(b) == rec.pieces[0], nil
}

// drop deletes a shard's sealing records.
func (sl *sealer) drop(c cid.Cid) error {
	b := sl.p.store.db.NewBatch()
	b.Delete(sealKey(c), nil)
	b.Delete(treeKey(c), nil)
	b.Delete(provenKey(c), nil)
	if err := sl.p.store.db.Commit(b, pebble.Sync); err != nil {
		return fmt.Errorf("miner seal: drop sealing record of %v: %w", c, err)
	}
	return nil
}

// notify asks Run to seal what is new.
func (sl *sealer) notify() {
	select {
	case sl.wake <- struct{}{}:
	default:
	}
}

// proveRetry is how often sealing and proving are retried without news.
const proveRetry = 10 * time.Second

// Run seals stored shards whenever notified (and every proveRetry), then
// proves the sealed replicas to the verifier, until ctx is done.
func (sl *sealer) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(sl.stopCtx, cancel)()
	for {
		sl.runMu.Lock()
		if ctx.Err() == nil {
			if err := sl.RunOnce(ctx); err != nil && ctx.Err() == nil {
				sl.p.log.Warn("sealing failed; retrying", "err", err, "in", proveRetry)
			}
			if err := sl.p.prover.RunOnce(ctx); err != nil && ctx.Err() == nil {
				sl.p.log.Warn("proving replicas to the verifier failed; retrying", "err", err, "in", proveRetry)
			}
		}
		sl.runMu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-sl.wake:
		case <-time.After(proveRetry):
		}
	}
}

// RunOnce seals every stored shard not sealed yet, one at a time (sealing
// is sequential: one core per shard), and drops the sealing records of
// shards no longer stored.
func (sl *sealer) RunOnce(ctx context.Context) error {
	if sl.p.cfg.BenchKeepUnsealed {
		return nil // a benchmark's baseline miner keeps its shards unsealed
	}
	st := sl.p.store
	st.mu.Lock()
	var todo []shard.Digest
	for root := range st.shards {
		todo = append(todo, root)
	}
	st.mu.Unlock()
	sl.mu.Lock()
	todo = slices.DeleteFunc(todo, func(r shard.Digest) bool { return sl.sealed[r] != nil })
	var gone []shard.Digest
	for root := range sl.sealed {
		if st.get(root) == nil {
			gone = append(gone, root)
		}
	}
	sl.mu.Unlock()
	var errs []error
	for _, root := range gone {
		sl.mu.Lock()
		delete(sl.sealed, root)
		sl.mu.Unlock()
		errs = append(errs, sl.drop(shard.ShardCID(root)))
	}
	start := time.Now()
	for i := 0; i < len(todo) && ctx.Err() == nil; {
		patient := time.Since(start) < maxDefer
		if patient && sl.busy() {
			select {
			case <-ctx.Done():
			case <-time.After(busyPoll):
			}
			continue
		}
		err := sl.seal(ctx, todo[i], patient)
		if errors.Is(err, errYield) {
			continue // the same shard again once idle
		}
		if err != nil {
			errs = append(errs, err)
		}
		i++
	}
	return errors.Join(errs...)
}

// seal seals one stored shard in place (see the comment at the top).
// seal seals one stored shard in place (see the comment at the top). With
// yield set it gives up with errYield as soon as the miner gets busy.
func (sl *sealer) seal(ctx context.Context, root shard.Digest, yield bool) error {
	st := sl.p.store
	rec := st.get(root)
	if rec == nil {
		return nil
	}
	c := shard.ShardCID(root)
	f, err := os.Open(st.shardPath(root))
	if err != nil {
		return fmt.Errorf("miner seal: %v: %w", c, err)
	}
	buf := make([]byte, proofs.ReplicaSize(rec.size))
	_, err = f.ReadAt(buf[:rec.size], 0)
	f.Close()
	if err != nil {
		return fmt.Errorf("miner seal: read %v: %w", c, err)
	}
	for i := range rec.pieces {
		off := int64(i) * rec.pieceSize
		if shard.PieceDigest(buf[off:off+rec.pieceLen(i)]) != rec.pieces[i] {
			sl.p.log.Error("stored shard does not match its digests; not sealing it", "shard", c, "piece", i)
			return fmt.Errorf("miner seal: %v: piece %d: %w", c, i, shard.ErrCorrupt)
		}
	}
	layers := sl.params.Layers(rec.size)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var yielded atomic.Bool
	if yield {
		go func() { // owned by this call: ends with sctx
			t := time.NewTicker(busyPoll)
			defer t.Stop()
			for {
				select {
				case <-sctx.Done():
					return
				case <-t.C:
					if sl.busy() {
						yielded.Store(true)
						cancel()
						return
					}
				}
			}
		}()
	}
	if err := proofs.SealContext(sctx, sl.replicaID(root), rec.size, layers, buf); err != nil {
		if yielded.Load() && ctx.Err() == nil {
			return errYield
		}
		return err
	}
	cancel()
	tree := proofs.NewTree(buf)
	si := &sealInfo{state: sealPending, layers: layers, commR: tree.Root(), tail: slices.Clone(buf[rec.size:])}

	tmp, err := st.createTemp(st.tmpDir())
	if err != nil {
		return st.ioError("create a temp file to seal", c, err)
	}
	_, err = tmp.Write(buf[:rec.size])
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return st.ioError("write the sealed replica of", c, err)
	}
	tb, _ := tree.AppendBinary(nil)
	b := st.db.NewBatch()
	b.Set(sealKey(c), si.encode(), nil)
	b.Set(treeKey(c), tb, nil)
	if err := st.db.Commit(b, pebble.Sync); err != nil {
		os.Remove(tmp.Name())
		return st.ioError("record the sealing of", c, err)
	}

	unlock := st.locks.lock(root) // no other change to this shard meanwhile
	defer unlock()
	sl.mu.Lock()
	if st.get(root) == nil { // removed while sealing
		sl.mu.Unlock()
		os.Remove(tmp.Name())
		return sl.drop(c)
	}
	err = os.Rename(tmp.Name(), st.shardPath(root))
	if err == nil {
		si.state = sealDone
		sl.sealed[root] = si
	}
	sl.mu.Unlock()
	if err != nil {
		os.Remove(tmp.Name())
		sl.drop(c)
		return st.ioError("move the sealed replica of", c, err)
	}
	if err := syncDir(shardDir(st, root)); err != nil {
		return st.ioError("sync the folder of", c, err)
	}
	if err := st.db.Set(sealKey(c), si.encode(), pebble.Sync); err != nil {
		return st.ioError("record the sealing of", c, err)
	}
	sl.shardsSealed.Inc()
	sl.p.log.Debug("sealed shard", "shard", c, "layers", layers, "commR", si.commR)
	return nil
}

func shardDir(st *store, root shard.Digest) string {
	p := st.shardPath(root)
	return p[:len(p)-len(root.String())-len(".shard")-1]
}

// replicaID is this miner's replica ID for a shard (replica number 0: a
// miner holds at most one replica of a shard).
func (sl *sealer) replicaID(root shard.Digest) proofs.ReplicaID {
	return proofs.NewReplicaID(sl.p.key.ID().Bytes(), root, 0)
}

// info returns a shard's sealing record, nil if it is not sealed.
func (sl *sealer) info(root shard.Digest) *sealInfo {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	return sl.sealed[root]
}

// openReplica opens a stored shard for reading its pieces and returns the
// file (to close) and a function that fills p with the shard's data bytes
// at off: read as they are, or unsealed from the replica.
func (sl *sealer) openReplica(c cid.Cid, root shard.Digest, rec *record) (*os.File, func(p []byte, off int64) error, error) {
	sl.mu.Lock()
	si := sl.sealed[root]
	f, err := sl.p.store.openShard(c, root)
	sl.mu.Unlock()
	if err != nil {
		return nil, nil, err
	}
	if si == nil {
		return f, func(p []byte, off int64) error { _, err := f.ReadAt(p, off); return err }, nil
	}
	id := sl.replicaID(root)
	readReplica := replicaReader(f, rec.size, si.tail)
	return f, func(p []byte, off int64) error {
		return proofs.UnsealInto(p, id, rec.size, si.layers, off, readReplica)
	}, nil
}

// replicaReader reads the sealed replica: the file's size bytes, then tail.
func replicaReader(f *os.File, size int64, tail []byte) func(p []byte, off int64) error {
	return func(p []byte, off int64) error {
		n := 0
		if off < size {
			m := min(int64(len(p)), size-off)
			if _, err := f.ReadAt(p[:m], off); err != nil {
				return err
			}
			n = int(m)
		}
		for ; n < len(p); n++ {
			i := off + int64(n) - size
			if i < 0 || i >= int64(len(tail)) {
				return fmt.Errorf("miner: replica read at %d past its end", off+int64(n))
			}
			p[n] = tail[i]
		}
		return nil
	}
}

// SealNow seals every stored shard not sealed yet and returns when they
// are, or when ctx ends; a seal under way in the background is waited for.
// The background chore does the same on its own; SealNow lets a caller (a
// test measuring disk usage, an operator's tool) reach a state in which no
// shard file changes size without waiting on the chore's timer.
func (p *Peer) SealNow(ctx context.Context) error {
	sl := p.sealer
	sl.runMu.Lock() // one pass at a time: two would seal a shard twice
	defer sl.runMu.Unlock()
	return sl.RunOnce(ctx)
}
