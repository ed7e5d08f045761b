package user_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/internal/testutil"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/user"
	"github.com/ppstore/ppstore/wire"
)

// fakeRegion is an indexer that places every shard of one file on every
// miner listed, and miners that answer GetPiece from memory through a
// handler the test chooses. Everything runs over the real transport.
type fakeRegion struct {
	file   cid.Cid
	data   []byte
	shards map[string]*shard.Shard // by shard CID
	idx    wire.NodeAddr
	mu     sync.Mutex // the indexer's handler reads miners on its own goroutine
	miners []wire.NodeAddr
}

func (r *fakeRegion) addAddr(a wire.NodeAddr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.miners = append(r.miners, a)
}

func newFakeRegion(t *testing.T, size int) *fakeRegion {
	t.Helper()
	r := &fakeRegion{data: make([]byte, size), shards: map[string]*shard.Shard{}}
	rand.Read(r.data)
	m, err := shard.Split(bytes.NewReader(r.data), shard.Params{}, func(s *shard.Shard) error {
		c := *s
		c.Data = append([]byte(nil), s.Data...)
		r.shards[c.CID().String()] = &c
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r.file = m.CID()
	enc := m.Encode()
	ix := startNode(t, wire.TypeLocate, transport.Unary(func(context.Context, identity.PeerID, *wire.Locate) (wire.Message, error) {
		loc := &wire.Location{Manifest: enc}
		r.mu.Lock()
		defer r.mu.Unlock()
		for range m.Shards {
			var rs []wire.Replica
			for _, a := range r.miners {
				rs = append(rs, wire.Replica{NodeAddr: a, Status: wire.StatusStored})
			}
			loc.Shards = append(loc.Shards, rs)
		}
		return loc, nil
	}))
	r.idx = ix.Self()
	return r
}

// startNode starts a node answering requests of type typ with h.
func startNode(t *testing.T, typ wire.Type, h transport.Handler) *transport.Node {
	t.Helper()
	k, _ := identity.Generate()
	n, err := transport.Listen(transport.Config{Key: k})
	if err != nil {
		t.Fatal(err)
	}
	n.Handle(typ, h) // before Serve
	ctx, cancel := context.WithCancel(context.Background())
	go n.Serve(ctx)
	t.Cleanup(func() { cancel(); n.Close() })
	return n
}

// sendPieces answers a GetPiece with the right pieces and proofs.
func (r *fakeRegion) sendPieces(s *transport.Stream, req *wire.GetPiece) error {
	return sendPieces(s, r.shards, req)
}

// sendPieces answers a GetPiece from shards (by CID) with the right pieces
// and proofs.
func sendPieces(s *transport.Stream, shards map[string]*shard.Shard, req *wire.GetPiece) error {
	sh := shards[req.Shard.String()]
	for j := int(req.Index); j < int(req.Index)+int(max(req.Count, 1)); j++ {
		path := shard.MerkleProof(sh.Pieces, j)
		proof := make([][32]byte, len(path))
		for k := range path {
			proof[k] = path[k]
		}
		if err := s.Send(&wire.Piece{Index: uint32(j), Data: sh.Piece(j, shard.DefaultPieceSize), Proof: proof}); err != nil {
			return err
		}
	}
	return nil
}

// addMiner adds a miner answering GetPiece with h.
func (r *fakeRegion) addMiner(t *testing.T, h func(ctx context.Context, s *transport.Stream, req *wire.GetPiece) error) {
	n := startNode(t, wire.TypeGetPiece, func(ctx context.Context, s *transport.Stream, m wire.Message) error {
		return h(ctx, s, m.(*wire.GetPiece))
	})
	r.addAddr(n.Self())
}

func (r *fakeRegion) client(t *testing.T, mod func(*user.Config)) *user.Client {
	t.Helper()
	cfg := user.Config{DataDir: t.TempDir(), Indexer: r.idx.Peer.String() + "@" + r.idx.Addr, Listen: "127.0.0.1:0"}
	if mod != nil {
		mod(&cfg)
	}
	c, err := user.New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (r *fakeRegion) getAndCompare(t *testing.T, c *user.Client) (*user.GetResult, time.Duration) {
	t.Helper()
	var out bytes.Buffer
	start := time.Now()
	res, err := c.Get(context.Background(), r.file, &out, user.GetOptions{})
	took := time.Since(start)
	if err != nil {
		t.Fatalf("get: %v (after %v)", err, took)
	}
	if !bytes.Equal(out.Bytes(), r.data) {
		t.Fatalf("get returned %d bytes that differ from the %d stored", out.Len(), len(r.data))
	}
	return res, took
}

// A miner caught sending bad bytes is dropped at once on all its streams:
// the pieces its other, stalled requests had taken go to other miners now,
// not when those requests time out.
func TestDroppedMinerReleasesItsOtherRequests(t *testing.T) {
	r := newFakeRegion(t, 8<<20)
	r.addMiner(t, func(_ context.Context, s *transport.Stream, req *wire.GetPiece) error { return r.sendPieces(s, req) })
	var (
		calls       atomic.Int32
		stalled     = make(chan struct{}) // closed when a second request has arrived
		stalledOnce sync.Once
	)
	r.addMiner(t, func(ctx context.Context, s *transport.Stream, req *wire.GetPiece) error {
		if calls.Add(1) == 1 {
			// Answer badly only once another request has arrived and stalls.
			select {
			case <-stalled:
			case <-ctx.Done():
				return ctx.Err()
			}
			return s.Send(&wire.Piece{Index: req.Index, Data: make([]byte, shard.DefaultPieceSize)})
		}
		stalledOnce.Do(func() { close(stalled) })
		<-ctx.Done() // stalled: never answers (ctx ends at the request deadline or the node's close)
		return ctx.Err()
	})
	// A piece timeout far beyond what the get takes even on a loaded
	// machine: finishing within half of it shows the stalled requests were
	// released by the drop, not by the timeout.
	const pieceTimeout = 2 * time.Minute
	c := r.client(t, func(c *user.Config) { c.PieceTimeout = user.Duration(pieceTimeout) })
	res, took := r.getAndCompare(t, c)
	if len(res.DroppedMiners) != 1 {
		t.Fatalf("dropped %v, want the bad miner", res.DroppedMiners)
	}
	if calls.Load() < 2 {
		t.Fatalf("the bad miner got %d requests: none stalled, the test exercised nothing", calls.Load())
	}
	if took > pieceTimeout/2 {
		t.Fatalf("get took %v: the bad miner's stalled requests held their pieces until the %v piece timeout", took, pieceTimeout)
	}
}

// A miner that does not answer at all costs one dial timeout, however many
// requests were waiting for it: counted at the silent address itself, where
// every dial shows up as a QUIC connection ID of its own (a timing bound
// would fail on a loaded machine without telling anything).
func TestUnreachableMinerCostsOneDialTimeout(t *testing.T) {
	hole, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	dials := countDials(hole)
	r := newFakeRegion(t, 16<<20)
	r.addMiner(t, func(_ context.Context, s *transport.Stream, req *wire.GetPiece) error { return r.sendPieces(s, req) })
	k, _ := identity.Generate()
	r.addAddr(wire.NodeAddr{Peer: k.ID(), Addr: hole.LocalAddr().String()})
	c := r.client(t, nil)
	res, took := r.getAndCompare(t, c)
	if _, ok := res.DroppedMiners[k.ID().String()]; !ok {
		t.Fatalf("dropped %v, want the unreachable miner", res.DroppedMiners)
	}
	if n := dials(); n != 1 {
		t.Fatalf("the unreachable miner was dialled %d times during the get (%v), want one dial shared by every request", n, took)
	}
}

// countDials reads the packets sent to a silent UDP socket until it is
// closed and returns a function that tells how many QUIC connections were
// attempted so far: the distinct destination connection IDs of long-header
// (handshake) packets. Retransmissions of one dial keep its ID.
func countDials(hole *net.UDPConn) func() int {
	var mu sync.Mutex
	ids := map[string]bool{}
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, _, err := hole.ReadFromUDP(buf)
			if err != nil {
				return // closed
			}
			p := buf[:n]
			// Long header: flags, version (4), DCID length, DCID (RFC 9000 §17.2).
			if n < 6 || p[0]&0x80 == 0 || n < 6+int(p[5]) {
				continue
			}
			mu.Lock()
			ids[string(p[6:6+int(p[5])])] = true
			mu.Unlock()
		}
	}()
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(ids)
	}
}

