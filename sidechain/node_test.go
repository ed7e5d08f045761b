package sidechain

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	cmttypes "github.com/cometbft/cometbft/types"
)

// testConsensus is a consensus config for a network on loopback: short
// timeouts (they grow by their delta each round, so a loaded machine only
// costs rounds) and no empty blocks, so an idle test network uses no CPU.
func testConsensus() *cmtcfg.ConsensusConfig {
	c := cmtcfg.DefaultConsensusConfig()
	c.TimeoutPropose = 300 * time.Millisecond
	c.TimeoutProposeDelta = 100 * time.Millisecond
	c.TimeoutPrevote = 100 * time.Millisecond
	c.TimeoutPrevoteDelta = 100 * time.Millisecond
	c.TimeoutPrecommit = 100 * time.Millisecond
	c.TimeoutPrecommitDelta = 100 * time.Millisecond
	c.TimeoutCommit = 20 * time.Millisecond
	c.CreateEmptyBlocks = false
	c.PeerGossipSleepDuration = 10 * time.Millisecond
	c.PeerQueryMaj23SleepDuration = 200 * time.Millisecond
	return c
}

// freeAddrs returns n distinct free TCP addresses on 127.0.0.1.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}

// testNet is n validators of one chain in this process, on loopback.
type testNet struct {
	t     *testing.T
	cfgs  []NodeConfig
	nodes []*Node
	doc   *cmttypes.GenesisDoc
}

func newTestNet(t *testing.T, n int) *testNet {
	base := t.TempDir()
	addrs := freeAddrs(t, n)
	tn := &testNet{t: t, cfgs: make([]NodeConfig, n), nodes: make([]*Node, n)}
	var vals []GenesisValidator
	var ids []string
	for i := range n {
		home := filepath.Join(base, fmt.Sprintf("v%d", i))
		info, err := InitHome(home, fmt.Sprintf("v%d", i))
		if err != nil {
			t.Fatal(err)
		}
		vals = append(vals, GenesisValidator{Name: info.Name, PubKey: info.PubKey})
		ids = append(ids, info.NodeID+"@"+addrs[i])
		tn.cfgs[i] = NodeConfig{Home: home, P2PListen: addrs[i], Consensus: testConsensus(), Verifier: fakeVerifier}
	}
	doc, err := NewGenesis("ppstore-test", vals, testGenesis())
	if err != nil {
		t.Fatal(err)
	}
	tn.doc = doc
	for i := range n {
		if err := WriteGenesis(tn.cfgs[i].Home, doc); err != nil {
			t.Fatal(err)
		}
		for j := range n {
			if j != i {
				tn.cfgs[i].Peers = append(tn.cfgs[i].Peers, ids[j])
			}
		}
	}
	t.Cleanup(func() {
		for i, nd := range tn.nodes {
			if nd != nil {
				if err := nd.Close(); err != nil {
					t.Errorf("close v%d: %v", i, err)
				}
			}
		}
	})
	return tn
}

func (tn *testNet) start(i int) *Node {
	tn.t.Helper()
	nd, err := NewNode(tn.cfgs[i], testLogger(tn.t).With("node", i), nil)
	if err != nil {
		tn.t.Fatalf("v%d: %v", i, err)
	}
	if err := nd.Start(); err != nil {
		nd.Close()
		tn.t.Fatalf("v%d: %v", i, err)
	}
	tn.nodes[i] = nd
	return nd
}

func (tn *testNet) stop(i int) {
	tn.t.Helper()
	if err := tn.nodes[i].Close(); err != nil {
		tn.t.Fatalf("stop v%d: %v", i, err)
	}
	tn.nodes[i] = nil
}

// waitRoots waits until every running node committed height h and checks
// that they hold the same regions, then returns them.
func (tn *testNet) waitRoots(ctx context.Context, h int64) []RegionRoot {
	tn.t.Helper()
	var first []RegionRoot
	for i, nd := range tn.nodes {
		if nd == nil {
			continue
		}
		if err := nd.WaitHeight(ctx, h); err != nil {
			tn.t.Fatal(err)
		}
		// Heights beyond h are empty proof blocks: the roots are those of h.
		rs, _ := nd.App().Roots()
		if first == nil {
			first = rs
		} else if !slices.Equal(rs, first) {
			tn.t.Fatalf("v%d disagrees:\n%+v\nv0:\n%+v", i, rs, first)
		}
	}
	return first
}

