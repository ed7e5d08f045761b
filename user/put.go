package user

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	Progress func(int64) // called with bytes uploaded (first copy only)
}

// maxAttempts bounds how often one shard is re-placed after failures.
const maxAttempts = 4

// Put stores everything r yields and returns the file's CID. Each shard is
// uploaded once, to the first miner of its chain, which forwards it along the
// chain; replicas lost to failures are re-placed on other miners. Nothing is
// recorded in the indexer unless every shard reached its replica count.
func (c *Client) Put(ctx context.Context, r io.Reader, opts PutOptions) (cid.Cid, error) {
	if err := c.CheckPut(r, opts); err != nil { // validate.go: nothing sent yet
		return cid.Undef, err
	}
	replicas := opts.Replicas
	if replicas == 0 {
		replicas = c.cfg.Replicas
	}
	if replicas < 1 || replicas > maxReplicas {
		return cid.Undef, fmt.Errorf("replicas = %d, want 1..%d", replicas, maxReplicas)
	}
	params := shard.Params{ShardSize: int64(c.cfg.ShardSize), PieceSize: int64(c.cfg.PieceSize)}
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
	bad := &badMiners{m: map[identity.PeerID]bool{}}
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
				rs, err := c.storeShard(gctx, s, params.WithDefaults().PieceSize, replicas, progress, bad)
				if err != nil {
					return fmt.Errorf("shard %d (%v): %w", s.Index, s.CID(), err)
				}
				mu.Lock()
				for len(receipts) <= s.Index {
					receipts = append(receipts, nil)
				}
				receipts[s.Index] = rs
				mu.Unlock()
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
	var done wire.Committed
	if err := c.callIndexer(ctx, &wire.Commit{Manifest: m.Encode(), Name: opts.Name, Receipts: receipts}, &done); err != nil {
		return cid.Undef, fmt.Errorf("recording the file: %w", err)
	}
	if !done.CID.Equals(m.CID()) {
		return cid.Undef, fmt.Errorf("indexer recorded %v, expected %v", done.CID, m.CID())
	}
	return done.CID, nil
}

// storeShard places and uploads one shard until it has the wanted number of
// replicas with valid receipts.
func (c *Client) storeShard(ctx context.Context, s *shard.Shard, pieceSize int64, replicas int, progress func(int64), bad *badMiners) ([]wire.Receipt, error) {
	var (
		got     []wire.Receipt
		have    = map[identity.PeerID]bool{}
		exclude []identity.PeerID
		lastErr error
	)
	for attempt := 0; attempt < maxAttempts && len(got) < replicas; attempt++ {
		need := replicas - len(got)
		var pl wire.Placement
		avoid := append(append(bad.list(), exclude...), keys(have)...)
		err := c.callIndexer(ctx, &wire.Place{Replicas: uint8(need), ShardSize: uint64(len(s.Data)), Count: 1, Exclude: avoid}, &pl)
		if err != nil {
			if lastErr != nil {
				return nil, fmt.Errorf("%w (after: %v)", err, lastErr)
			}
			return nil, err
		}
		if len(pl.Chains) != 1 || len(pl.Chains[0]) != need {
			return nil, fmt.Errorf("indexer placed the shard on %v, asked for one chain of %d", pl.Chains, need)
		}
		chain := pl.Chains[0]
		if err := checkChain(chain, avoid); err != nil {
			return nil, err
		}
		up := progress // only the first attempt's bytes count as progress
		if attempt > 0 {
			up = func(int64) {}
		}
		res, err := c.uploadChain(ctx, s, pieceSize, chain, up)
		if err != nil {
			// The first miner failed: nothing reached the others through it.
			c.log.Warn("upload failed; re-placing", "shard", s.Index, "miner", chain[0].Peer.Short(), "err", err)
			exclude = append(exclude, chain[0].Peer)
			bad.add(chain[0].Peer)
			lastErr = err
			continue
		}
		inChain := map[identity.PeerID]bool{}
		for _, a := range chain {
			inChain[a.Peer] = true
		}
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
			got = append(got, r)
		}
		reported := map[identity.PeerID]bool{}
		for _, f := range res.Failures {
			reported[f.Peer] = true
			exclude = append(exclude, f.Peer)
			if f.Code != wire.CodeSkipped { // a hop not reached says nothing about its miner
				bad.add(f.Peer)
			}
			lastErr = fmt.Errorf("miner %s: %v", f.Peer.Short(), &wire.Error{Code: f.Code, Message: f.Message})
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
			exclude = append(exclude, a.Peer)
			bad.add(a.Peer)
			lastErr = why
			c.log.Warn("replica not proven; re-placing", "shard", s.Index, "err", why)
		}
	}
	if len(got) < replicas {
		return nil, fmt.Errorf("only %d of %d replicas stored after %d attempts: %w", len(got), replicas, maxAttempts, lastErr)
	}
	return got, nil
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
	mu sync.Mutex
	m  map[identity.PeerID]bool
}

func (b *badMiners) add(p identity.PeerID) {
	b.mu.Lock()
	b.m[p] = true
	b.mu.Unlock()
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

// uploadChain sends the shard once to chain[0], which forwards it down the chain.
func (c *Client) uploadChain(ctx context.Context, s *shard.Shard, pieceSize int64, chain []wire.NodeAddr, progress func(int64)) (*wire.StoreResult, error) {
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
	defer context.AfterFunc(ctx, st.Abort)() // the put was cancelled
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
	// A miner of the chain that dies stalls the miners before it for their own
	// piece timeout (5 s) before they drop it and go on; piece_timeout (10 s
	// by default) must stay above that, so that a dead miner further down is
	// not blamed on the first.
	st.SetIdleTimeout(time.Duration(c.cfg.PieceTimeout)) // a miner that stops taking bytes is dead
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
