package user

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/wire"
	"golang.org/x/sync/errgroup"
)

// PutOptions tunes one put.
type PutOptions struct {
	Name     string      // recorded for ls; default none
	Replicas int         // default from Config
	Progress func(int64) // called with bytes uploaded (first copy only), or found stored already
	// Private encrypts the file here before sharding, so that only this
	// identity or the holder of a share code can read it (private.go). Its
	// shards are never deduplicated against what the region holds: the
	// indexer neither reveals nor counts existing replicas and places
	// Replicas new ones, so that storing a file cannot tell anyone whether
	// someone else stored it.
	Private bool
}

// maxAttempts bounds how often one shard is re-placed after a miner failed.
// Attempts that blame no miner (a chain that stalled on a slow upstream) are
// bounded separately by maxBlameless.
const (
	maxAttempts  = 4
	maxBlameless = 4
)

// maxRetryWait bounds one wait for other puts' reservations of a shard.
const maxRetryWait = 5 * time.Second

// Put stores everything r yields and returns the file's CID. For each shard
// it asks the indexer first (wire.Reserve): shards the region holds with
// enough replicas are not sent again, and a shard short of replicas gets
// only the missing ones. Each upload goes once, to the first miner of its
// chain, which forwards it along the chain; replicas lost to failures are
// re-placed on other miners, and only the miner that failed is avoided for
// the rest of the put. Nothing is recorded in the indexer unless every shard
// reached its replica count.
func (c *Client) Put(ctx context.Context, r io.Reader, opts PutOptions) (cid.Cid, error) {
	if err := c.CheckPut(r, opts); err != nil { // validate.go: nothing sent yet
		return cid.Undef, err
	}
	if opts.Private {
		return c.putPrivate(ctx, r, opts)
	}
	return c.put(ctx, r, opts, nil)
}

