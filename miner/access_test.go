package miner

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ppstore/ppstore/config"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/sharecode"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
)

// fakeIndexer answers ListRevocations with the revocations it is given.
type fakeIndexer struct {
	node *transport.Node
	mu   sync.Mutex
	revs [][]byte
}

func newFakeIndexer(t *testing.T) *fakeIndexer {
	f := &fakeIndexer{}
	k, _ := identity.Generate()
	n, err := transport.Listen(transport.Config{Key: k, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	n.Handle(wire.TypeListRevocations, transport.Unary(func(_ context.Context, _ identity.PeerID, req *wire.ListRevocations) (wire.Message, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		out := &wire.RevocationList{Last: req.After}
		for i := req.After; i < uint64(len(f.revs)); i++ {
			out.Revocations = append(out.Revocations, f.revs[i])
			out.Last = i + 1
		}
		return out, nil
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); n.Close(); <-done })
	f.node = n
	return f
}

func (f *fakeIndexer) add(r *sharecode.Revocation) {
	f.mu.Lock()
	f.revs = append(f.revs, r.Encode())
	f.mu.Unlock()
}

func clientWith(t *testing.T, k *identity.Key) *transport.Node {
	n, err := transport.Listen(transport.Config{Key: k, Listen: "127.0.0.1:0", DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func getShared(cli *transport.Node, m *testMiner, sh *shard.Shard, grant []byte) error {
	var pc wire.Piece
	return cli.Call(context.Background(), m.Addr(), &wire.GetSharedPiece{Grant: grant, GetPiece: wire.GetPiece{Shard: sh.CID()}}, &pc)
}

func TestPrivateShardsAreServedToOwnersAndCodesOnly(t *testing.T) {
	idx := newFakeIndexer(t)
	dir := t.TempDir()
	mod := func(c *Config) { c.Indexer = config.FormatPeerAddr(idx.node.Self()) }
	m := startMiner(t, dir, mod)
	aliceKey, bobKey, carolKey := identity.FromSeed(make([]byte, 32)), identity.FromSeed(append(make([]byte, 31), 1)), identity.FromSeed(append(make([]byte, 31), 2))
	alice, bob, carol := clientWith(t, aliceKey), clientWith(t, bobKey), clientWith(t, carolKey)
	ctx := context.Background()
	const ps = 4096
	priv, shared := makeShard(t, 3*ps, ps), makeShard(t, 2*ps, ps)
	if _, err := put(ctx, alice, m.Addr(), priv, nil, defaultPut(ps)); err != nil {
		t.Fatal(err)
	}
	// shared has two owners: alice and bob.
	for _, c := range []*transport.Node{alice, bob} {
		if _, err := put(ctx, c, m.Addr(), shared, nil, defaultPut(ps)); err != nil {
			t.Fatal(err)
		}
	}
	file := shard.ManifestCIDOf([]byte("a private file"))
	other := shard.ManifestCIDOf([]byte("another file"))
	mark := func(c *transport.Node, shards ...*shard.Shard) error {
		req := &wire.MarkPrivate{File: file}
		for _, s := range shards {
			req.Shards = append(req.Shards, s.CID())
		}
		return c.Call(ctx, m.Addr(), req, &wire.Marked{})
	}
	// Only the only owner may mark a shard.
	if err := mark(bob, priv); !errors.Is(err, wire.ErrConflict) {
		t.Fatalf("marking another's shard: err = %v, want ErrConflict", err)
	}
	if err := mark(alice, shared); !errors.Is(err, wire.ErrConflict) {
		t.Fatalf("marking a shard with two owners: err = %v, want ErrConflict", err)
	}
	if err := mark(alice, makeShard(t, ps, ps)); !errors.Is(err, wire.ErrNotFound) {
		t.Fatalf("marking a shard not held: err = %v, want ErrNotFound", err)
	}
	if err := mark(alice, priv); err != nil {
		t.Fatal(err)
	}
	if err := getPiece(ctx, alice, m.Addr(), priv, 1); err != nil {
		t.Fatalf("owner refused: %v", err)
	}
	if err := getPiece(ctx, bob, m.Addr(), priv, 1); !errors.Is(err, wire.ErrShareDenied) {
		t.Fatalf("non-owner without a code: err = %v, want ErrShareDenied", err)
	}
	if err := getPiece(ctx, carol, m.Addr(), shared, 0); err != nil {
		t.Fatalf("a public shard refused: %v", err)
	}

	code, _ := sharecode.New(aliceKey, file, make([]byte, 32), sharecode.Options{To: bob.ID()})
	grant := code.Grant.Encode()
	if err := m.RefreshRevocations(ctx); err != nil {
		t.Fatal(err)
	}
	if err := getShared(bob, m, priv, grant); err != nil {
		t.Fatalf("valid code refused: %v", err)
	}
	forOther, _ := sharecode.New(aliceKey, other, make([]byte, 32), sharecode.Options{})
	byCarol, _ := sharecode.New(carolKey, file, make([]byte, 32), sharecode.Options{})
	expired, _ := sharecode.New(aliceKey, file, make([]byte, 32), sharecode.Options{Expires: time.Unix(1000, 0)})
	tampered := append([]byte(nil), grant...)
	tampered[5] ^= 1
	for _, c := range []struct {
		name  string
		peer  *transport.Node
		grant []byte
		want  error
	}{
		{"another peer", carol, grant, wire.ErrShareDenied},
		{"another file", bob, forOther.Grant.Encode(), wire.ErrShareDenied},
		{"signed by a non-owner", bob, byCarol.Grant.Encode(), wire.ErrShareForged},
		{"one byte changed", bob, tampered, wire.ErrShareForged},
		{"expired", bob, expired.Grant.Encode(), wire.ErrShareExpired},
		{"garbage", bob, []byte("garbage"), wire.ErrBadRequest},
	} {
		if err := getShared(c.peer, m, priv, c.grant); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	rev, _ := sharecode.Revoke(aliceKey, &code.Grant)
	idx.add(rev)
	if err := m.RefreshRevocations(ctx); err != nil {
		t.Fatal(err)
	}
	if err := getShared(bob, m, priv, grant); !errors.Is(err, wire.ErrShareRevoked) {
		t.Fatalf("revoked code: err = %v, want ErrShareRevoked", err)
	}

	// Marks survive a restart. With its indexer gone, the miner cannot know
	// the revocations: it refuses codes for private shards, owners still read.
	m.stop()
	gone := clientWith(t, carolKey)
	goneAddr := gone.Self()
	gone.Close()
	m = startMiner(t, dir, func(c *Config) { c.Indexer = config.FormatPeerAddr(goneAddr) })
	other2, _ := sharecode.New(aliceKey, file, make([]byte, 32), sharecode.Options{})
	if err := getShared(bob, m, priv, other2.Grant.Encode()); !errors.Is(err, wire.ErrUnavailable) {
		t.Fatalf("code while revocations cannot be pulled: err = %v, want ErrUnavailable", err)
	}
	if err := getPiece(ctx, bob, m.Addr(), priv, 0); !errors.Is(err, wire.ErrShareDenied) {
		t.Fatalf("after a restart: err = %v, want ErrShareDenied", err)
	}
	if err := getPiece(ctx, alice, m.Addr(), priv, 0); err != nil {
		t.Fatalf("owner after a restart: %v", err)
	}
}
