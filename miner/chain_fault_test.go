package miner

import (
	"context"
	"testing"
	"time"

	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
)

// hungMiner takes the header of an upload and then reads nothing more until
// the test ends: a miner that hangs, not one that dies.
func hungMiner(t *testing.T) wire.NodeAddr {
	t.Helper()
	k, _ := identity.Generate()
	n, err := transport.Listen(transport.Config{Key: k, Listen: "127.0.0.1:0", RequestTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	n.Handle(wire.TypeStoreShard, func(ctx context.Context, _ *transport.Stream, _ wire.Message) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	go n.Serve(ctx)
	t.Cleanup(func() { close(release); cancel(); n.Close() })
	return n.Self()
}

// slowDisk makes every write of the store's temp files take d.
func slowDisk(s *store, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.createTemp = func(dir string) (file, error) {
		f, err := createTemp(dir)
		if err != nil {
			return nil, err
		}
		return &slowFile{file: f, d: d}, nil
	}
}

type slowFile struct {
	file
	d time.Duration
}

func (f *slowFile) Write(p []byte) (int, error) {
	time.Sleep(f.d) // the disk, not the test's ordering
	return f.file.Write(p)
}

func fastIdle(c *Config) { c.idleTimeout = 700 * time.Millisecond }

// A miner that hangs in the middle of a chain is reported lost by the miner
// before it, which keeps its own copy; the miner after it is only "not
// reached"; nobody upstream is blamed.
func TestHungMinerIsBlamedAloneWhereverItIs(t *testing.T) {
	cli := newClient(t)
	ctx := context.Background()
	t.Run("last", func(t *testing.T) {
		m1, m2 := startMiner(t, "", fastIdle), startMiner(t, "", fastIdle)
		hung := hungMiner(t)
		sh := makeShard(t, testShardSize, testPieceSize)
		res, err := put(ctx, cli, m1.Addr(), sh, []wire.NodeAddr{m2.Addr(), hung}, defaultPut(testPieceSize))
		if err != nil {
			t.Fatalf("the client was failed by a miner two hops away: %v", err)
		}
		checkReceipts(t, res, sh, cli.ID(), m1, m2)
		if len(res.Failures) != 1 || res.Failures[0].Peer != hung.Peer || res.Failures[0].Code != wire.CodeHopLost {
			t.Fatalf("failures %+v, want the hung miner lost", res.Failures)
		}
	})
	t.Run("middle", func(t *testing.T) {
		m1, m3 := startMiner(t, "", fastIdle), startMiner(t, "", fastIdle)
		hung := hungMiner(t)
		sh := makeShard(t, testShardSize, testPieceSize)
		res, err := put(ctx, cli, m1.Addr(), sh, []wire.NodeAddr{hung, m3.Addr()}, defaultPut(testPieceSize))
		if err != nil {
			t.Fatal(err)
		}
		checkReceipts(t, res, sh, cli.ID(), m1)
		if len(res.Failures) != 2 {
			t.Fatalf("failures %+v", res.Failures)
		}
		if f := res.Failures[0]; f.Peer != hung.Peer || f.Code != wire.CodeHopLost {
			t.Fatalf("failure %+v, want the hung miner lost", f)
		}
		checkFailure(t, res.Failures[1], m3, wire.CodeSkipped, "not reached")
		nothingKept(t, sh, m3)
	})
}

// A hop whose disk is slow stops reading its upstream for longer than the
// idle timeout in all, but never waits that long for the upstream itself:
// the upload succeeds and nobody is blamed (the cause of re-sent puts on a
// loaded machine).
func TestSlowHopIsNotMistakenForDead(t *testing.T) {
	cli := newClient(t)
	m1, m2, m3 := startMiner(t, "", fastIdle), startMiner(t, "", fastIdle), startMiner(t, "", fastIdle)
	slowDisk(m2.store, 150*time.Millisecond) // 17 pieces: 2.5 s of writes, 8 in flight at most
	sh := makeShard(t, testShardSize, testPieceSize)
	res, err := put(context.Background(), cli, m1.Addr(), sh, addrs(m2, m3), defaultPut(testPieceSize))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failures) != 0 {
		t.Fatalf("a slow disk at %s was taken for a failure: %+v", m2.short, res.Failures)
	}
	checkReceipts(t, res, sh, cli.ID(), m1, m2, m3)
}