// put is Put once checked; pp is nil or the state of a private put (private.go).
func (c *Client) put(ctx context.Context, r io.Reader, opts PutOptions, pp *privatePut) (cid.Cid, error) {
	replicas := opts.Replicas
	if replicas == 0 {
		replicas = c.cfg.Replicas
	}
	if replicas < 1 || replicas > maxReplicas {
		return cid.Undef, fmt.Errorf("replicas = %d, want 1..%d", replicas, maxReplicas)
	}
	params := shard.Params{ShardSize: int64(c.cfg.ShardSize), PieceSize: int64(c.cfg.PieceSize)}
	if pp != nil {
		params = pp.params
	}
	sp, err := shard.NewSplitter(r, params)
	if err != nil {
		return cid.Undef, err
	}
	progress := opts.Progress
	if progress == nil {
		progress = func(int64) {}
	}

	var (
		mu       sync.Mutex
		receipts [][]wire.Receipt
	)
	pt := &putState{
		id:        rand.Uint64(),
		replicas:  replicas,
		private:   opts.Private,
		pieceSize: params.WithDefaults().PieceSize,
		progress:  progress,
		bad:       &badMiners{m: map[identity.PeerID]bool{}, watched: map[identity.PeerID]map[int]func(){}},
		pp:        pp,
	}
	g, gctx := errgroup.WithContext(ctx)
	shards := make(chan *shard.Shard, c.cfg.Uploads)
	g.Go(func() error {
		defer close(shards)
		for {
			s, err := sp.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("reading input: %w", err)
			}
			select {
			case shards <- s:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
	})
	for w := 0; w < c.cfg.Uploads; w++ {
		g.Go(func() error {
			for s := range shards {
				rs, err := c.storeShard(gctx, s, pt)
				if err != nil {
					return fmt.Errorf("shard %d (%v): %w", s.Index, s.CID(), err)
				}
				mu.Lock()
				for len(receipts) <= s.Index {
					receipts = append(receipts, nil)
				}
				receipts[s.Index] = rs
				mu.Unlock()
				pp.stored(s.Index, rs)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return cid.Undef, err
	}
	m := sp.Manifest()
	if m == nil {
		return cid.Undef, errors.New("splitter ended without a manifest")
	}
	for len(receipts) < len(m.Shards) {
		receipts = append(receipts, nil)
	}
	if err := c.finishPrivate(ctx, pp, m, receipts); err != nil {
		return cid.Undef, err
	}
	// Shards without receipts of this put are held already: the indexer
	// records its known holders for them.
	var done wire.Committed
	if err := c.callIndexer(ctx, &wire.Commit{Manifest: m.Encode(), Name: opts.Name, Receipts: receipts}, &done); err != nil {
		return cid.Undef, fmt.Errorf("recording the file: %w", err)
	}
	if !done.CID.Equals(m.CID()) {
		return cid.Undef, fmt.Errorf("indexer recorded %v, expected %v", done.CID, m.CID())
	}
	return done.CID, nil
}

// putState is what the shards of one put share.
type putState struct {
	id        uint64 // names the put's reservations at the indexer
	replicas  int
	private   bool
	pieceSize int64
	progress  func(int64)
	bad       *badMiners
	pp        *privatePut // nil unless the put is private (private.go)
}

// storeShard reserves, uploads and reports one shard until the indexer
// counts the wanted number of replicas for it, and returns the receipts this
// put obtained (none if the region held the shard already).
func (c *Client) storeShard(ctx context.Context, s *shard.Shard, pt *putState) ([]wire.Receipt, error) {
	var (
		got       []wire.Receipt
		have      = map[identity.PeerID]bool{}
		fails     failures // why each miner failed this shard, for the final error
		attempts  int      // uploads in which a miner failed
		blameless int      // uploads that failed without a miner at fault
		uploaded  bool
	)
	for {
		apart, err := pt.pp.apart(ctx, s.Index) // a private file's shard 1 avoids shard 0's miners
		if err != nil {
			return nil, err
		}
		var rv wire.Reservation
		err = c.callIndexer(ctx, &wire.Reserve{Put: pt.id, Shard: s.CID(), Size: uint64(len(s.Data)),
			Replicas: uint8(pt.replicas), Private: pt.private, Exclude: append(pt.bad.list(), apart...)}, &rv)
		if err != nil {
			if fails.any() {
				return nil, fmt.Errorf("%w (after: %w)", err, &fails)
			}
			return nil, err
		}
		if rv.RetryAfter > 0 {
			// Another put is storing this shard: wait for it to succeed or
			// fail rather than adding replicas beyond what was asked.
			wait := min(time.Duration(rv.RetryAfter)*time.Millisecond, maxRetryWait)
			select {
			case <-time.After(wait):
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if len(rv.Chain) == 0 {
			if !uploaded {
				pt.progress(int64(len(s.Data))) // held already: nothing to send
			}
			return got, nil
		}
		chain := rv.Chain
		if err := checkChain(chain, append(append(pt.bad.list(), keys(have)...), apart...)); err != nil {
			return nil, err
		}
		pt.pp.saw(chain)
		up := pt.progress // only the first upload's bytes count as progress
		if uploaded {
			up = func(int64) {}
		}
		uploaded = true
		res, err := c.uploadChain(ctx, s, pt.pieceSize, chain, up, pt.bad)
		var good []wire.Receipt
		blamed := false
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			// The first miner failed or gave up on this client: nothing
			// reached the others through it.
			fails.add(chain[0].Peer, fmt.Errorf("miner %s: %w", chain[0].Peer.Short(), err))
			if errors.Is(err, wire.ErrUpstreamLost) {
				c.log.Warn("first miner gave up on this client; uploading again", "shard", s.Index, "miner", chain[0].Peer.Short(), "err", err)
			} else {
				c.log.Warn("upload failed; re-placing", "shard", s.Index, "miner", chain[0].Peer.Short(), "err", err)
				pt.bad.add(chain[0].Peer)
				blamed = true
			}
		} else {
			good, blamed = c.judge(s, chain, res, have, pt.bad, &fails)
			got = append(got, good...)
		}
		if blamed {
			attempts++
		} else if len(good) < len(chain) {
			blameless++
		}
		// Report what this upload stored (maybe nothing): the indexer counts
		// it for this shard and releases the rest of the reservation.
		var ack wire.StoredAck
		if err := c.callIndexer(ctx, &wire.ShardStored{Put: pt.id, Shard: s.CID(), Receipts: good}, &ack); err != nil {
			var we *wire.Error
			if !errors.As(err, &we) {
				return nil, fmt.Errorf("reporting shard %d stored: %w", s.Index, err)
			}
			// The indexer refused a receipt (a replica reclaimed meanwhile):
			// forget this upload's receipts and place them again.
			c.log.Warn("indexer refused this upload's receipts; re-placing", "shard", s.Index, "err", err)
			got = got[:len(got)-len(good)]
			for _, r := range good {
				delete(have, r.Miner)
			}
			fails.add(identity.PeerID{}, err)
			blameless++
		}
		if (attempts >= maxAttempts || blameless >= maxBlameless) && int(ack.Replicas) < pt.replicas {
			return nil, fmt.Errorf("only %d of %d replicas stored after %d attempts: %w", ack.Replicas, pt.replicas, attempts+blameless, &fails)
		}
	}
}

// judge checks a chain's result: it returns the valid receipts and whether a
// miner was found at fault, and records each miner's failure in fails. A
// miner at fault is added to bad; one that was merely not reached
// (wire.CodeSkipped) is not.
func (c *Client) judge(s *shard.Shard, chain []wire.NodeAddr, res *wire.StoreResult, have map[identity.PeerID]bool, bad *badMiners, fails *failures) ([]wire.Receipt, bool) {
	inChain := map[identity.PeerID]bool{}
	for _, a := range chain {
		inChain[a.Peer] = true
	}
	var good []wire.Receipt
	blamed := false
	badReceipt := map[identity.PeerID]error{}
	for _, r := range res.Receipts {
		if !inChain[r.Miner] || have[r.Miner] {
			c.log.Warn("ignoring a receipt from outside the chain or a repeated one", "shard", s.Index, "miner", r.Miner.Short())
			continue
		}
		if err := c.checkReceipt(&r, s); err != nil {
			badReceipt[r.Miner] = err
			continue
		}
		have[r.Miner] = true
		good = append(good, r)
	}
	reported := map[identity.PeerID]bool{}
	for _, f := range res.Failures {
		if !inChain[f.Peer] || have[f.Peer] || reported[f.Peer] {
			continue
		}
		reported[f.Peer] = true
		fails.add(f.Peer, fmt.Errorf("miner %s: %w", f.Peer.Short(), &wire.Error{Code: f.Code, Message: f.Message}))
		if f.Code == wire.CodeSkipped { // a hop not reached says nothing about its miner
			c.log.Info("replica not reached; re-placing", "shard", s.Index, "miner", f.Peer.Short(), "msg", f.Message)
			continue
		}
		bad.add(f.Peer)
		blamed = true
		c.log.Warn("replica failed; re-placing", "shard", s.Index, "miner", f.Peer.Short(), "code", f.Code, "msg", f.Message)
	}
	// A miner of the chain with neither a good receipt nor a reported
	// failure did not store the shard as far as anyone can prove: it
	// failed, and is not placed again during this put.
	for _, a := range chain {
		if have[a.Peer] || reported[a.Peer] {
			continue
		}
		why, ok := badReceipt[a.Peer]
		if ok {
			why = fmt.Errorf("miner %s sent an invalid receipt: %w", a.Peer.Short(), why)
		} else {
			why = fmt.Errorf("miner %s: the chain's result has neither a receipt nor a failure for it", a.Peer.Short())
		}
		bad.add(a.Peer)
		blamed = true
		fails.add(a.Peer, why)
		c.log.Warn("replica not proven; re-placing", "shard", s.Index, "err", why)
	}
	return good, blamed
}

// failures is why each miner failed one shard during a put, in the order
// they first failed, keeping each miner's latest reason (and those of no
// miner, such as an indexer refusing receipts). As an error it names every
// one, and errors.Is sees each reason's wire code (wire.ErrNoSpace, ...).
type failures struct {
	order []identity.PeerID
	by    map[identity.PeerID]error
	other []error
}

func (f *failures) add(p identity.PeerID, err error) {
	if p.IsZero() {
		f.other = append(f.other, err)
		return
	}
	if f.by == nil {
		f.by = map[identity.PeerID]error{}
	}
	if _, ok := f.by[p]; !ok {
		f.order = append(f.order, p)
	}
	f.by[p] = err
}

func (f *failures) any() bool { return len(f.order)+len(f.other) > 0 }

// Unwrap returns every recorded reason.
func (f *failures) Unwrap() []error {
	out := make([]error, 0, len(f.order)+len(f.other))
	for _, p := range f.order {
		out = append(out, f.by[p])
	}
	return append(out, f.other...)
}

func (f *failures) Error() string {
	errs := f.Unwrap()
	if len(errs) == 0 {
		return "no failure recorded"
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// checkChain makes sure a placement names distinct miners, none of them
// avoided: re-placing on a miner that failed or already holds the shard
// would gain nothing.
func checkChain(chain []wire.NodeAddr, avoid []identity.PeerID) error {
	avoided := map[identity.PeerID]bool{}
	for _, p := range avoid {
		avoided[p] = true
	}
	seen := map[identity.PeerID]bool{}
	for _, a := range chain {
		switch {
		case avoided[a.Peer]:
			return fmt.Errorf("indexer placed the shard on miner %s, which the request excluded", a.Peer.Short())
		case seen[a.Peer]:
			return fmt.Errorf("indexer placed the shard twice on miner %s", a.Peer.Short())
		}
		seen[a.Peer] = true
	}
	return nil
}

// badMiners are the miners that failed during one put; later shards of the
// same put are not placed on them (the bootstrap still lists a miner that died
// until its record expires).
type badMiners struct {
	mu      sync.Mutex
	m       map[identity.PeerID]bool
	watched map[identity.PeerID]map[int]func() // uploads in progress by first miner
	next    int
}

// add marks p failed and aborts the uploads in progress whose first miner
// is p: they cannot succeed, and would otherwise each wait out the client's
// idle timeout (a killed miner leaves no connection close behind).
func (b *badMiners) add(p identity.PeerID) {
	b.mu.Lock()
	b.m[p] = true
	aborts := b.watched[p]
	delete(b.watched, p)
	b.mu.Unlock()
	for _, abort := range aborts {
		abort()
	}
}

// watch registers abort for an upload whose first miner is p, until the
// returned function is called. It aborts at once if p already failed.
func (b *badMiners) watch(p identity.PeerID, abort func()) (unwatch func()) {
	b.mu.Lock()
	if b.m[p] {
		b.mu.Unlock()
		abort()
		return func() {}
	}
	if b.watched[p] == nil {
		b.watched[p] = map[int]func(){}
	}
	k := b.next
	b.next++
	b.watched[p][k] = abort
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		delete(b.watched[p], k)
		b.mu.Unlock()
	}
}

func (b *badMiners) list() []identity.PeerID {
	b.mu.Lock()
	defer b.mu.Unlock()
	return keys(b.m)
}

func keys(m map[identity.PeerID]bool) []identity.PeerID {
	out := make([]identity.PeerID, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func (c *Client) checkReceipt(r *wire.Receipt, s *shard.Shard) error {
	if err := r.Verify(); err != nil {
		return err
	}
	if !r.Shard.Equals(s.CID()) || r.Size != uint64(len(s.Data)) || r.Owner != c.ID() {
		return wire.Errorf(wire.CodeBadRequest, "receipt from %v names another shard, size or owner", r.Miner.Short())
	}
	return nil
}

// Miners give the next miner of a chain minerIdle without progress, plus
// hopMargin per further miner behind it (miner.Peer.hopIdle); the client is
// one more step up.
const (
	minerIdle = 4 * time.Second
	hopMargin = 1500 * time.Millisecond
)

// chainIdle is how long the client lets the first miner of a chain of n take
// no bytes: one hopMargin more than the first miner gives the second, so
// that a miner that dies is given up by the one before it, and a miner that
// dies first in the chain costs the put seconds, not piece_timeout (which
// bounds a get's silence).
func (c *Client) chainIdle(n int) time.Duration {
	return minerIdle + time.Duration(n-1)*hopMargin
}

// uploadChain sends the shard once to chain[0], which forwards it down the chain.
func (c *Client) uploadChain(ctx context.Context, s *shard.Shard, pieceSize int64, chain []wire.NodeAddr, progress func(int64), bad *badMiners) (*wire.StoreResult, error) {
	// Timeouts are about silence, not size: the upload must be under way
	// within Timeout, then may take as long as the uplink needs while the
	// miner keeps taking bytes (idle timeout piece_timeout).
	octx, cancel := context.WithTimeout(ctx, time.Duration(c.cfg.Timeout))
	defer cancel()
	st, err := c.node.Open(octx, chain[0])
	if err != nil {
		return nil, err
	}
	defer st.Close()
	defer context.AfterFunc(ctx, st.Abort)()   // the put was cancelled
	defer bad.watch(chain[0].Peer, st.Abort)() // the first miner failed in another chain
	hdr := &wire.StoreShard{
		Shard:     s.CID(),
		Size:      uint64(len(s.Data)),
		PieceSize: uint32(pieceSize),
		Pieces:    make([][32]byte, len(s.Pieces)),
		Owner:     c.ID(),
		Chain:     chain[1:],
	}
	for i, d := range s.Pieces {
		hdr.Pieces[i] = d
	}
	if err := st.Send(hdr); err != nil {
		return nil, err
	}
	// A miner of the chain that dies stalls the miners before it until the
	// one right before it gives it up (see chainIdle); the client must wait
	// longer than any of them, so that a dead miner further down is not
	// blamed on the first.
	st.SetIdleTimeout(c.chainIdle(len(chain))) // a miner that stops taking bytes is dead
	for i := range s.Pieces {
		p := s.Piece(i, pieceSize)
		if err := st.Send(&wire.PieceData{Index: uint32(i), Data: p}); err != nil {
			// The miner may have refused early with a reason; prefer it.
			var res wire.StoreResult
			if rerr := st.Expect(&res); rerr != nil && errors.As(rerr, new(*wire.Error)) {
				return nil, rerr
			}
			return nil, err
		}
		progress(int64(len(p)))
	}
	_ = st.CloseWrite() // a refusal arrives as the answer below
	// The chain answers once every miner has its copy durably (a chain of r
	// miners needs time for r durable writes): allow each hop time.
	st.SetIdleTimeout(0)
	st.SetDeadline(time.Now().Add(time.Duration(c.cfg.Timeout) * time.Duration(1+len(chain)/2)))
	var res wire.StoreResult
	if err := st.Expect(&res); err != nil {
		return nil, err
	}
	return &res, nil
}
