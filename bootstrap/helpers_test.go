package bootstrap

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/internal/testutil"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

const testRegion = "test-region"

// clock is a settable clock shared by the bootstraps of a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type testPeer struct {
	*Peer
	reg *prometheus.Registry
}

// startPeer runs a bootstrap on loopback until the test ends, without its
// chores (the test calls RunOnce). cfg's zero fields get test values.
func startPeer(t *testing.T, clk *clock, cfg Config) testPeer {
	t.Helper()
	cfg.manualChores = true
	return runPeer(t, clk, cfg)
}

// runPeer is startPeer with the chores running.
func runPeer(t *testing.T, clk *clock, cfg Config) testPeer {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Region == "" {
		cfg.Region = testRegion
	}
	cfg.now = clk.Now
	reg := prometheus.NewRegistry()
	p, err := New(cfg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := testutil.RecvWithin(t, done, testutil.Wait, "Run to return"); err != nil {
			t.Errorf("run: %v", err)
		}
		if err := p.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return testPeer{Peer: p, reg: reg}
}

// newClient is a transport node with its own key, used to call bootstraps.
func newClient(t *testing.T, key *identity.Key) *transport.Node {
	t.Helper()
	if key == nil {
		key = newKey(t)
	}
	n, err := transport.Listen(transport.Config{Key: key, RequestTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func newKey(t *testing.T) *identity.Key {
	t.Helper()
	k, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// record returns a record of key signed to expire ttl after clk's now.
func record(key *identity.Key, clk *clock, role wire.Role, seq uint64, ttl time.Duration, addrs ...string) wire.NodeRecord {
	if addrs == nil {
		addrs = []string{"127.0.0.1:4001"}
	}
	r := wire.NodeRecord{Role: role, Region: testRegion, Addrs: addrs, Seq: seq, Expires: uint64(clk.Now().Add(ttl).Unix())}
	if role == wire.RoleMiner {
		r.Free, r.Capacity = 1<<30, 4<<30
	}
	r.Sign(key)
	return r
}

func register(t *testing.T, cli *transport.Node, bs wire.NodeAddr, rec wire.NodeRecord) (wire.Registered, error) {
	t.Helper()
	var ok wire.Registered
	err := call(context.Background(), cli, bs, &wire.Register{Record: rec}, &ok)
	return ok, err
}

func mustRegister(t *testing.T, cli *transport.Node, bs wire.NodeAddr, rec wire.NodeRecord) {
	t.Helper()
	if _, err := register(t, cli, bs, rec); err != nil {
		t.Fatalf("register %v seq %d: %v", rec.Role, rec.Seq, err)
	}
}

func list(t *testing.T, cli *transport.Node, bs wire.NodeAddr, role wire.Role) []wire.NodeRecord {
	t.Helper()
	var nl wire.NodeList
	if err := call(context.Background(), cli, bs, &wire.ListNodes{Role: role}, &nl); err != nil {
		t.Fatalf("list %v: %v", role, err)
	}
	return nl.Records
}

func peersOf(recs []wire.NodeRecord) []identity.PeerID {
	out := make([]identity.PeerID, len(recs))
	for i := range recs {
		out[i] = recs[i].Peer
	}
	return out
}

// metric returns the value of the sample of name whose labels include want
// (0 if there is none).
func metric(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	samples:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if got[k] != v {
					continue samples
				}
			}
			return value(m)
		}
	}
	return 0
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}
