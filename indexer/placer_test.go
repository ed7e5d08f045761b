package indexer

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/wire"
)

const mib = 1 << 20

func placeOK(t *testing.T, p *Placer, req wire.Place) [][]wire.NodeAddr {
	t.Helper()
	pl, err := p.Place(&req)
	if err != nil {
		t.Fatal(err)
	}
	if len(pl.Chains) != int(req.Count) {
		t.Fatalf("%d chains, want %d", len(pl.Chains), req.Count)
	}
	for i, c := range pl.Chains {
		if len(c) != int(req.Replicas) {
			t.Fatalf("chain %d has %d miners, want %d", i, len(c), req.Replicas)
		}
		seen := map[identity.PeerID]bool{}
		for _, a := range c {
			if seen[a.Peer] {
				t.Fatalf("chain %d names %v twice", i, a.Peer.Short())
			}
			seen[a.Peer] = true
			if a.Addr == "" {
				t.Fatalf("chain %d: miner %v without address", i, a.Peer.Short())
			}
		}
	}
	return pl.Chains
}

func TestPlaceDistinctAndSpread(t *testing.T) {
	p := NewPlacer()
	miners := testKeys(0, 10)
	p.Update(minerRecords(miners, 1<<40, 1))
	chains := placeOK(t, p, wire.Place{Replicas: 3, ShardSize: 4 * mib, Count: 10})
	// Ten chains over ten miners: every miner leads exactly one chain, and
	// consecutive chains start at different miners.
	first := map[identity.PeerID]int{}
	load := map[identity.PeerID]int{}
	for i, c := range chains {
		first[c[0].Peer]++
		for _, a := range c {
			load[a.Peer]++
		}
		if i > 0 && c[0].Peer == chains[i-1][0].Peer {
			t.Fatalf("chains %d and %d both start at %v", i-1, i, c[0].Peer.Short())
		}
	}
	if len(first) != 10 {
		t.Fatalf("%d distinct first miners over 10 chains, want 10", len(first))
	}
	for peer, n := range load {
		if n != 3 {
			t.Fatalf("miner %v got %d shards, want 3 (even spread)", peer.Short(), n)
		}
	}
	// The next request continues where the last left off.
	next := placeOK(t, p, wire.Place{Replicas: 1, ShardSize: mib, Count: 1})
	if next[0][0].Peer != chains[0][0].Peer {
		t.Fatalf("after a full turn the cursor is at %v, want %v", next[0][0].Peer.Short(), chains[0][0].Peer.Short())
	}
}

func TestPlaceExclude(t *testing.T) {
	p := NewPlacer()
	miners := testKeys(0, 6)
	p.Update(minerRecords(miners, 1<<40, 1))
	ex := []identity.PeerID{miners[1].ID(), miners[4].ID()}
	chains := placeOK(t, p, wire.Place{Replicas: 4, ShardSize: mib, Count: 20, Exclude: ex})
	for i, c := range chains {
		for _, a := range c {
			if a.Peer == ex[0] || a.Peer == ex[1] {
				t.Fatalf("chain %d names excluded miner %v", i, a.Peer.Short())
			}
		}
	}
	// Excluding one more leaves three: not enough for four replicas.
	_, err := p.Place(&wire.Place{Replicas: 4, ShardSize: mib, Count: 1, Exclude: append(ex, miners[0].ID())})
	if !errors.Is(err, wire.ErrUnavailable) {
		t.Fatalf("error %v, want unavailable", err)
	}
	t.Logf("unavailable message: %v", err)
}

func TestPlaceRespectsFreeSpaceAndReservations(t *testing.T) {
	p := NewPlacer()
	miners := testKeys(0, 4)
	recs := minerRecords(miners, 0, 1)
	recs[0].Free = 3 * mib  // too small for a 4 MiB shard: never chosen
	recs[1].Free = 8 * mib  // room for two shards
	recs[2].Free = 12 * mib // room for three
	recs[3].Free = 4 * mib  // room for one
	p.Update(recs)

	load := map[identity.PeerID]int{}
	for range 3 {
		for _, c := range placeOK(t, p, wire.Place{Replicas: 1, ShardSize: 4 * mib, Count: 2}) {
			load[c[0].Peer]++
		}
	}
	if got := loadByIndex(load, miners); got[0] != 0 || got[1] != 2 || got[2] != 3 || got[3] != 1 {
		t.Fatalf("shards per miner %v, want [0 2 3 1] (all the free space)", got)
	}
	// Everything is reserved now.
	_, err := p.Place(&wire.Place{Replicas: 1, ShardSize: 4 * mib, Count: 1})
	if !errors.Is(err, wire.ErrUnavailable) {
		t.Fatalf("error %v with all space reserved, want unavailable", err)
	}
	// A smaller shard still fits in what is left.
	placeOK(t, p, wire.Place{Replicas: 1, ShardSize: 3 * mib, Count: 1})

	// The same records again (same Seq) keep the reservations ...
	p.Update(recs)
	if _, err := p.Place(&wire.Place{Replicas: 1, ShardSize: 4 * mib, Count: 1}); !errors.Is(err, wire.ErrUnavailable) {
		t.Fatalf("error %v after an update with the same Seq, want unavailable", err)
	}
	// ... a refreshed record (higher Seq) replaces them with the miner's own count.
	for i := range recs {
		recs[i].Seq = 2
	}
	p.Update(recs)
	placeOK(t, p, wire.Place{Replicas: 1, ShardSize: 4 * mib, Count: 6})
}

