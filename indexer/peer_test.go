package indexer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/config"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
	"github.com/prometheus/client_golang/prometheus"
)

// stubBootstrap is a tiny stand-in for a region's bootstrap: it answers
// ListNodes with a fixed set of records and reports every Register.
type stubBootstrap struct {
	node       *transport.Node
	mu         sync.Mutex
	records    []wire.NodeRecord
	registered chan wire.NodeRecord
}

func newStubBootstrap(t *testing.T, records []wire.NodeRecord) *stubBootstrap {
	t.Helper()
	key, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	n, err := transport.Listen(transport.Config{Key: key, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	b := &stubBootstrap{node: n, records: records, registered: make(chan wire.NodeRecord, 16)}
	n.Handle(wire.TypeListNodes, transport.Unary(func(_ context.Context, _ identity.PeerID, req *wire.ListNodes) (wire.Message, error) {
		b.mu.Lock()
		defer b.mu.Unlock()
		return &wire.NodeList{Records: append([]wire.NodeRecord(nil), b.records...)}, nil
	}))
	n.Handle(wire.TypeRegister, transport.Unary(func(_ context.Context, peer identity.PeerID, req *wire.Register) (wire.Message, error) {
		if req.Record.Peer != peer {
			return nil, wire.Errorf(wire.CodeUnauthorized, "record of another peer")
		}
		select {
		case b.registered <- req.Record:
		default:
		}
		return &wire.Registered{Expires: req.Record.Expires}, nil
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; n.Close() })
	return b
}

// runningPeer starts an indexer and returns it with a function that stops it.
func runningPeer(t *testing.T, cfg Config, reg prometheus.Registerer) (*Peer, func()) {
	t.Helper()
	p, err := New(cfg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			if err := p.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return p, stop
}

func newClient(t *testing.T, k *identity.Key) *transport.Node {
	t.Helper()
	n, err := transport.Listen(transport.Config{Key: k, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func TestIndexerOverQUIC(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	miners := testKeys(0, 5)
	recs := minerRecords(miners, 1<<30, 1)
	boot := newStubBootstrap(t, recs)
	dataDir := t.TempDir()
	cfg := Config{
		DataDir:         dataDir,
		Region:          "test",
		Bootstrap:       []string{config.FormatPeerAddr(boot.node.Self())},
		RefreshInterval: time.Hour, // the test pulls with RefreshMiners
	}
	reg := prometheus.NewRegistry()
	p, stop := runningPeer(t, cfg, reg)

	// The indexer registers itself at the bootstrap as an indexer.
	select {
	case rec := <-boot.registered:
		if rec.Role != wire.RoleIndexer || rec.Peer != p.Addr().Peer || len(rec.Addrs) != 1 || rec.Addrs[0] != p.Addr().Addr {
			t.Fatalf("registered %+v, want the indexer's own record", rec)
		}
		if err := rec.Verify(time.Now()); err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("the indexer never registered at the bootstrap")
	}
	if err := p.RefreshMiners(ctx); err != nil {
		t.Fatal(err)
	}
	if p.Placer().LiveCount() != len(miners) {
		t.Fatalf("%d live miners after a refresh, want %d", p.Placer().LiveCount(), len(miners))
	}

	aliceKey, bobKey := testKey(1000), testKey(1001)
	alice, bob := newClient(t, aliceKey), newClient(t, bobKey)
	idx := p.Addr()

	var pong wire.Pong
	if err := alice.Call(ctx, idx, &wire.Ping{Nonce: 7}, &pong); err != nil || pong.Nonce != 7 || pong.Role != wire.RoleIndexer {
		t.Fatalf("ping: %+v, %v", pong, err)
	}

	// Place, "upload", commit with receipts signed by the placed miners.
	m := testManifest(t, 6)
	var pl wire.Placement
	if err := alice.Call(ctx, idx, &wire.Place{Replicas: 3, ShardSize: uint64(m.ShardSize), Count: uint32(len(m.Shards))}, &pl); err != nil {
		t.Fatal(err)
	}
	byPeer := map[identity.PeerID]*identity.Key{}
	addrOf := map[identity.PeerID]string{}
	for i, k := range miners {
		byPeer[k.ID()] = k
		addrOf[k.ID()] = recs[i].Addrs[0]
	}
	pick := func(i int) []*identity.Key {
		var ks []*identity.Key
		for _, a := range pl.Chains[i] {
			if a.Addr != addrOf[a.Peer] {
				t.Fatalf("placement names %v at %q, its record says %q", a.Peer.Short(), a.Addr, addrOf[a.Peer])
			}
			ks = append(ks, byPeer[a.Peer])
		}
		return ks
	}
	receipts := signedReceipts(m, aliceKey.ID(), pick)

	// Bob cannot commit receipts issued to Alice.
	err := bob.Call(ctx, idx, &wire.Commit{Manifest: m.Encode(), Name: "stolen", Receipts: receipts}, &wire.Committed{})
	if !errors.Is(err, wire.ErrUnauthorized) {
		t.Fatalf("bob committing alice's receipts: %v, want unauthorized", err)
	}

	var done wire.Committed
	if err := alice.Call(ctx, idx, &wire.Commit{Manifest: m.Encode(), Name: "movie.mkv", Receipts: receipts}, &done); err != nil {
		t.Fatal(err)
	}
	if !done.CID.Equals(m.CID()) {
		t.Fatalf("committed %v, want %v", done.CID, m.CID())
	}

	var loc wire.Location
	if err := bob.Call(ctx, idx, &wire.Locate{CID: done.CID}, &loc); err != nil {
		t.Fatal(err)
	}
	checkLocation(t, &loc, m, pick)
	for i, rs := range loc.Shards {
		for _, r := range rs {
			if r.Addr != addrOf[r.Peer] {
				t.Fatalf("shard %d: %v at %q, want %q", i, r.Peer.Short(), r.Addr, addrOf[r.Peer])
			}
		}
	}

	var fl wire.FileList
	if err := alice.Call(ctx, idx, &wire.ListFiles{}, &fl); err != nil {
		t.Fatal(err)
	}
	if len(fl.Files) != 1 || fl.Files[0].Name != "movie.mkv" || !fl.Files[0].CID.Equals(done.CID) || fl.Files[0].Size != uint64(m.Size) {
		t.Fatalf("alice's files %+v", fl.Files)
	}
	if err := bob.Call(ctx, idx, &wire.ListFiles{}, &fl); err != nil || len(fl.Files) != 0 {
		t.Fatalf("bob's files %+v, %v; want none", fl.Files, err)
	}

	// Unknown and malformed CIDs.
	err = alice.Call(ctx, idx, &wire.Locate{CID: testManifest(t, 1).CID()}, &loc)
	if !errors.Is(err, wire.ErrNotFound) {
		t.Fatalf("locate of an unknown file: %v, want not found", err)
	}
	err = alice.Call(ctx, idx, &wire.Locate{CID: cid.Undef}, &loc)
	if !errors.Is(err, wire.ErrBadRequest) {
		t.Fatalf("locate of the undefined CID: %v, want bad request", err)
	}
	// More replicas than live miners.
	err = alice.Call(ctx, idx, &wire.Place{Replicas: 6, ShardSize: mib, Count: 1}, &pl)
	if !errors.Is(err, wire.ErrUnavailable) {
		t.Fatalf("placing 6 replicas on 5 miners: %v, want unavailable", err)
	}

	checkGauge(t, reg, "ppstore_indexer_files", 1)
	checkGauge(t, reg, "ppstore_indexer_shard_records", float64(len(m.Shards)*3))

	// Restart on the same data directory: same identity, same index. Fresh
	// clients: a transport.Node keeps its pooled connection to a peer ID, and
	// the old indexer's connections die silently (see the report).
	stop()
	p2, _ := runningPeer(t, Config{DataDir: dataDir}, nil)
	alice, bob = newClient(t, aliceKey), newClient(t, bobKey)
	if p2.Addr().Peer != idx.Peer {
		t.Fatalf("peer ID changed across a restart: %v, was %v", p2.Addr().Peer, idx.Peer)
	}
	if err := bob.Call(ctx, p2.Addr(), &wire.Locate{CID: done.CID}, &loc); err != nil {
		t.Fatal(err)
	}
	checkLocation(t, &loc, m, pick)
	if err := alice.Call(ctx, p2.Addr(), &wire.ListFiles{}, &fl); err != nil || len(fl.Files) != 1 {
		t.Fatalf("alice's files after restart %+v, %v", fl.Files, err)
	}
}

// A file of 1,500 shards on miners with long host names has a location
// larger than an ordinary frame: it must still be committed and located.
func TestLocateLargeFile(t *testing.T) {
	miners := testKeys(0, 5)
	// Long host names make each replica of the location large, so that 1,500
	// shards exceed an ordinary frame: signing and checking 18,000 receipts
	// for 6,000 shards took over a minute under -race on a loaded machine.
	recs := make([]wire.NodeRecord, len(miners))
	for i, k := range miners {
		host := fmt.Sprintf("miner-%d.%s.example", i, strings.Repeat("long-region-name-", 12))
		recs[i] = minerRecord(k, host+":4000", 1<<40, 1)
	}
	boot := newStubBootstrap(t, recs)
	p, _ := runningPeer(t, Config{DataDir: t.TempDir(), Region: "test",
		Bootstrap: []string{config.FormatPeerAddr(boot.node.Self())}, RefreshInterval: time.Hour}, nil)
	rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer rcancel()
	if err := p.RefreshMiners(rctx); err != nil {
		t.Fatal(err)
	}
	ownerKey := testKey(1000)
	cli := newClient(t, ownerKey)
	m := testManifest(t, 1500)
	pick := rotating(miners, 3)
	commit := &wire.Commit{Manifest: m.Encode(), Name: "big", Receipts: signedReceipts(m, ownerKey.ID(), pick)}
	// The deadline covers the requests, not signing the receipts above.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cli.Call(ctx, p.Addr(), commit, &wire.Committed{}); err != nil {
		t.Fatal(err)
	}
	var loc wire.Location
	if err := cli.Call(ctx, p.Addr(), &wire.Locate{CID: m.CID()}, &loc); err != nil {
		t.Fatalf("locate of a 1500-shard file: %v", err)
	}
	if size := locationSize(&loc); size <= wire.MaxFrame {
		t.Fatalf("location of %d bytes: the test no longer exceeds an ordinary frame", size)
	}
	checkLocation(t, &loc, m, pick)
}

func checkGauge(t *testing.T, reg *prometheus.Registry, name string, want float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			if got := mf.GetMetric()[0].GetGauge().GetValue(); got != want {
				t.Fatalf("%s = %v, want %v", name, got, want)
			}
			return
		}
	}
	t.Fatalf("no metric %s", name)
}

func TestConfigValidate(t *testing.T) {
	var c Config
	c.EnsureDefaults()
	if err := c.Validate(); err == nil {
		t.Fatal("a config without data_dir validated")
	}
	c.DataDir = t.TempDir()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.RefreshInterval != 2*time.Second || c.RecordTTL != time.Minute {
		t.Fatalf("defaults %v %v", c.RefreshInterval, c.RecordTTL)
	}
	bad := c
	bad.Bootstrap = []string{"not-a-peer@127.0.0.1:1"}
	if err := bad.Validate(); !errors.Is(err, config.ErrBadPeerAddr) {
		t.Fatalf("bad bootstrap: %v", err)
	}
	bad = c
	bad.RecordTTL = time.Second
	if bad.Validate() == nil {
		t.Fatal("a 1s record_ttl validated")
	}
}
