package miner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
)

const (
	// MaxChain is the longest chain of further miners an upload may name.
	MaxChain = wire.MaxChain

	// inFlight is how many received pieces an upload holds at most while
	// they are being forwarded and written.
	inFlight = 8
	// failedHopWait bounds the wait for the error of a next miner whose
	// stream already failed.
	failedHopWait = 5 * time.Second
	// hopMargin is how much longer a miner waits for the result of the rest
	// of the chain than the next miner does, so that a failure deep in the
	// chain is reported by the miner before it, not as a timeout further up.
	hopMargin = 2 * time.Second
)

// resultWait is how long a miner with `behind` miners after it waits for
// their result once its last piece is in.
func (p *Peer) resultWait(behind int) time.Duration {
	return p.cfg.resultTimeout + time.Duration(behind)*hopMargin
}

// handleStoreShard serves one upload (see the package doc).
func (p *Peer) handleStoreShard(ctx context.Context, s *transport.Stream, m wire.Message) error {
	req, ok := m.(*wire.StoreShard)
	if !ok {
		return wire.Errorf(wire.CodeBadRequest, "unexpected %v", m.Type())
	}
	if !p.beginUpload(s.Peer()) {
		p.metrics.storeFailures.WithLabelValues(wire.CodeUnavailable.String()).Inc()
		return wire.Errorf(wire.CodeUnavailable, "miner %s: already %d uploads from %s in progress; retry later", p.short, MaxUploadsPerPeer, s.Peer().Short())
	}
	defer p.endUpload(s.Peer())
	res, err := p.storeShard(ctx, s, req)
	if err != nil {
		we := wire.ToError(err)
		p.metrics.storeFailures.WithLabelValues(we.Code.String()).Inc()
		p.log.Info("upload failed", "shard", req.Shard, "from", s.Peer().Short(), "err", we)
		return we
	}
	if err := s.Send(res); err != nil {
		return fmt.Errorf("miner %s: answer upload of %v: %w", p.short, req.Shard, err)
	}
	return nil
}

// MaxUploadsPerPeer bounds the uploads one peer may have in progress at a
// miner, so that one peer cannot hold all of its memory and free space.
const MaxUploadsPerPeer = 32

func (p *Peer) beginUpload(from identity.PeerID) bool {
	p.uploadsMu.Lock()
	defer p.uploadsMu.Unlock()
	if p.uploads == nil {
		p.uploads = map[identity.PeerID]int{}
	}
	if p.uploads[from] >= MaxUploadsPerPeer {
		return false
	}
	p.uploads[from]++
	return true
}

func (p *Peer) endUpload(from identity.PeerID) {
	p.uploadsMu.Lock()
	defer p.uploadsMu.Unlock()
	if p.uploads[from]--; p.uploads[from] <= 0 {
		delete(p.uploads, from)
	}
}

func (p *Peer) storeShard(ctx context.Context, s *transport.Stream, req *wire.StoreShard) (*wire.StoreResult, error) {
	root, digests, err := p.checkStoreShard(req)
	if err != nil {
		return nil, err
	}
	// A piece may take as long as the uploader's link needs; only silence
	// ends the upload (and a pause between pieces, see receive).
	s.SetIdleTimeout(p.cfg.idleTimeout)
	u := &upload{p: p, up: s, req: req, root: root, digests: digests}
	return u.run(ctx)
}

// checkStoreShard validates an upload header and returns the shard's root
// and piece digests.
func (p *Peer) checkStoreShard(req *wire.StoreShard) (shard.Digest, []shard.Digest, error) {
	bad := func(format string, args ...any) (shard.Digest, []shard.Digest, error) {
		return shard.Digest{}, nil, wire.Errorf(wire.CodeBadRequest, "store %v: "+format, append([]any{req.Shard}, args...)...)
	}
	root, err := shard.DigestOf(req.Shard, shard.ShardCodec)
	if err != nil {
		return bad("not a shard CID: %v", err)
	}
	if req.Size < 1 || req.Size > shard.MaxShardSize {
		return bad("size %d not in [1, %d]", req.Size, shard.MaxShardSize)
	}
	if req.PieceSize < 1 || req.PieceSize > shard.MaxPieceSize {
		return bad("piece size %d not in [1, %d]", req.PieceSize, shard.MaxPieceSize)
	}
	n := (req.Size + uint64(req.PieceSize) - 1) / uint64(req.PieceSize)
	if n > shard.MaxPiecesPerShard {
		return bad("%d pieces of %d bytes, more than %d", n, req.PieceSize, shard.MaxPiecesPerShard)
	}
	if uint64(len(req.Pieces)) != n {
		return bad("%d piece digests for %d bytes in pieces of %d, want %d", len(req.Pieces), req.Size, req.PieceSize, n)
	}
	digests := make([]shard.Digest, n)
	for i, d := range req.Pieces {
		digests[i] = d
	}
	if shard.MerkleRoot(digests) != root {
		return bad("the Merkle root of the piece digests is not the shard's digest")
	}
	if req.Owner.IsZero() {
		return bad("no owner")
	}
	if len(req.Chain) > MaxChain {
		return bad("chain of %d further miners, at most %d", len(req.Chain), MaxChain)
	}
	seen := map[identity.PeerID]bool{}
	for i, a := range req.Chain {
		switch {
		case a.Peer.IsZero() || a.Addr == "":
			return bad("chain entry %d has no peer ID or address", i)
		case a.Peer == p.key.ID():
			return bad("chain entry %d is this miner (%s)", i, p.short)
		case seen[a.Peer]:
			return bad("miner %s is twice in the chain", a.Peer.Short())
		}
		seen[a.Peer] = true
	}
	return root, digests, nil
}

