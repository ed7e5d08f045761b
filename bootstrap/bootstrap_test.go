package bootstrap

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ppstore/ppstore/config"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/internal/testutil"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
)

func TestRegisterAndList(t *testing.T) {
	clk := newClock()
	bs := startPeer(t, clk, Config{})
	ctx := context.Background()

	var pong wire.Pong
	cli := newClient(t, nil)
	if err := call(ctx, cli, bs.Addr(), &wire.Ping{Nonce: 9}, &pong); err != nil || pong.Role != wire.RoleBootstrap || pong.Nonce != 9 {
		t.Fatalf("ping: %+v, %v", pong, err)
	}

	type node struct {
		key *identity.Key
		cli *transport.Node
		rec wire.NodeRecord
	}
	var nodes []node
	for _, role := range []wire.Role{wire.RoleMiner, wire.RoleIndexer, wire.RoleMiner, wire.RoleVerifier, wire.RoleMiner} {
		k := newKey(t)
		n := node{key: k, cli: newClient(t, k), rec: record(k, clk, role, 1, time.Minute)}
		ack, err := register(t, n.cli, bs.Addr(), n.rec)
		if err != nil {
			t.Fatal(err)
		}
		if ack.Expires != n.rec.Expires {
			t.Fatalf("Registered.Expires = %d, want %d", ack.Expires, n.rec.Expires)
		}
		nodes = append(nodes, n)
	}

	// All roles: sorted by role, then by peer ID bytes.
	all := list(t, cli, bs.Addr(), 0)
	if len(all) != len(nodes) {
		t.Fatalf("list all: %d records, want %d", len(all), len(nodes))
	}
	sorted := slices.IsSortedFunc(all, func(a, b wire.NodeRecord) int {
		if a.Role != b.Role {
			return int(a.Role) - int(b.Role)
		}
		return bytes.Compare(a.Peer.Bytes(), b.Peer.Bytes())
	})
	if !sorted {
		t.Fatalf("list all not sorted by role then peer: %v", peersOf(all))
	}
	for i := range all {
		if err := all[i].Verify(clk.Now()); err != nil {
			t.Fatalf("served record does not verify: %v", err)
		}
	}

	// One role: only its records, exactly as signed.
	miners := list(t, cli, bs.Addr(), wire.RoleMiner)
	if len(miners) != 3 {
		t.Fatalf("list miners: %d records, want 3", len(miners))
	}
	for _, n := range nodes {
		if n.rec.Role != wire.RoleMiner {
			continue
		}
		i := slices.IndexFunc(miners, func(r wire.NodeRecord) bool { return r.Peer == n.key.ID() })
		if i < 0 {
			t.Fatalf("miner %v not listed", n.key.ID())
		}
		got := miners[i]
		if got.Free != n.rec.Free || got.Capacity != n.rec.Capacity || !slices.Equal(got.Addrs, n.rec.Addrs) || got.Seq != 1 || !bytes.Equal(got.Sig, n.rec.Sig) {
			t.Fatalf("listed %+v, registered %+v", got, n.rec)
		}
	}
	if got := list(t, cli, bs.Addr(), wire.RoleZkStore); len(got) != 0 {
		t.Fatalf("list zkstore: %d records, want 0", len(got))
	}
	if got := metric(t, bs.reg, "ppstore_bootstrap_records", map[string]string{"role": "miner"}); got != 3 {
		t.Fatalf("records{miner} = %v, want 3", got)
	}
	if got := metric(t, bs.reg, "ppstore_bootstrap_registrations_total", map[string]string{"role": "indexer"}); got != 1 {
		t.Fatalf("registrations{indexer} = %v, want 1", got)
	}
}

