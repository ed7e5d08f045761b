package user_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/internal/netsim"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/user"
	"github.com/ppstore/ppstore/wire"
)

// How a fake chain miner answers for itself in a chain's StoreResult.
type receiptKind int

const (
	goodReceipt     receiptKind = iota
	wrongKeyReceipt             // its receipt is signed with a key that is not its own
	noReceipt                   // neither a receipt nor a failure
)

// chainRegion is an indexer that places shards on its miners in order,
// honouring Exclude, and records every Place and Commit; its miners take
// uploads and answer for the whole chain, each miner's receipt made as its
// kind says (the fake holds every miner's key). Everything runs over the
// real transport.
type chainRegion struct {
	idx    wire.NodeAddr
	miners []*chainMiner
	byPeer map[identity.PeerID]*chainMiner
	// ignoreExclude makes the indexer place on excluded miners too.
	ignoreExclude atomic.Bool

	mu      sync.Mutex
	places  []wire.Place
	commits []wire.Commit
	stored  map[string][]identity.PeerID // shard CID → miners reported stored
}

type chainMiner struct {
	key  *identity.Key
	addr wire.NodeAddr
	kind receiptKind
}

// serveChainNode starts a node answering with the given handlers.
func serveChainNode(t *testing.T, key *identity.Key, handlers map[wire.Type]transport.Handler) *transport.Node {
	t.Helper()
	n, err := transport.Listen(transport.Config{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	for typ, h := range handlers {
		n.Handle(typ, h)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go n.Serve(ctx)
	t.Cleanup(func() { cancel(); n.Close() })
	return n
}

func newChainRegion(t *testing.T, kinds ...receiptKind) *chainRegion {
	t.Helper()
	r := &chainRegion{byPeer: map[identity.PeerID]*chainMiner{}}
	for _, k := range kinds {
		key, _ := identity.Generate()
		m := &chainMiner{key: key, kind: k}
		n := serveChainNode(t, key, map[wire.Type]transport.Handler{wire.TypeStoreShard: r.store(m)})
		m.addr = n.Self()
		r.miners = append(r.miners, m)
		r.byPeer[key.ID()] = m
	}
	ikey, _ := identity.Generate()
	ix := serveChainNode(t, ikey, map[wire.Type]transport.Handler{
		wire.TypePlace:       transport.Unary(r.place),
		wire.TypeReserve:     transport.Unary(r.reserve),
		wire.TypeShardStored: transport.Unary(r.shardStored),
		wire.TypeCommit:      transport.Unary(r.commit),
	})
	r.idx = ix.Self()
	return r
}

func (r *chainRegion) place(_ context.Context, _ identity.PeerID, req *wire.Place) (wire.Message, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.places = append(r.places, *req)
	var chain []wire.NodeAddr
	for _, m := range r.miners {
		if len(chain) < int(req.Replicas) && (r.ignoreExclude.Load() || !slices.Contains(req.Exclude, m.key.ID())) {
			chain = append(chain, m.addr)
		}
	}
	if len(chain) < int(req.Replicas) {
		return nil, wire.Errorf(wire.CodeUnavailable, "need %d miners, have %d not excluded", req.Replicas, len(chain))
	}
	return &wire.Placement{Chains: [][]wire.NodeAddr{chain}}, nil
}

// reserve answers a Reserve as the real indexer does for a shard it does not
// hold: the miners reported stored are Have, the rest is placed (and
// recorded as a Place request).
func (r *chainRegion) reserve(ctx context.Context, p identity.PeerID, req *wire.Reserve) (wire.Message, error) {
	r.mu.Lock()
	held := r.stored[req.Shard.KeyString()]
	r.mu.Unlock()
	rv := &wire.Reservation{}
	for _, m := range held {
		rv.Have = append(rv.Have, r.byPeer[m].addr)
	}
	if len(held) >= int(req.Replicas) {
		return rv, nil
	}
	pl, err := r.place(ctx, p, &wire.Place{Replicas: req.Replicas - uint8(len(held)), ShardSize: req.Size, Count: 1,
		Exclude: append(slices.Clone(req.Exclude), held...)})
	if err != nil {
		return nil, err
	}
	rv.Chain = pl.(*wire.Placement).Chains[0]
	return rv, nil
}

func (r *chainRegion) shardStored(_ context.Context, _ identity.PeerID, req *wire.ShardStored) (wire.Message, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stored == nil {
		r.stored = map[string][]identity.PeerID{}
	}
	k := req.Shard.KeyString()
	for _, rc := range req.Receipts {
		r.stored[k] = append(r.stored[k], rc.Miner)
	}
	return &wire.StoredAck{Replicas: uint32(len(r.stored[k]))}, nil
}

func (r *chainRegion) commit(_ context.Context, _ identity.PeerID, req *wire.Commit) (wire.Message, error) {
	r.mu.Lock()
	r.commits = append(r.commits, *req)
	r.mu.Unlock()
	return &wire.Committed{CID: shard.ManifestCIDOf(req.Manifest)}, nil
}

// store takes an upload at miner m and answers for every miner of the chain.
func (r *chainRegion) store(m *chainMiner) transport.Handler {
	return func(_ context.Context, s *transport.Stream, msg wire.Message) error {
		hdr := msg.(*wire.StoreShard)
		for range hdr.Pieces {
			var pd wire.PieceData
			if err := s.Expect(&pd); err != nil {
				return err
			}
		}
		stranger, _ := identity.Generate()
		res := &wire.StoreResult{}
		members := []*chainMiner{m}
		for _, a := range hdr.Chain {
			members = append(members, r.byPeer[a.Peer])
		}
		for _, cm := range members {
			rc := wire.Receipt{Miner: cm.key.ID(), Shard: hdr.Shard, Size: hdr.Size, Owner: hdr.Owner, Stored: uint64(time.Now().Unix())}
			switch cm.kind {
			case goodReceipt:
				rc.Sig = cm.key.Sign(rc.SigningBytes())
			case wrongKeyReceipt:
				rc.Sig = stranger.Sign(rc.SigningBytes())
			case noReceipt:
				continue
			}
			res.Receipts = append(res.Receipts, rc)
		}
		return s.Send(res)
	}
}

func (r *chainRegion) peer(i int) identity.PeerID { return r.miners[i].key.ID() }

// placesSeen returns the Place requests the indexer answered so far.
func (r *chainRegion) placesSeen() []wire.Place {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.places)
}

// commitsSeen returns the Commit requests the indexer answered so far.
func (r *chainRegion) commitsSeen() []wire.Commit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.commits)
}

