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
	replicas := opts.Replicas
	if replicas == 0 {
		replicas = c.cfg.Replicas
	}
	if replicas < 1 || replicas > 16 {
		return cid.Undef, fmt.Errorf("replicas = %d, want 1..16", replicas)
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
		for _, r := range res.Receipts {
			if err := c.checkReceipt(&r, s); err != nil || !inChain[r.Miner] || have[r.Miner] {
				c.log.Warn("ignoring receipt", "shard", s.Index, "miner", r.Miner.Short(), "err", err)
				continue
			}
			have[r.Miner] = true
			got = append(got, r)
		}
		for _, f := range res.Failures {
			exclude = append(exclude, f.Peer)
			if f.Code != wire.CodeSkipped { // a hop not reached says nothing about its miner
				bad.add(f.Peer)
			}
			lastErr = fmt.Errorf("miner %s: %v", f.Peer.Short(), &wire.Error{Code: f.Code, Message: f.Message})
			c.log.Warn("replica failed; re-placing", "shard", s.Index, "miner", f.Peer.Short(), "code", f.Code, "msg", f.Message)
		}
	}
	if len(got) < replicas {
		return nil, fmt.Errorf("only %d of %d replicas stored after %d attempts: %w", len(got), replicas, maxAttempts, lastErr)
	}
	return got, nil
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
	// A chain of r miners needs time for r durable writes; allow for that.
	cctx, cancel := context.WithTimeout(ctx, time.Duration(c.cfg.Timeout)*time.Duration(1+len(chain)/2))
	defer cancel()
	st, err := c.node.Open(cctx, chain[0])
	if err != nil {
		return nil, err
	}
	defer st.Close()
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
	pieceWait := time.Duration(c.cfg.PieceTimeout)
	for i := range s.Pieces {
		p := s.Piece(i, pieceSize)
		st.SetDeadline(time.Now().Add(pieceWait)) // a miner that stops taking pieces is dead
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
	// The chain answers once every miner has its copy durably: allow each hop time.
	if dl, ok := cctx.Deadline(); ok {
		st.SetDeadline(dl)
	}
	var res wire.StoreResult
	if err := st.Expect(&res); err != nil {
		return nil, err
	}
	return &res, nil
}