func TestRegisterOtherPeersRecordRefused(t *testing.T) {
	clk := newClock()
	bs := startPeer(t, clk, Config{})
	a, b := newKey(t), newKey(t)
	rec := record(a, clk, wire.RoleMiner, 1, time.Minute) // validly signed by A
	_, err := register(t, newClient(t, b), bs.Addr(), rec)
	if !errors.Is(err, wire.ErrUnauthorized) {
		t.Fatalf("A's record sent by B: %v, want unauthorized", err)
	}
	if got := list(t, newClient(t, nil), bs.Addr(), 0); len(got) != 0 {
		t.Fatalf("refused record listed: %v", peersOf(got))
	}
	if got := metric(t, bs.reg, "ppstore_bootstrap_rejections_total", map[string]string{"source": "register", "reason": reasonNotSender}); got != 1 {
		t.Fatalf("rejections{not_sender} = %v, want 1", got)
	}
	// A itself may register it.
	mustRegister(t, newClient(t, a), bs.Addr(), rec)
}

func TestTamperedRecordRefused(t *testing.T) {
	clk := newClock()
	bs := startPeer(t, clk, Config{})
	k := newKey(t)
	cli := newClient(t, k)
	tamper := map[string]func(r *wire.NodeRecord){
		"addrs":     func(r *wire.NodeRecord) { r.Addrs = []string{"10.6.6.6:4001"} },
		"free":      func(r *wire.NodeRecord) { r.Free = r.Capacity },
		"expires":   func(r *wire.NodeRecord) { r.Expires += 30 },
		"sig bit":   func(r *wire.NodeRecord) { r.Sig = bytes.Clone(r.Sig); r.Sig[5] ^= 1 },
		"no sig":    func(r *wire.NodeRecord) { r.Sig = nil },
		"short sig": func(r *wire.NodeRecord) { r.Sig = r.Sig[:10] },
	}
	for name, f := range tamper {
		rec := record(k, clk, wire.RoleMiner, 1, time.Minute)
		f(&rec)
		if _, err := register(t, cli, bs.Addr(), rec); !errors.Is(err, wire.ErrUnauthorized) {
			t.Errorf("%s: %v, want unauthorized", name, err)
		}
	}
	if got := list(t, cli, bs.Addr(), 0); len(got) != 0 {
		t.Fatalf("tampered records listed: %v", peersOf(got))
	}
	if got := metric(t, bs.reg, "ppstore_bootstrap_rejections_total", map[string]string{"reason": reasonSignature}); got != float64(len(tamper)) {
		t.Fatalf("rejections{signature} = %v, want %d", got, len(tamper))
	}
}

func TestReplayRefusedNewerReplaces(t *testing.T) {
	clk := newClock()
	bs := startPeer(t, clk, Config{})
	k := newKey(t)
	cli := newClient(t, k)
	old := record(k, clk, wire.RoleMiner, 5, time.Minute, "127.0.0.1:1000")
	mustRegister(t, cli, bs.Addr(), old)

	for _, rec := range []wire.NodeRecord{old, record(k, clk, wire.RoleMiner, 4, 2*time.Minute, "127.0.0.1:666")} {
		if _, err := register(t, cli, bs.Addr(), rec); !errors.Is(err, wire.ErrConflict) {
			t.Fatalf("seq %d after seq 5: %v, want conflict", rec.Seq, err)
		}
	}
	newer := record(k, clk, wire.RoleMiner, 6, time.Minute, "127.0.0.1:2000")
	mustRegister(t, cli, bs.Addr(), newer)
	got := list(t, cli, bs.Addr(), 0)
	if len(got) != 1 || got[0].Seq != 6 || got[0].Addrs[0] != "127.0.0.1:2000" {
		t.Fatalf("after refresh: %+v", got)
	}
	if got := metric(t, bs.reg, "ppstore_bootstrap_rejections_total", map[string]string{"reason": reasonReplay}); got != 2 {
		t.Fatalf("rejections{replay} = %v, want 2", got)
	}
}