// upload is the state of one StoreShard request.
type upload struct {
	p       *Peer
	up      *transport.Stream // from the client or the previous miner
	req     *wire.StoreShard
	root    shard.Digest
	digests []shard.Digest

	pend     *pending          // nil if the shard is already stored
	ds       *transport.Stream // to req.Chain[0]; nil if none or unreachable
	failures []wire.HopFailure // of the rest of the chain, if ds could not be opened
	fwdErr   error             // why forwarding stopped, if it did
}

func (u *upload) run(ctx context.Context) (*wire.StoreResult, error) {
	p, req := u.p, u.req
	if rec := p.store.get(u.root); rec == nil {
		pend, err := p.store.begin(req.Shard, u.root, int64(req.Size))
		if err != nil {
			return nil, err
		}
		u.pend = pend
		defer pend.abort() // no-op after commit
	} else if err := p.store.roomForOwner(req.Shard, rec, req.Owner); err != nil {
		return nil, err // before the pieces come: addOwner would refuse them anyway
	}
	if len(req.Chain) > 0 {
		u.openNext(ctx)
	}
	if err := u.receive(); err != nil {
		return nil, err
	}

	// Give the durable commit and the rest of the chain time to finish.
	u.up.SetDeadline(time.Now().Add(p.cfg.idleTimeout + p.resultWait(len(req.Chain)+1)))
	var err error
	if u.pend != nil {
		_, err = u.pend.commit(int64(req.PieceSize), u.digests, req.Owner)
		if err == nil {
			p.metrics.shardsStored.Inc()
		}
	} else {
		_, err = p.store.addOwner(req.Shard, u.root, req.Owner)
	}
	if err != nil {
		if u.ds != nil {
			u.ds.Abort()
		}
		return nil, err
	}
	rc := wire.Receipt{Shard: req.Shard, Size: req.Size, Owner: req.Owner, Stored: uint64(time.Now().Unix())}
	rc.Sign(p.key)
	res := &wire.StoreResult{Receipts: []wire.Receipt{rc}}
	u.collect(res)
	p.log.Debug("stored shard", "shard", req.Shard, "from", u.up.Peer().Short(),
		"receipts", len(res.Receipts), "failures", len(res.Failures))
	return res, nil
}

// openNext opens the stream to the next miner and sends it the header with
// the rest of the chain. On failure it records the hop failures and the
// upload goes on without forwarding.
func (u *upload) openNext(ctx context.Context) {
	next := u.req.Chain[0]
	ds, err := u.p.node.Open(ctx, next)
	if err == nil {
		ds.SetIdleTimeout(u.p.cfg.idleTimeout)
		hdr := *u.req
		hdr.Chain = u.req.Chain[1:]
		if err = ds.Send(&hdr); err != nil {
			ds.Abort()
		}
	}
	if err != nil {
		we := hopError(err)
		u.p.log.Info("next miner of the chain unreachable", "shard", u.req.Shard, "next", next.Peer.Short(), "err", err)
		u.failures = chainFailures(u.req.Chain, we.Code, we.Message)
		return
	}
	u.ds = ds
}

// hopError gives the code and message a failed hop is reported with.
func hopError(err error) *wire.Error {
	var we *wire.Error
	var ne net.Error
	switch {
	case errors.As(err, &we):
		return we
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return &wire.Error{Code: wire.CodeDeadline, Message: err.Error()}
	default:
		return &wire.Error{Code: wire.CodeUnavailable, Message: err.Error()}
	}
}

// chainFailures reports chain[0] failed with code and msg, and every miner
// after it as not reached.
func chainFailures(chain []wire.NodeAddr, code wire.Code, msg string) []wire.HopFailure {
	out := make([]wire.HopFailure, 0, len(chain))
	for i, a := range chain {
		if i == 0 {
			out = append(out, passOn(wire.HopFailure{Peer: a.Peer, Code: code, Message: msg}))
			continue
		}
		out = append(out, wire.HopFailure{Peer: a.Peer, Code: wire.CodeSkipped,
			Message: fmt.Sprintf("not reached: upstream hop %s failed", chain[0].Peer.Short())})
	}
	return out
}

