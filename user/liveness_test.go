package user_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/ppstore/ppstore/discover"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/user"
	"github.com/ppstore/ppstore/wire"
)

// minerRecord is a miner's record signed by key, expiring at expires.
func minerRecord(key *identity.Key, expires time.Time) wire.NodeRecord {
	rec := wire.NodeRecord{Role: wire.RoleMiner, Region: "test", Addrs: []string{"127.0.0.1:1"}, Free: 1 << 30, Capacity: 1 << 30,
		Seq: uint64(time.Now().UnixNano()), Expires: uint64(expires.Unix())}
	rec.Sign(key)
	return rec
}

// CheckLive marks a replica live only when the bootstrap lists a current,
// validly signed record of its miner: a stopped miner (no record, or an
// expired one) and a forged record count as not live.
func TestCheckLiveMarksMinersWithoutRecords(t *testing.T) {
	r := newFakeRegion(t, 100<<10)
	keys := map[string]*identity.Key{}
	for _, name := range []string{"running", "alsoRunning", "stopped", "expired", "forged"} {
		k, err := identity.Generate()
		if err != nil {
			t.Fatal(err)
		}
		keys[name] = k
		r.addAddr(wire.NodeAddr{Peer: k.ID(), Addr: "127.0.0.1:1"})
	}
	now := time.Now()
	forged := minerRecord(keys["stopped"], now.Add(time.Minute))
	forged.Peer = keys["forged"].ID() // signed by another key
	recs := []wire.NodeRecord{
		minerRecord(keys["running"], now.Add(time.Minute)),
		minerRecord(keys["alsoRunning"], now.Add(time.Minute)),
		minerRecord(keys["expired"], now.Add(-time.Second)),
		forged,
	}
	boot := startNode(t, wire.TypeListNodes, transport.Unary(func(_ context.Context, _ identity.PeerID, req *wire.ListNodes) (wire.Message, error) {
		if req.Role != wire.RoleMiner {
			t.Errorf("asked for role %v, want miners", req.Role)
		}
		return &wire.NodeList{Records: recs}, nil
	}))
	c := r.client(t, func(cfg *user.Config) { cfg.Bootstrap = []string{boot.Self().Peer.String() + "@" + boot.Self().Addr} })

	ctx := context.Background()
	st, err := c.Stat(ctx, r.file)
	if err != nil {
		t.Fatal(err)
	}
	for _, rep := range st.Shards[0].Replicas {
		if rep.Live != nil || rep.Liveness() != user.LivenessUnknown {
			t.Fatalf("Stat alone set liveness: %+v", rep)
		}
	}
	if err := c.CheckLive(ctx, st); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		keys["running"].ID().String():     user.LiveAtBootstrap,
		keys["alsoRunning"].ID().String(): user.LiveAtBootstrap,
		keys["stopped"].ID().String():     user.Unreachable,
		keys["expired"].ID().String():     user.Unreachable,
		keys["forged"].ID().String():      user.Unreachable,
	}
	for i, s := range st.Shards {
		if len(s.Replicas) != len(want) {
			t.Fatalf("shard %d: %d replicas, want %d", i, len(s.Replicas), len(want))
		}
		for _, rep := range s.Replicas {
			if rep.Live == nil || rep.Liveness() != want[rep.Miner] || *rep.Live != (want[rep.Miner] == user.LiveAtBootstrap) {
				t.Errorf("shard %d, miner %s: live %v (%s), want %s", i, rep.Miner, rep.Live, rep.Liveness(), want[rep.Miner])
			}
			if rep.Status != "stored" {
				t.Errorf("shard %d, miner %s: status %q, want the indexer's \"stored\"", i, rep.Miner, rep.Status)
			}
		}
	}
}

// With no bootstrap answering, CheckLive says so and leaves liveness unknown.
func TestCheckLiveWithoutBootstrap(t *testing.T) {
	r := newFakeRegion(t, 10<<10)
	k, _ := identity.Generate()
	r.addAddr(wire.NodeAddr{Peer: k.ID(), Addr: "127.0.0.1:1"})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := pc.LocalAddr().String()
	pc.Close()
	bk, _ := identity.Generate()
	c := r.client(t, func(cfg *user.Config) { cfg.Bootstrap = []string{bk.ID().String() + "@" + dead} })
	st, err := c.Stat(context.Background(), r.file)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := c.CheckLive(ctx, st); !errors.Is(err, discover.ErrNoBootstrap) {
		t.Fatalf("CheckLive = %v, want ErrNoBootstrap", err)
	}
	if rep := st.Shards[0].Replicas[0]; rep.Live != nil || rep.Liveness() != user.LivenessUnknown {
		t.Fatalf("liveness set without a bootstrap: %+v", rep)
	}
}