func TestInvalidRecordsRefused(t *testing.T) {
	clk := newClock()
	bs := startPeer(t, clk, Config{MaxTTL: Duration(5 * time.Minute)})
	k := newKey(t)
	cli := newClient(t, k)
	cases := []struct {
		name   string
		edit   func(r *wire.NodeRecord)
		reason string
	}{
		{"ttl past max_ttl", func(r *wire.NodeRecord) { r.Expires = uint64(clk.Now().Add(7 * time.Minute).Unix()) }, reasonTTL},
		{"expired", func(r *wire.NodeRecord) { r.Expires = uint64(clk.Now().Unix()) }, reasonExpired},
		{"wrong region", func(r *wire.NodeRecord) { r.Region = "elsewhere" }, reasonRegion},
		{"no region", func(r *wire.NodeRecord) { r.Region = "" }, reasonRegion},
		{"role 0", func(r *wire.NodeRecord) { r.Role = 0 }, reasonRole},
		{"role 200", func(r *wire.NodeRecord) { r.Role = 200 }, reasonRole},
		{"addr not host:port", func(r *wire.NodeRecord) { r.Addrs = []string{"localhost"} }, reasonInvalid},
		{"too many addrs", func(r *wire.NodeRecord) { r.Addrs = slices.Repeat([]string{"127.0.0.1:1"}, maxAddrs+1) }, reasonInvalid},
		{"addr too long", func(r *wire.NodeRecord) { r.Addrs = []string{string(bytes.Repeat([]byte("a"), maxAddrLen)) + ":1"} }, reasonInvalid},
		{"free above capacity", func(r *wire.NodeRecord) { r.Free = r.Capacity + 1 }, reasonInvalid},
	}
	for i, c := range cases {
		rec := record(k, clk, wire.RoleMiner, uint64(i+1), time.Minute)
		c.edit(&rec)
		rec.Sign(k)
		_, err := register(t, cli, bs.Addr(), rec)
		if !errors.Is(err, wire.ErrBadRequest) {
			t.Errorf("%s: %v, want bad request", c.name, err)
		}
		if got := metric(t, bs.reg, "ppstore_bootstrap_rejections_total", map[string]string{"source": "register", "reason": c.reason}); got == 0 {
			t.Errorf("%s: no rejection counted under %q", c.name, c.reason)
		}
	}
	var we *wire.Error
	_, err := register(t, cli, bs.Addr(), record(k, clk, wire.RoleMiner, 100, time.Hour))
	if !errors.As(err, &we) || !bytes.Contains([]byte(we.Message), []byte("max_ttl of 5m0s")) {
		t.Fatalf("ttl error should name the limit: %v", err)
	}
	if got := list(t, cli, bs.Addr(), 0); len(got) != 0 {
		t.Fatalf("invalid records listed: %+v", got)
	}
	// At the limit it is accepted.
	mustRegister(t, cli, bs.Addr(), record(k, clk, wire.RoleMiner, 101, 5*time.Minute))
}

func TestExpiryWithoutSleeping(t *testing.T) {
	clk := newClock()
	bs := startPeer(t, clk, Config{})
	cli := newClient(t, nil)
	short, long := newKey(t), newKey(t)
	mustRegister(t, newClient(t, short), bs.Addr(), record(short, clk, wire.RoleMiner, 1, time.Minute))
	mustRegister(t, newClient(t, long), bs.Addr(), record(long, clk, wire.RoleIndexer, 1, 4*time.Minute))

	clk.Advance(59 * time.Second)
	if got := list(t, cli, bs.Addr(), 0); len(got) != 2 {
		t.Fatalf("before expiry: %d records, want 2", len(got))
	}
	clk.Advance(time.Second)
	if got := list(t, cli, bs.Addr(), 0); len(got) != 1 || got[0].Peer != long.ID() {
		t.Fatalf("after the miner's expiry: %v, want only the indexer", peersOf(got))
	}
	if got := metric(t, bs.reg, "ppstore_bootstrap_records", map[string]string{"role": "miner"}); got != 0 {
		t.Fatalf("records{miner} = %v after expiry, want 0", got)
	}
	if err := bs.Sweeper.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := bs.table.len(); n != 1 {
		t.Fatalf("after sweep the table holds %d entries, want 1", n)
	}
	clk.Advance(4 * time.Minute)
	if got := list(t, cli, bs.Addr(), 0); len(got) != 0 {
		t.Fatalf("after all expired: %v", peersOf(got))
	}
	bs.Sweeper.RunOnce(context.Background())
	if n := bs.table.len(); n != 0 {
		t.Fatalf("after sweep the table holds %d entries, want 0", n)
	}
}