// maxFailureMessage bounds the message of a failure this miner passes on.
// The next miner's messages come from a peer: one near the frame limit would
// push this miner's StoreResult over it, and the client would lose this
// miner's receipt with it. A chain has at most MaxChain such messages.
const maxFailureMessage = 512

// passOn makes a failure reported by or about the next miner fit to pass on:
// its message cut to maxFailureMessage bytes on a UTF-8 boundary, a code
// this miner does not know made CodeInternal.
func passOn(f wire.HopFailure) wire.HopFailure {
	if f.Code < wire.CodeInternal || f.Code > wire.CodeSkipped { // wire numbers its codes without gaps
		f.Message = fmt.Sprintf("unknown error %d: %s", uint16(f.Code), f.Message)
		f.Code = wire.CodeInternal
	}
	if len(f.Message) > maxFailureMessage {
		const more = "…"
		n := maxFailureMessage - len(more)
		for n > 0 && !utf8.RuneStart(f.Message[n]) {
			n--
		}
		f.Message = f.Message[:n] + more
	}
	return f
}

// pieceBuf is a checked piece on its way to the next miner and the disk.
type pieceBuf struct {
	index uint32
	data  []byte
	refs  atomic.Int32
}

// receive reads and checks every piece, handing each to a forwarding and a
// writing goroutine, and waits for both. On error the next miner's stream is
// aborted and the temp file is left to the caller's abort.
func (u *upload) receive() (err error) {
	p, req := u.p, u.req
	n := len(u.digests)
	pieceSize := int(req.PieceSize)

	free := make(chan *pieceBuf, inFlight)
	made := 0
	get := func() *pieceBuf {
		select {
		case b := <-free:
			return b
		default:
		}
		if made < inFlight {
			made++
			return &pieceBuf{data: getBuf(pieceSize)}
		}
		return <-free
	}
	release := func(b *pieceBuf) {
		if b.refs.Add(-1) == 0 {
			free <- b
		}
	}

	var (
		wg        sync.WaitGroup
		fwdCh     chan *pieceBuf
		wrCh      chan *pieceBuf
		fwdFailed atomic.Bool
		wrFailed  atomic.Bool
		wrErr     error
	)
	if u.ds != nil {
		fwdCh = make(chan *pieceBuf, inFlight)
		wg.Go(func() {
			for b := range fwdCh {
				if u.fwdErr == nil {
					// Waiting for the upstream's next piece is not the next
					// miner's silence: its idle time starts now.
					u.ds.SetDeadline(time.Now().Add(p.cfg.idleTimeout))
					if err := u.ds.Send(&wire.PieceData{Index: b.index, Data: b.data}); err != nil {
						u.fwdErr = err
						fwdFailed.Store(true)
						p.log.Info("forwarding stopped", "shard", req.Shard, "next", req.Chain[0].Peer.Short(), "err", err)
					} else {
						p.metrics.bytesForwarded.Add(float64(len(b.data)))
					}
				}
				release(b)
			}
		})
	}
	if u.pend != nil {
		wrCh = make(chan *pieceBuf, inFlight)
		wg.Go(func() {
			for b := range wrCh {
				if wrErr == nil {
					if wrErr = u.pend.write(b.data); wrErr != nil {
						wrFailed.Store(true)
					}
				}
				release(b)
			}
		})
	}
	defer func() {
		if err != nil && u.ds != nil {
			u.ds.Abort() // unblocks a pending send
		}
		if fwdCh != nil {
			close(fwdCh)
		}
		if wrCh != nil {
			close(wrCh)
		}
		wg.Wait()
		if err == nil && wrErr != nil {
			err = wrErr
			if u.ds != nil {
				u.ds.Abort()
			}
		}
		close(free)
		for b := range free {
			putBuf(b.data)
		}
	}()

	for i := 0; i < n; i++ {
		m, err := u.up.Recv()
		if err != nil {
			return u.brokenOff(i, err)
		}
		pd, ok := m.(*wire.PieceData)
		if !ok {
			return wire.Errorf(wire.CodeBadRequest, "upload of %v: got %v, expected PieceData %d", req.Shard, m.Type(), i)
		}
		if pd.Index != uint32(i) {
			return wire.Errorf(wire.CodeBadRequest, "upload of %v: got piece %d, expected %d: send pieces in order", req.Shard, pd.Index, i)
		}
		want := min(int64(pieceSize), int64(req.Size)-int64(i)*int64(pieceSize))
		if int64(len(pd.Data)) != want {
			return wire.Errorf(wire.CodeBadRequest, "upload of %v: piece %d has %d bytes, want %d", req.Shard, i, len(pd.Data), want)
		}
		if shard.PieceDigest(pd.Data) != u.digests[i] {
			return wire.Errorf(wire.CodeCorrupt, "piece %d of %v does not match its hash", i, req.Shard)
		}
		p.metrics.bytesReceived.Add(float64(len(pd.Data)))
		if wrFailed.Load() {
			return nil // the deferred function returns the write error
		}
		fwd := fwdCh != nil && !fwdFailed.Load()
		if !fwd && wrCh == nil {
			continue // already stored here and nowhere to forward: checking is all
		}
		b := get()
		b.index = uint32(i)
		b.data = b.data[:len(pd.Data)]
		copy(b.data, pd.Data)
		refs := int32(0)
		if fwd {
			refs++
		}
		if wrCh != nil {
			refs++
		}
		b.refs.Store(refs)
		if fwd {
			fwdCh <- b
		}
		if wrCh != nil {
			wrCh <- b
		}
	}
	// The sender must end its side now.
	switch m, err := u.up.Recv(); {
	case err == io.EOF:
	case err != nil:
		return u.brokenOff(n, err)
	default:
		return wire.Errorf(wire.CodeBadRequest, "upload of %v: got %v after the last piece, expected the end of the stream", req.Shard, m.Type())
	}
	return nil
}

