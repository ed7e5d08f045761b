package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ppstore/ppstore/bootstrap"
	"github.com/ppstore/ppstore/config"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/indexer"
	"github.com/ppstore/ppstore/internal/testutil"
	"github.com/ppstore/ppstore/miner"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/user"
	"github.com/ppstore/ppstore/wire"
	"github.com/prometheus/client_golang/prometheus"
)

// service is what every daemon's Peer offers.
type service interface {
	Addr() wire.NodeAddr
	Run(ctx context.Context) error
	Close() error
}

type proc struct {
	t      *testing.T
	svc    service
	cancel context.CancelFunc
	done   chan error
}

func startProc(t *testing.T, svc service) *proc {
	ctx, cancel := context.WithCancel(context.Background())
	p := &proc{t: t, svc: svc, cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- svc.Run(ctx) }()
	return p
}

func (p *proc) stop() {
	if p == nil || p.cancel == nil {
		return
	}
	p.cancel()
	p.svc.Close()
	// stop may run off the test's goroutine (a progress callback): no Fatal.
	if _, ok := testutil.Within(p.done, testutil.Wait); !ok {
		p.t.Errorf("a daemon's Run did not return within %v of its Close", testutil.Wait)
	}
	p.cancel = nil
}

// region is a whole region in this process, each daemon with its own QUIC socket and pebble.
type region struct {
	t      *testing.T
	dir    string
	boot   *proc
	bootA  wire.NodeAddr
	idx    *proc
	idxCfg indexer.Config
	miners []*proc
	mcfgs  []miner.Config
	mu     sync.Mutex
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("PPSTORE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func newRegion(t *testing.T, miners int) *region {
	t.Helper()
	return newRegionWith(t, miners, nil)
}

// newRegionWith is newRegion with each daemon's config passed through mod
// (*indexer.Config, *miner.Config) before it starts.
func newRegionWith(t *testing.T, miners int, mod func(cfg any)) *region {
	t.Helper()
	if mod == nil {
		mod = func(any) {}
	}
	r := &region{t: t, dir: t.TempDir()}
	bcfg := bootstrap.Config{DataDir: filepath.Join(r.dir, "bootstrap"), Region: "test", Listen: "127.0.0.1:0"}
	bcfg.EnsureDefaults()
	b, err := bootstrap.New(bcfg, testLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	r.boot, r.bootA = startProc(t, b), b.Addr()
	seed := []string{config.FormatPeerAddr(r.bootA)}

	r.idxCfg = indexer.Config{DataDir: filepath.Join(r.dir, "indexer"), Region: "test", Listen: "127.0.0.1:0", Bootstrap: seed, RefreshInterval: 200 * time.Millisecond}
	mod(&r.idxCfg)
	r.idxCfg.EnsureDefaults()
	r.startIndexer()
	for i := 0; i < miners; i++ {
		mc := miner.Config{DataDir: filepath.Join(r.dir, fmt.Sprintf("miner-%d", i)), Region: "test", Listen: "127.0.0.1:0", Bootstrap: seed, Capacity: 1 << 30}
		mod(&mc)
		mc.EnsureDefaults()
		r.mcfgs = append(r.mcfgs, mc)
		r.miners = append(r.miners, nil)
		r.startMiner(i)
	}
	t.Cleanup(r.close)
	r.waitReady(miners)
	return r
}

func (r *region) startIndexer() {
	r.t.Helper()
	ix, err := indexer.New(r.idxCfg, testLogger(r.t), prometheus.NewRegistry())
	if err != nil {
		r.t.Fatal(err)
	}
	r.idx = startProc(r.t, ix)
	r.idxCfg.Listen = ix.Addr().Addr // a restart comes back on the same port
}

func (r *region) startMiner(i int) {
	r.t.Helper()
	m, err := miner.New(r.mcfgs[i], testLogger(r.t), prometheus.NewRegistry())
	if err != nil {
		r.t.Fatal(err)
	}
	r.miners[i] = startProc(r.t, m)
	r.mcfgs[i].Listen = m.Addr().Addr
}

func (r *region) close() {
	for _, m := range r.miners {
		m.stop()
	}
	r.idx.stop()
	r.boot.stop()
}

// waitReady polls until the indexer can place shards on n miners.
func (r *region) waitReady(n int) {
	r.t.Helper()
	key, _ := identity.Generate()
	node, err := transport.Listen(transport.Config{Key: key})
	if err != nil {
		r.t.Fatal(err)
	}
	defer node.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ix := r.idx.svc.(*indexer.Peer)
		_ = ix.RefreshMiners(context.Background())
		var pl wire.Placement
		err := node.Call(context.Background(), ix.Addr(), &wire.Place{Replicas: uint8(n), ShardSize: 1, Count: 1}, &pl)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("region not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *region) client() *user.Client {
	r.t.Helper()
	c, err := user.New(context.Background(), user.Config{
		DataDir:   filepath.Join(r.dir, "client"),
		Bootstrap: []string{config.FormatPeerAddr(r.bootA)},
		Listen:    "127.0.0.1:0",
		Timeout:   user.Duration(5 * time.Second),
	}, testLogger(r.t))
	if err != nil {
		r.t.Fatal(err)
	}
	return c
}

func (r *region) minerIndex(peer string) int {
	for i, m := range r.miners {
		if m != nil && m.svc.Addr().Peer.String() == peer {
			return i
		}
	}
	return -1
}