// A node that shortens its ttl must not let its older, longer-lived record be
// replayed once the newer one has expired.
func TestReplayAfterNewerRecordExpired(t *testing.T) {
	clk := newClock()
	bs := startPeer(t, clk, Config{})
	k := newKey(t)
	cli := newClient(t, k)
	old := record(k, clk, wire.RoleMiner, 1, 5*time.Minute, "127.0.0.1:1111")
	mustRegister(t, cli, bs.Addr(), old)
	mustRegister(t, cli, bs.Addr(), record(k, clk, wire.RoleMiner, 2, time.Minute, "127.0.0.1:2222"))
	clk.Advance(2 * time.Minute)
	bs.Sweeper.RunOnce(context.Background())
	if _, err := register(t, cli, bs.Addr(), old); !errors.Is(err, wire.ErrConflict) {
		t.Fatalf("replay of seq 1 after seq 2 expired: %v, want conflict", err)
	}
	if got := list(t, cli, bs.Addr(), 0); len(got) != 0 {
		t.Fatalf("replayed record listed: %+v", got)
	}
	mustRegister(t, cli, bs.Addr(), record(k, clk, wire.RoleMiner, 3, time.Minute))
}

func TestTableFull(t *testing.T) {
	clk := newClock()
	bs := startPeer(t, clk, Config{MaxRecords: 2})
	keys := []*identity.Key{newKey(t), newKey(t), newKey(t)}
	mustRegister(t, newClient(t, keys[0]), bs.Addr(), record(keys[0], clk, wire.RoleMiner, 1, time.Minute))
	mustRegister(t, newClient(t, keys[1]), bs.Addr(), record(keys[1], clk, wire.RoleMiner, 1, 2*time.Minute))
	c2 := newClient(t, keys[2])
	if _, err := register(t, c2, bs.Addr(), record(keys[2], clk, wire.RoleMiner, 1, time.Minute)); !errors.Is(err, wire.ErrUnavailable) {
		t.Fatalf("third peer in a table of 2: %v, want unavailable", err)
	}
	// Known peers still refresh.
	mustRegister(t, newClient(t, keys[1]), bs.Addr(), record(keys[1], clk, wire.RoleMiner, 2, 2*time.Minute))
	// Once a record expires there is room again.
	clk.Advance(time.Minute)
	mustRegister(t, c2, bs.Addr(), record(keys[2], clk, wire.RoleMiner, 2, time.Minute))
}