// A miner on a slow link that keeps sending is waited for, however long the
// run takes; only silence counts against it.
func TestSlowMinerIsNotDroppedWhileItSends(t *testing.T) {
	r := newFakeRegion(t, 2<<20)
	r.addMiner(t, func(ctx context.Context, s *transport.Stream, req *wire.GetPiece) error {
		for j := int(req.Index); j < int(req.Index)+int(req.Count); j++ {
			if err := testutil.SlowLink(ctx, 300*time.Millisecond); err != nil { // a slow link: each piece takes a while
				return err
			}
			if err := r.sendPieces(s, &wire.GetPiece{Shard: req.Shard, Index: uint32(j), Count: 1}); err != nil {
				return err
			}
		}
		return nil
	})
	c := r.client(t, func(c *user.Config) {
		c.Timeout = user.Duration(time.Second) // less than a 4-piece run takes
		c.PieceTimeout = user.Duration(time.Second)
		c.Streams = 1
	})
	res, took := r.getAndCompare(t, c)
	if len(res.DroppedMiners) != 0 {
		t.Fatalf("dropped %v", res.DroppedMiners)
	}
	t.Logf("8 pieces in %v", took)
}

// Shard 0 on A and B, shard 1 (one piece) on A only. A stalls on shard 1 and
// sends bad bytes for shard 0: once A is dropped, shard 1 has no holder and
// the get must fail with ErrNoReplica, not wait forever.
func TestPieceOrphanedByADropEndsTheGet(t *testing.T) {
	data := make([]byte, 4<<20+256<<10)
	rand.Read(data)
	shards := map[string]*shard.Shard{}
	m, err := shard.Split(bytes.NewReader(data), shard.Params{}, func(s *shard.Shard) error {
		c := *s
		c.Data = append([]byte(nil), s.Data...)
		shards[c.CID().String()] = &c
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s1 := m.ShardCID(1).String()
	// The order under test, by conditions: A is asked for shard 1 (and
	// stalls) and for shard 0; only then does it send bad bytes for shard 0,
	// and B answers for shard 0 only once A has been asked for it, so that A
	// is caught by its bytes, not by a timeout.
	var askedS1Once, askedS0Once sync.Once
	askedS1, askedS0 := make(chan struct{}), make(chan struct{})
	a := startNode(t, wire.TypeGetPiece, func(ctx context.Context, s *transport.Stream, msg wire.Message) error {
		req := msg.(*wire.GetPiece)
		if req.Shard.String() == s1 {
			askedS1Once.Do(func() { close(askedS1) })
			<-ctx.Done()
			return ctx.Err()
		}
		askedS0Once.Do(func() { close(askedS0) })
		select {
		case <-askedS1:
		case <-ctx.Done():
			return ctx.Err()
		}
		return s.Send(&wire.Piece{Index: req.Index, Data: make([]byte, shard.DefaultPieceSize)})
	})
	b := startNode(t, wire.TypeGetPiece, func(ctx context.Context, s *transport.Stream, msg wire.Message) error {
		select {
		case <-askedS0:
		case <-ctx.Done():
			return ctx.Err()
		}
		return sendPieces(s, shards, msg.(*wire.GetPiece))
	})
	enc := m.Encode()
	ix := startNode(t, wire.TypeLocate, transport.Unary(func(context.Context, identity.PeerID, *wire.Locate) (wire.Message, error) {
		return &wire.Location{Manifest: enc, Shards: [][]wire.Replica{
			{{NodeAddr: a.Self(), Status: wire.StatusStored}, {NodeAddr: b.Self(), Status: wire.StatusStored}},
			{{NodeAddr: a.Self(), Status: wire.StatusStored}},
		}}, nil
	}))
	cfg := user.Config{DataDir: t.TempDir(), Indexer: ix.Self().Peer.String() + "@" + ix.Self().Addr, Listen: "127.0.0.1:0", Streams: 2}
	c, err := user.New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, err = c.Get(ctx, m.CID(), &bytes.Buffer{}, user.GetOptions{})
	if !errors.Is(err, user.ErrNoReplica) {
		t.Fatalf("want ErrNoReplica, got %v", err)
	}
}