func loadByIndex(load map[identity.PeerID]int, miners []*identity.Key) []int {
	out := make([]int, len(miners))
	for i, k := range miners {
		out[i] = load[k.ID()]
	}
	return out
}

func TestPlaceAllOrNothing(t *testing.T) {
	p := NewPlacer()
	miners := testKeys(0, 3)
	p.Update(minerRecords(miners, 10*mib, 1)) // each fits two 4 MiB shards
	// Three replicas of three shards would need nine slots; there are six.
	if _, err := p.Place(&wire.Place{Replicas: 3, ShardSize: 4 * mib, Count: 3}); !errors.Is(err, wire.ErrUnavailable) {
		t.Fatalf("error %v, want unavailable", err)
	}
	// The failed request reserved nothing: two chains still fit.
	placeOK(t, p, wire.Place{Replicas: 3, ShardSize: 4 * mib, Count: 2})
}

func TestPlaceIgnoresExpiredAndOtherRoles(t *testing.T) {
	p := NewPlacer()
	miners := testKeys(0, 3)
	recs := minerRecords(miners, 1<<30, 1)
	recs[0].Expires = uint64(time.Now().Add(-time.Second).Unix())
	recs[1].Role = wire.RoleVerifier
	p.Update(recs)
	if p.LiveCount() != 1 {
		t.Fatalf("%d live miners, want 1", p.LiveCount())
	}
	_, err := p.Place(&wire.Place{Replicas: 2, ShardSize: mib, Count: 1})
	if !errors.Is(err, wire.ErrUnavailable) {
		t.Fatalf("error %v, want unavailable", err)
	}
	// A record that expires after the update stops being used too.
	now := time.Now()
	p.now = func() time.Time { return now.Add(2 * time.Hour) }
	if _, ok := p.Live(miners[2].ID()); ok {
		t.Fatal("an expired record is still live")
	}
	if _, err := p.Place(&wire.Place{Replicas: 1, ShardSize: mib, Count: 1}); !errors.Is(err, wire.ErrUnavailable) {
		t.Fatalf("error %v with every record expired, want unavailable", err)
	}
}

func TestPlaceBadRequests(t *testing.T) {
	p := NewPlacer()
	p.Update(minerRecords(testKeys(0, 20), 1<<40, 1))
	for _, req := range []wire.Place{
		{Replicas: 0, ShardSize: mib, Count: 1},
		{Replicas: MaxReplicas + 1, ShardSize: mib, Count: 1},
		{Replicas: 1, ShardSize: mib, Count: 0},
		{Replicas: 1, ShardSize: mib, Count: MaxPlaceCount + 1},
		{Replicas: 1, ShardSize: 0, Count: 1},
		{Replicas: 1, ShardSize: shard.MaxShardSize + 1, Count: 1},
	} {
		_, err := p.Place(&req)
		wantCode(t, err, wire.CodeBadRequest)
	}
	placeOK(t, p, wire.Place{Replicas: MaxReplicas, ShardSize: mib, Count: MaxPlaceCount})
}

// A placement refused for its size reserves nothing.
func TestPlaceTooLargeReservesNothing(t *testing.T) {
	p := NewPlacer()
	recs := minerRecords(testKeys(0, 20), 1024*mib, 1)
	for i := range recs {
		recs[i].Addrs = []string{strings.Repeat("m", 200) + fmt.Sprintf("%d.example:4001", i)}
	}
	p.Update(recs)
	// 16 x 1024 addresses of ~250 bytes: about 4 MiB, more than one frame.
	_, err := p.Place(&wire.Place{Replicas: MaxReplicas, ShardSize: mib, Count: MaxPlaceCount})
	wantCode(t, err, wire.CodeTooLarge)
	// Had it reserved its 16 GiB (819 MiB a miner, of 1 GiB), ten chains of
	// 64 MiB shards (512 MiB a miner) would not fit.
	placeOK(t, p, wire.Place{Replicas: MaxReplicas, ShardSize: 64 * mib, Count: 10})
}