func TestSeedSync(t *testing.T) {
	clk := newClock()
	a := startPeer(t, clk, Config{})
	b := startPeer(t, clk, Config{Seeds: []string{config.FormatPeerAddr(a.Addr())}})
	cli := newClient(t, nil)
	k := newKey(t)
	node := newClient(t, k)
	mustRegister(t, node, a.Addr(), record(k, clk, wire.RoleMiner, 1, time.Minute, "127.0.0.1:1000"))
	if got := list(t, cli, b.Addr(), 0); len(got) != 0 {
		t.Fatalf("B before sync: %v", peersOf(got))
	}
	ctx := context.Background()
	if err := b.Syncer.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	got := list(t, cli, b.Addr(), wire.RoleMiner)
	if len(got) != 1 || got[0].Peer != k.ID() || got[0].Addrs[0] != "127.0.0.1:1000" {
		t.Fatalf("B after sync: %+v", got)
	}
	// A refresh at A reaches B; a second sync of the same records changes nothing.
	mustRegister(t, node, a.Addr(), record(k, clk, wire.RoleMiner, 2, time.Minute, "127.0.0.1:2000"))
	for range 2 {
		if err := b.Syncer.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got = list(t, cli, b.Addr(), 0)
	if len(got) != 1 || got[0].Seq != 2 || got[0].Addrs[0] != "127.0.0.1:2000" {
		t.Fatalf("B after refresh and sync: %+v", got)
	}
	if n := metric(t, b.reg, "ppstore_bootstrap_sync_merged_total", nil); n != 2 {
		t.Fatalf("sync_merged = %v, want 2", n)
	}
	// Once expired at A it is gone from B too (B checks its own clock).
	clk.Advance(time.Minute)
	if got := list(t, cli, b.Addr(), 0); len(got) != 0 {
		t.Fatalf("B after expiry: %v", peersOf(got))
	}
}

// maliciousSeed serves whatever records it is given, filtered by role.
func maliciousSeed(t *testing.T, recs []wire.NodeRecord) *transport.Node {
	t.Helper()
	n := newClient(t, nil)
	n.Handle(wire.TypeListNodes, transport.Unary(func(_ context.Context, _ identity.PeerID, req *wire.ListNodes) (wire.Message, error) {
		var out []wire.NodeRecord
		for _, r := range recs {
			if req.Role == 0 || r.Role == req.Role {
				out = append(out, r)
			}
		}
		return &wire.NodeList{Records: out}, nil
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx) }()
	t.Cleanup(func() { cancel(); testutil.RecvWithin(t, done, testutil.Wait, "Serve to return") })
	return n
}

func TestSyncDropsForgedRecords(t *testing.T) {
	clk := newClock()
	good, victim, forger, stale := newKey(t), newKey(t), newKey(t), newKey(t)

	tampered := record(victim, clk, wire.RoleMiner, 50, time.Minute)
	tampered.Addrs = []string{"10.6.6.6:4001"}
	forged := record(forger, clk, wire.RoleIndexer, 50, time.Minute)
	forged.Peer = victim.ID() // signed by the forger, claimed as the victim's
	expired := record(newKey(t), clk, wire.RoleMiner, 1, -time.Second)
	ko := newKey(t)
	otherRegion := record(ko, clk, wire.RoleMiner, 1, time.Minute)
	otherRegion.Region = "elsewhere"
	otherRegion.Sign(ko) // validly signed, for another region
	tooLong := record(newKey(t), clk, wire.RoleVerifier, 1, time.Hour)
	downgrade := record(stale, clk, wire.RoleMiner, 3, time.Minute, "127.0.0.1:3")

	seed := maliciousSeed(t, []wire.NodeRecord{
		record(good, clk, wire.RoleMiner, 1, time.Minute),
		tampered, forged, expired, otherRegion, tooLong, downgrade,
	})
	b := startPeer(t, clk, Config{Seeds: []string{config.FormatPeerAddr(seed.Self())}})
	// B already knows a newer record of `stale` and of the victim.
	mustRegister(t, newClient(t, stale), b.Addr(), record(stale, clk, wire.RoleMiner, 10, time.Minute, "127.0.0.1:10"))
	mustRegister(t, newClient(t, victim), b.Addr(), record(victim, clk, wire.RoleMiner, 1, time.Minute, "127.0.0.1:11"))

	if err := b.Syncer.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := list(t, newClient(t, nil), b.Addr(), 0)
	want := map[identity.PeerID]string{good.ID(): "127.0.0.1:4001", stale.ID(): "127.0.0.1:10", victim.ID(): "127.0.0.1:11"}
	if len(got) != len(want) {
		t.Fatalf("B after sync: %+v, want %d records", got, len(want))
	}
	for _, r := range got {
		if want[r.Peer] != r.Addrs[0] {
			t.Fatalf("B serves %v at %v, want %v", r.Peer, r.Addrs, want[r.Peer])
		}
	}
	for reason, n := range map[string]float64{reasonSignature: 2, reasonExpired: 1, reasonRegion: 1, reasonTTL: 1} {
		if got := metric(t, b.reg, "ppstore_bootstrap_rejections_total", map[string]string{"source": "sync", "reason": reason}); got != n {
			t.Errorf("sync rejections{%s} = %v, want %v", reason, got, n)
		}
	}
}

func TestSyncSeedFailures(t *testing.T) {
	clk := newClock()
	a := startPeer(t, clk, Config{})
	impostor := wire.NodeAddr{Peer: newKey(t).ID(), Addr: a.Addr().Addr} // A answers with another key
	b := startPeer(t, clk, Config{Seeds: []string{config.FormatPeerAddr(impostor), config.FormatPeerAddr(a.Addr())}})
	k := newKey(t)
	mustRegister(t, newClient(t, k), a.Addr(), record(k, clk, wire.RoleMiner, 1, time.Minute))
	err := b.Syncer.RunOnce(context.Background())
	if !errors.Is(err, transport.ErrUnreachable) {
		t.Fatalf("sync with an impostor seed: %v, want unreachable", err)
	}
	// The good seed was still pulled.
	if got := list(t, newClient(t, nil), b.Addr(), 0); len(got) != 1 {
		t.Fatalf("B after a partly failed sync: %d records, want 1", len(got))
	}
	if n := metric(t, b.reg, "ppstore_bootstrap_sync_errors_total", nil); n != 1 {
		t.Fatalf("sync_errors = %v, want 1", n)
	}
}

func TestBadRequestsDoNotStopServer(t *testing.T) {
	clk := newClock()
	bs := startPeer(t, clk, Config{})
	cli := newClient(t, nil)
	ctx := context.Background()
	var loc wire.Location
	if err := call(ctx, cli, bs.Addr(), &wire.Locate{}, &loc); !errors.Is(err, wire.ErrBadRequest) {
		t.Fatalf("Locate at a bootstrap: %v, want bad request", err)
	}
	var nl wire.NodeList
	if err := call(ctx, cli, bs.Addr(), &wire.ListNodes{Role: 99}, &nl); !errors.Is(err, wire.ErrBadRequest) {
		t.Fatalf("ListNodes of role 99: %v, want bad request", err)
	}
	for name, c := range rawCases() {
		code := rawRequest(t, bs.Addr().Addr, c.frame)
		if code != c.code {
			t.Errorf("raw %s: answered %v, want %v", name, code, c.code)
		}
	}
	k := newKey(t)
	mustRegister(t, newClient(t, k), bs.Addr(), record(k, clk, wire.RoleMiner, 1, time.Minute))
	if got := list(t, cli, bs.Addr(), 0); len(got) != 1 {
		t.Fatalf("after bad requests: %d records, want 1", len(got))
	}
}

func TestListCapped(t *testing.T) {
	clk := newClock()
	bs := startPeer(t, clk, Config{})
	now := uint64(clk.Now().Unix())
	exp := now + 60
	// Put directly into the table: the limit is about the answer's size.
	for i := range maxListRecords + 100 {
		rec := fakeRecord(i, wire.RoleMiner, exp, 1)
		if err := bs.table.put(&rec, now); err != nil {
			t.Fatal(err)
		}
	}
	got := list(t, newClient(t, nil), bs.Addr(), wire.RoleMiner)
	if len(got) != maxListRecords {
		t.Fatalf("list of %d miners returned %d, want the cap %d", maxListRecords+100, len(got), maxListRecords)
	}
	if n := metric(t, bs.reg, "ppstore_bootstrap_list_truncated_total", nil); n != 1 {
		t.Fatalf("list_truncated = %v, want 1", n)
	}
}

func TestRunSyncsInTheBackground(t *testing.T) {
	clk := newClock()
	a := startPeer(t, clk, Config{})
	b := runPeer(t, clk, Config{Seeds: []string{config.FormatPeerAddr(a.Addr())}, SyncInterval: Duration(100 * time.Millisecond)})
	k := newKey(t)
	mustRegister(t, newClient(t, k), a.Addr(), record(k, clk, wire.RoleMiner, 1, time.Minute))
	cli := newClient(t, nil)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(20 * time.Second); len(list(t, cli, b.Addr(), 0)) == 0; <-tick.C {
		if time.Now().After(deadline) {
			t.Fatal("B's sync chore did not pick up A's record within 20s")
		}
	}
}