// brokenOff is the error of an upload whose stream failed after i pieces.
func (u *upload) brokenOff(i int, err error) error {
	var we *wire.Error
	switch {
	case err == io.EOF:
		return wire.Errorf(wire.CodeBadRequest, "upload of %v ended after %d of %d pieces", u.req.Shard, i, len(u.digests))
	case errors.As(err, &we), errors.Is(err, wire.ErrMalformed):
		return err
	}
	we = hopError(err)
	we.Message = fmt.Sprintf("upload of %v from %s broke off after %d of %d pieces: %s",
		u.req.Shard, u.up.Peer().Short(), i, len(u.digests), we.Message)
	return we
}

// collect ends the stream to the next miner, waits for its StoreResult and
// merges it into res. Every miner of the chain ends up in res exactly once.
func (u *upload) collect(res *wire.StoreResult) {
	chain := u.req.Chain
	if u.ds == nil {
		res.Failures = append(res.Failures, u.failures...)
		return
	}
	defer u.ds.Close()
	wait := u.p.resultWait(len(chain))
	if u.fwdErr == nil {
		if err := u.ds.CloseWrite(); err != nil {
			u.fwdErr = err
		}
	}
	if u.fwdErr != nil {
		wait = failedHopWait
	}
	u.ds.SetDeadline(time.Now().Add(wait))
	var dres wire.StoreResult
	err := u.ds.Expect(&dres)
	if err == nil && u.fwdErr != nil {
		err = u.fwdErr // it cannot have stored what it did not fully get
	}
	if err != nil {
		var we *wire.Error
		if !errors.As(err, &we) && u.fwdErr != nil {
			err = u.fwdErr
		}
		we = hopError(err)
		fs := chainFailures(chain, we.Code, we.Message)
		u.p.log.Info("next miner of the chain failed", "shard", u.req.Shard, "next", chain[0].Peer.Short(), "code", fs[0].Code, "err", fs[0].Message)
		res.Failures = append(res.Failures, fs...)
		return
	}

	// Only miners of the chain, each once: at most len(chain) receipts and
	// failures are passed on, whatever the next miner sent.

	member := map[identity.PeerID]bool{}
	for _, a := range chain {
		member[a.Peer] = true
	}
	seen := map[identity.PeerID]bool{}
	for _, r := range dres.Receipts {
		if !member[r.Miner] || seen[r.Miner] {
			continue
		}
		seen[r.Miner] = true
		if r.Verify() != nil || !r.Shard.Equals(u.req.Shard) || r.Size != u.req.Size || r.Owner != u.req.Owner {
			res.Failures = append(res.Failures, wire.HopFailure{Peer: r.Miner, Code: wire.CodeUnauthorized,
				Message: fmt.Sprintf("receipt from %s passed on by %s does not verify for this upload", r.Miner.Short(), chain[0].Peer.Short())})
			continue
		}
		res.Receipts = append(res.Receipts, r)
	}
	for _, f := range dres.Failures {
		if member[f.Peer] && !seen[f.Peer] {
			seen[f.Peer] = true
			res.Failures = append(res.Failures, passOn(f))
		}
	}
	for _, a := range chain {
		if !seen[a.Peer] {
			res.Failures = append(res.Failures, wire.HopFailure{Peer: a.Peer, Code: wire.CodeInternal,
				Message: fmt.Sprintf("not reported by %s", chain[0].Peer.Short())})
		}
	}
}
