package user

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/filecrypt"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/wire"
	"golang.org/x/sync/errgroup"
)

// Private files (docs/SHARING.md). A private put encrypts the input with
// package filecrypt under a key derived from this identity and a fresh salt,
// cuts the ciphertext into at least two shards, places shards 0 and 1 on
// disjoint miners (so no miner holds every shard), marks every shard private
// at the miners that hold it, and only then commits a manifest with
// shard.FlagEncrypted set.

// ErrNoKey reports a private file this client cannot decrypt: it is not the
// owner and was given no share code (or a code with another key).
var ErrNoKey = errors.New("cannot decrypt this private file: this identity is not its owner; ask the owner for a share code (ppstore share)")

// privatePut is the state of one private put shared by its shard uploads.
type privatePut struct {
	params shard.Params

	mu        sync.Mutex
	first     []identity.PeerID // miners holding shard 0, once it is stored
	firstDone chan struct{}
	addrs     map[identity.PeerID]wire.NodeAddr // every miner placed on
}

// apart returns the miners shard index must avoid: shard 1 waits for shard 0
// and avoids its miners. Then no miner holds both, so none holds every shard.
func (pp *privatePut) apart(ctx context.Context, index int) ([]identity.PeerID, error) {
	if pp == nil || index != 1 {
		return nil, nil
	}
	select {
	case <-pp.firstDone:
		return pp.first, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// stored notes the receipts of a shard once it has all its replicas.
func (pp *privatePut) stored(index int, rs []wire.Receipt) {
	if pp == nil || index != 0 {
		return
	}
	for _, r := range rs {
		pp.first = append(pp.first, r.Miner)
	}
	close(pp.firstDone)
}

// saw notes the addresses of a placement's miners, to mark shards there later.
func (pp *privatePut) saw(chain []wire.NodeAddr) {
	if pp == nil {
		return
	}
	pp.mu.Lock()
	for _, a := range chain {
		pp.addrs[a.Peer] = a
	}
	pp.mu.Unlock()
}

// privateParams returns sizes that cut a ciphertext of size bytes into at
// least two shards: p itself when it already does, else half the size
// (rounded up to whole pieces, the piece shrunk when the file is smaller
// than two pieces).
func privateParams(size int64, p shard.Params) shard.Params {
	p = p.WithDefaults()
	if size > p.ShardSize {
		return p
	}
	half := (size + 1) / 2
	if half < p.PieceSize {
		p.PieceSize = half
	}
	p.ShardSize = (half + p.PieceSize - 1) / p.PieceSize * p.PieceSize
	return p
}

// putPrivate is Put with opts.Private.
func (c *Client) putPrivate(ctx context.Context, r io.Reader, opts PutOptions) (cid.Cid, error) {
	h, err := filecrypt.NewHeader()
	if err != nil {
		return cid.Undef, err
	}
	key, err := filecrypt.OwnerKey(c.node.Key().Private().Seed(), h)
	if err != nil {
		return cid.Undef, err
	}
	// Read ahead two shards: a file that ends within them gets smaller
	// shards, so that it still has two.
	params := shard.Params{ShardSize: int64(c.cfg.ShardSize), PieceSize: int64(c.cfg.PieceSize)}
	head := make([]byte, 2*params.WithDefaults().ShardSize)
	n, err := io.ReadFull(r, head)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		params = privateParams(filecrypt.CipherSize(int64(n), h.Chunk), params)
	case err != nil:
		return cid.Undef, fmt.Errorf("reading input: %w", err)
	}
	enc, err := filecrypt.NewEncrypter(io.MultiReader(bytes.NewReader(head[:n]), r), key, h)
	if err != nil {
		return cid.Undef, err
	}
	pp := &privatePut{params: params, firstDone: make(chan struct{}), addrs: map[identity.PeerID]wire.NodeAddr{}}
	id, err := c.put(ctx, enc, opts, pp)
	if errors.Is(err, wire.ErrUnavailable) {
		replicas := opts.Replicas
		if replicas == 0 {
			replicas = c.cfg.Replicas
		}
		return cid.Undef, fmt.Errorf("a private file needs %d miners with room (its first two shards on disjoint sets of %d, so that no miner holds every shard); lower --replicas or add miners: %w", 2*replicas, replicas, err)
	}
	return id, err
}

// finishPrivate sets the manifest's encrypted flag and marks every shard
// private at every miner holding it; the commit follows only if all agreed.
func (c *Client) finishPrivate(ctx context.Context, pp *privatePut, m *shard.Manifest, receipts [][]wire.Receipt) error {
	if pp == nil {
		return nil
	}
	m.Flags |= shard.FlagEncrypted
	file := m.CID()
	byMiner := map[identity.PeerID][]cid.Cid{}
	for i, rs := range receipts {
		for _, r := range rs {
			byMiner[r.Miner] = append(byMiner[r.Miner], m.ShardCID(i))
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for p, shards := range byMiner {
		pp.mu.Lock()
		addr, ok := pp.addrs[p]
		pp.mu.Unlock()
		if !ok {
			return fmt.Errorf("private put: no address for miner %s", p.Short())
		}
		g.Go(func() error {
			for len(shards) > 0 {
				k := min(len(shards), wire.MaxMarkShards)
				if err := c.call(gctx, addr, &wire.MarkPrivate{File: file, Shards: shards[:k]}, &wire.Marked{}); err != nil {
					return fmt.Errorf("marking shards private at miner %s: %w", p.Short(), err)
				}
				shards = shards[k:]
			}
			return nil
		})
	}
	return g.Wait()
}

// call makes one request to a node other than the indexer, within Timeout.
func (c *Client) call(ctx context.Context, to wire.NodeAddr, req, resp wire.Message) error {
	cctx, cancel := context.WithTimeout(ctx, time.Duration(c.cfg.Timeout))
	defer cancel()
	return c.node.Call(cctx, to, req, resp)
}

// Private reports whether the file was encrypted before sharding.
func (st *FileStat) Private() bool { return st.manifest.Flags&shard.FlagEncrypted != 0 }

// KeyFor returns how to find the key of a private file read with a (nil:
// as its owner): the code's key, or the owner's key derived from this
// identity and the file's header. Give it to filecrypt.NewReaderAt or
// filecrypt.NewDecryptWriter.
func (c *Client) KeyFor(a *Access) func(filecrypt.Header) ([]byte, error) {
	return func(h filecrypt.Header) ([]byte, error) {
		if a != nil && a.Key != nil {
			return a.Key, nil
		}
		return filecrypt.OwnerKey(c.node.Key().Private().Seed(), h)
	}
}

// decrypting wraps w for a get of st: for a private file, a writer that
// decrypts what the download writes, and a finish that checks the end.
func (c *Client) decrypting(st *FileStat, w io.Writer, a *Access) (io.Writer, func() error) {
	if !st.Private() {
		return w, func() error { return nil }
	}
	dw := filecrypt.NewDecryptWriter(w, c.KeyFor(a))
	return dw, dw.Close
}

// noKey turns a decryption failure into ErrNoKey for a reader without a code.
func noKey(err error, a *Access) error {
	if errors.Is(err, filecrypt.ErrDecrypt) && (a == nil || a.Key == nil) {
		return fmt.Errorf("%w (%v)", ErrNoKey, err)
	}
	return err
}

// ReadHeader fetches and checks the first piece of a private file and
// returns its encryption header (what the owner's key derives from).
func (c *Client) ReadHeader(ctx context.Context, st *FileStat, a *Access) (filecrypt.Header, error) {
	m := st.manifest
	if !st.Private() || len(m.Shards) == 0 {
		return filecrypt.Header{}, filecrypt.ErrNotEncrypted
	}
	var head []byte
	var errs []error
	for _, r := range st.replicas[0] {
		for k := 0; len(head) < filecrypt.HeaderSize && k < m.PieceCount(0); k++ {
			p, err := c.fetchPiece(ctx, r.NodeAddr, a, m, 0, k)
			if err != nil {
				errs = append(errs, fmt.Errorf("miner %s: %w", r.Peer.Short(), err))
				head = head[:0]
				break
			}
			head = append(head, p...)
		}
		if len(head) >= filecrypt.HeaderSize {
			return filecrypt.ParseHeader(head)
		}
	}
	return filecrypt.Header{}, fmt.Errorf("reading the header of %s: %w", st.CID, errors.Join(errs...))
}

// fetchPiece gets and checks one piece from one miner.
func (c *Client) fetchPiece(ctx context.Context, addr wire.NodeAddr, a *Access, m *shard.Manifest, si, pi int) ([]byte, error) {
	cctx, cancel := context.WithTimeout(ctx, time.Duration(c.cfg.Timeout))
	defer cancel()
	s, err := c.node.Open(cctx, addr)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	defer context.AfterFunc(cctx, s.Abort)()
	if err := s.Send(a.PieceRequest(m.ShardCID(si), uint32(pi), 1)); err != nil {
		return nil, err
	}
	_ = s.CloseWrite()
	var pc wire.Piece
	if err := s.Expect(&pc); err != nil {
		return nil, err
	}
	proof := make([]shard.Digest, len(pc.Proof))
	for i, h := range pc.Proof {
		proof[i] = h
	}
	if int(pc.Index) != pi || int64(len(pc.Data)) != m.PieceLen(si, pi) {
		return nil, wire.Errorf(wire.CodeCorrupt, "miner %s sent piece %d of %d bytes, want piece %d", addr.Peer.Short(), pc.Index, len(pc.Data), pi)
	}
	if err := shard.VerifyPiece(m.Shards[si], pi, m.PieceCount(si), pc.Data, proof); err != nil {
		return nil, wire.Errorf(wire.CodeCorrupt, "miner %s, piece %d of shard %d: %v", addr.Peer.Short(), pi, si, err)
	}
	return bytes.Clone(pc.Data), nil
}