func submit(ctx context.Context, t *testing.T, c *Client, b *Batch) int64 {
	t.Helper()
	h, err := c.SubmitBatch(ctx, b.Region, b.PrevRoot, b.NewRoot, b.TxData, b.Proof)
	if err != nil {
		t.Fatalf("submit %s: %v", b, err)
	}
	return h
}

func find(rs []RegionRoot, name string) RegionRoot {
	for _, r := range rs {
		if r.Region == name {
			return r
		}
	}
	return RegionRoot{}
}

// Four validators agree on the roots; one of them is stopped while the
// others accept batches, restarted from its directory, catches up and
// agrees, and then takes part again.
func TestFourValidatorsAgreeAfterRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	tn := newTestNet(t, 4)
	for i := range 4 {
		tn.start(i)
	}
	tn.waitRoots(ctx, 1)

	h1 := submit(ctx, t, tn.nodes[0].Client(), batch("north", root("north/0"), root("north/1"), "b1"))
	rs := tn.waitRoots(ctx, h1)
	if r := find(rs, "north"); r.Root != root("north/1") || r.Batches != 1 || r.Height != h1 {
		t.Fatalf("north after b1 = %+v", r)
	}
	got, _, err := tn.nodes[2].Client().Root(ctx, "north")
	if err != nil || got != root("north/1") {
		t.Fatalf("v2 light-client root = %x, %v", got, err)
	}

	tn.stop(3)
	tn.submitAll(ctx, 1, batch("north", root("north/1"), root("north/2"), "b2"), batch("south", root("south/0"), root("south/1"), "s1"))
	h2 := tn.nodes[1].Height()
	rs = tn.waitRoots(ctx, h2)

	v3 := tn.start(3)
	if err := v3.WaitHeight(ctx, h2); err != nil {
		t.Fatal(err)
	}
	rs3, _ := v3.App().Roots()
	if !slices.Equal(rs3, rs) {
		t.Fatalf("restarted v3 disagrees:\n%+v\nothers:\n%+v", rs3, rs)
	}
	if r := find(rs3, "north"); r.Root != root("north/2") || r.Batches != 2 {
		t.Fatalf("v3 north = %+v", r)
	}
	// v3 takes part again: a batch submitted through it reaches everyone.
	h3 := submit(ctx, t, v3.Client(), batch("north", root("north/2"), root("north/3"), "b3"))
	rs = tn.waitRoots(ctx, h3)
	if r := find(rs, "north"); r.Root != root("north/3") || r.Batches != 3 {
		t.Fatalf("north after b3 = %+v", r)
	}
}

// submitAll submits batches through node i one after the other.
func (tn *testNet) submitAll(ctx context.Context, i int, bs ...*Batch) {
	for _, b := range bs {
		submit(ctx, tn.t, tn.nodes[i].Client(), b)
	}
}