// put stores size random bytes in shards of 4 KiB, one shard at a time so
// that the order of Place requests is fixed.
func (r *chainRegion) put(t *testing.T, size, replicas int) error {
	t.Helper()
	c, err := user.New(context.Background(), user.Config{
		DataDir:   t.TempDir(),
		Indexer:   r.idx.Peer.String() + "@" + r.idx.Addr,
		Listen:    "127.0.0.1:0",
		ShardSize: 4 << 10,
		PieceSize: 1 << 10,
		Uploads:   1,
		Timeout:   user.Duration(5 * time.Second),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := make([]byte, size)
	rand.Read(data)
	_, err = c.Put(context.Background(), bytes.NewReader(data), user.PutOptions{Replicas: replicas})
	return err
}

// A miner whose receipt does not check is a failed replica: the shard is
// placed elsewhere, and no later placement of the put may use that miner.
func TestPutReplacesMinerWithBadReceipt(t *testing.T) {
	r := newChainRegion(t, goodReceipt, wrongKeyReceipt, goodReceipt, goodReceipt)
	liar := r.peer(1)
	if err := r.put(t, 8<<10, 3); err != nil {
		t.Fatalf("put with a fourth miner to spare: %v", err)
	}
	places := r.placesSeen()
	if len(places) != 3 {
		t.Fatalf("%d Place requests, want 3 (shard 0, its re-placement, shard 1)", len(places))
	}
	if slices.Contains(places[0].Exclude, liar) {
		t.Fatalf("first placement excluded miner %s before it failed", liar.Short())
	}
	for i, p := range places[1:] {
		if !slices.Contains(p.Exclude, liar) {
			t.Errorf("Place request %d does not exclude miner %s, whose receipt was bad: exclude %v", i+1, liar.Short(), p.Exclude)
		}
	}
	commits := r.commitsSeen()
	if len(commits) != 1 || len(commits[0].Receipts) != 2 {
		t.Fatalf("commits %v, want one of 2 shards", commits)
	}
	for i, rs := range commits[0].Receipts {
		if len(rs) != 3 {
			t.Errorf("shard %d committed with %d receipts, want 3", i, len(rs))
		}
		for _, rc := range rs {
			if rc.Miner == liar {
				t.Errorf("shard %d committed with the bad receipt of miner %s", i, liar.Short())
			}
		}
	}
}

// When no miner is left to replace the one with a bad receipt, the put fails
// and says which miner and what was wrong, and records nothing.
func TestPutFailsNamingMinerWithBadReceipt(t *testing.T) {
	r := newChainRegion(t, goodReceipt, wrongKeyReceipt, goodReceipt)
	liar := r.peer(1)
	err := r.put(t, 4<<10, 3)
	if err == nil {
		t.Fatal("put succeeded with a miner whose receipt is signed by another key")
	}
	msg := err.Error()
	if !strings.Contains(msg, liar.Short()) || !strings.Contains(msg, "invalid receipt") || !strings.Contains(msg, "bad signature") {
		t.Errorf("error does not name miner %s and its bad receipt: %v", liar.Short(), err)
	}
	if strings.Contains(msg, "%!") {
		t.Errorf("error has a formatting fault: %v", err)
	}
	if !errors.Is(err, wire.ErrUnavailable) {
		t.Errorf("error should carry the indexer's refusal to place: %v", err)
	}
	if places := r.placesSeen(); len(places) != 2 || !slices.Contains(places[1].Exclude, liar) {
		t.Errorf("Place requests %v, want a second one excluding %s", places, liar.Short())
	}
	if commits := r.commitsSeen(); len(commits) != 0 {
		t.Errorf("a failed put committed %v", commits)
	}
}

// A miner the chain's result does not mention at all has failed too; when
// re-placing runs out of attempts, the error names the last such miner.
func TestPutGivesUpOnMinersMissingFromTheResult(t *testing.T) {
	r := newChainRegion(t, goodReceipt, noReceipt, noReceipt, noReceipt, noReceipt, goodReceipt)
	err := r.put(t, 4<<10, 2)
	if err == nil {
		t.Fatal("put succeeded although four miners in a row never answered")
	}
	msg := err.Error()
	if !strings.Contains(msg, "only 1 of 2 replicas stored after 4 attempts") || !strings.Contains(msg, r.peer(4).Short()) ||
		!strings.Contains(msg, "neither a receipt nor a failure") || strings.Contains(msg, "%!") {
		t.Errorf("error %q should say 1 of 2 replicas were stored and name miner %s as missing from the result", msg, r.peer(4).Short())
	}
	places := r.placesSeen()
	if len(places) != 4 {
		t.Fatalf("%d Place requests, want 4", len(places))
	}
	for i := 1; i < 4; i++ {
		for j := 1; j <= i; j++ {
			if !slices.Contains(places[i].Exclude, r.peer(j)) {
				t.Errorf("Place request %d does not exclude silent miner %d", i, j)
			}
		}
	}
}

// An indexer that places the shard on a miner the request excluded is not
// followed: the put stops and says so.
func TestPutRefusesPlacementOnExcludedMiner(t *testing.T) {
	r := newChainRegion(t, goodReceipt, wrongKeyReceipt, goodReceipt)
	r.ignoreExclude.Store(true)
	err := r.put(t, 4<<10, 2)
	if err == nil {
		t.Fatal("put succeeded although the indexer placed the shard on an excluded miner")
	}
	if msg := err.Error(); !strings.Contains(msg, "indexer placed the shard on miner "+r.peer(0).Short()+", which the request excluded") || strings.Contains(msg, "%!") {
		t.Errorf("error %q should name the indexer's placement on excluded miner %s", msg, r.peer(0).Short())
	}
}

// An upload over a slow uplink takes as long as it needs while the miner
// keeps taking bytes: longer than the request timeout is no failure.
func TestPutOverSlowUplink(t *testing.T) {
	r := newChainRegion(t, goodReceipt)
	r.mu.Lock()
	r.miners[0].addr.Addr = netsim.SlowLink(t, r.miners[0].addr.Addr, 300<<10, 0)
	r.mu.Unlock()
	c, err := user.New(context.Background(), user.Config{
		DataDir:      t.TempDir(),
		Indexer:      r.idx.Peer.String() + "@" + r.idx.Addr,
		Listen:       "127.0.0.1:0",
		Timeout:      user.Duration(time.Second),
		PieceTimeout: user.Duration(time.Second),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := make([]byte, 1<<20) // one shard: about 3.5s at 300 KB/s
	rand.Read(data)
	start := time.Now()
	if _, err := c.Put(context.Background(), bytes.NewReader(data), user.PutOptions{Replicas: 1}); err != nil {
		t.Fatalf("put over a 300 KB/s uplink with a 1s timeout: %v (after %v)", err, time.Since(start))
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Fatalf("the put took only %v: the link was not slow", took)
	}
}