// A single validator (the devnet's) keeps its roots across a restart, and
// its RPC serves light clients that refuse anything the chain did not sign.
func TestSingleNodeRestartKeepsRoots(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	home := filepath.Join(t.TempDir(), "sidechain")
	if err := InitSingle(home, "ppstore-devnet", testGenesis()); err != nil {
		t.Fatal(err)
	}
	addrs := freeAddrs(t, 2)
	cfg := NodeConfig{Home: home, P2PListen: addrs[0], RPCListen: addrs[1], Consensus: testConsensus(), Verifier: fakeVerifier}
	open := func() *Node {
		nd, err := NewNode(cfg, testLogger(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := nd.Start(); err != nil {
			nd.Close()
			t.Fatal(err)
		}
		return nd
	}
	nd := open()
	c := nd.Client()
	submit(ctx, t, c, batch("north", root("north/0"), root("north/1"), "b1"))
	submit(ctx, t, c, batch("north", root("north/1"), root("north/2"), "b2"))
	before, _ := nd.App().Roots()
	if err := nd.Close(); err != nil {
		t.Fatal(err)
	}
	// InitSingle on an initialised home keeps its chain.
	if err := InitSingle(home, "ppstore-devnet", testGenesis()); err != nil {
		t.Fatal(err)
	}
	nd = open()
	defer func() { nd.Close() }()
	after, _ := nd.App().Roots()
	if !slices.Equal(before, after) {
		t.Fatalf("roots before restart %+v, after %+v", before, after)
	}

	trust, err := TrustFromGenesisFile(filepath.Join(home, "config", "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := Dial(addrs[1], trust)
	if err != nil {
		t.Fatal(err)
	}
	got, h, err := rc.Root(ctx, "north")
	if err != nil || got != root("north/2") {
		t.Fatalf("root over RPC after restart = %x at %d, %v", got, h, err)
	}
	// The restarted chain goes on from the kept root.
	if _, err := rc.SubmitBatch(ctx, "north", root("north/2"), root("north/3"), []byte("north:b3"), fakeProof([]byte("vk-north"), root("north/2"), root("north/3"), []byte("north:b3"))); err != nil {
		t.Fatalf("batch after restart: %v", err)
	}

	t.Run("refused batches", func(t *testing.T) {
		n3 := root("north/3")
		for _, tc := range []struct {
			name string
			b    *Batch
			want error
		}{
			{"forged proof", &Batch{Region: "north", PrevRoot: n3, NewRoot: root("x"), TxData: []byte("north:d"), Proof: []byte("forged")}, ErrBadProof},
			{"wrong previous root", batch("north", root("north/1"), root("x"), "d"), ErrWrongPrevRoot},
			{"unknown region", batch("west", n3, root("x"), "d"), ErrUnknownRegion},
			{"bad region name", &Batch{Region: "no/slash", PrevRoot: n3, Proof: []byte("p")}, ErrMalformed},
		} {
			_, err := rc.SubmitBatch(ctx, tc.b.Region, tc.b.PrevRoot, tc.b.NewRoot, tc.b.TxData, tc.b.Proof)
			if !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			}
		}
		if got, _, _ := rc.Root(ctx, "north"); got != n3 {
			t.Fatalf("north moved to %x", got)
		}
	})

	t.Run("light client refuses roots the chain did not sign", func(t *testing.T) {
		p, err := rc.RootProof(ctx, "north")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Verify(trust); err != nil {
			t.Fatalf("genuine proof: %v", err)
		}
		other := func(f func(p *RootProof)) *RootProof {
			q, err := rc.RootProof(ctx, "north")
			if err != nil {
				t.Fatal(err)
			}
			f(q)
			return q
		}
		// Another chain's validators: a fresh key set with the same chain ID.
		ov, err := InitHome(filepath.Join(t.TempDir(), "other"), "other")
		if err != nil {
			t.Fatal(err)
		}
		odoc, err := NewGenesis("ppstore-devnet", []GenesisValidator{{Name: "other", PubKey: ov.PubKey}}, testGenesis())
		if err != nil {
			t.Fatal(err)
		}
		otrust, _ := TrustFromGenesis(odoc)
		for name, tc := range map[string]struct {
			p     *RootProof
			trust *Trust
		}{
			"root the chain never accepted": {other(func(q *RootProof) {
				rr, _ := DecodeLeaf(q.Leaf)
				rr.Root = root("north/forged")
				q.Leaf = rr.AppendLeaf(nil)
			}), trust},
			"other region's leaf": {other(func(q *RootProof) { q.Region = "south" }), trust},
			"app hash swapped in the header": {other(func(q *RootProof) {
				h := *q.Header.Header
				h.AppHash = make([]byte, 32)
				q.Header.Header = &h
			}), trust},
			"commit without signatures": {other(func(q *RootProof) {
				cm := *q.Header.Commit
				cm.Signatures = slices.Clone(cm.Signatures)
				for i := range cm.Signatures {
					cm.Signatures[i] = cmttypes.NewCommitSigAbsent()
				}
				q.Header.Commit = &cm
			}), trust},
			"other validator set":   {p, otrust},
			"no trust":              {p, nil},
			"wrong chain":           {p, &Trust{ChainID: "another", Validators: trust.Validators}},
			"header of older state": {other(func(q *RootProof) { q.Height += 5 }), trust},
		} {
			if _, err := tc.p.Verify(tc.trust); !errors.Is(err, ErrNotAccepted) {
				t.Errorf("%s: %v, want ErrNotAccepted", name, err)
			} else {
				t.Logf("%s: %v", name, err)
			}
		}
	})
}
