package wire

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/identity"
)

func lifecycleSamples(t testing.TB) []Message {
	k := identity.FromSeed(bytes.Repeat([]byte{7}, 32))
	k2 := identity.FromSeed(bytes.Repeat([]byte{9}, 32))
	rcpt := Receipt{Shard: testCID(t, "s"), Size: 4 << 20, Owner: k2.ID(), Stored: 12345}
	rcpt.Sign(k)
	addr := NodeAddr{Peer: k.ID(), Addr: "127.0.0.1:1"}
	return []Message{
		&Reserve{Put: 7, Shard: testCID(t, "s"), Size: 4 << 20, Replicas: 3, Private: true, Exclude: []identity.PeerID{k.ID()}},
		&Reservation{Have: []NodeAddr{addr}, Chain: []NodeAddr{addr, addr}, RetryAfter: 250},
		&ShardStored{Put: 7, Shard: testCID(t, "s"), Receipts: []Receipt{rcpt}},
		&StoredAck{Replicas: 3},
		&LeaseCheck{Shards: []cid.Cid{testCID(t, "a"), testCID(t, "b")}},
		&LeaseStatus{States: []LeaseState{LeaseUnknown, LeasePending, LeaseCommitted}},
		&Remove{CID: testCID(t, "f")},
		&Removed{FileGone: true, Shards: 4},
		&DropShards{Shards: []cid.Cid{testCID(t, "a")}},
		&Dropped{Count: 1},
	}
}

func TestLifecycleMessagesRoundTrip(t *testing.T) {
	checkRoundTrip(t, lifecycleSamples(t))
}

func TestLifecycleBadInput(t *testing.T) {
	// A lease state beyond the known ones.
	if err := new(LeaseStatus).Decode([]byte{0, 0, 0, 1, 3}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("lease state 3: %v", err)
	}
	// More shards than a batch may name.
	big := &DropShards{Shards: make([]cid.Cid, MaxLeaseBatch+1)}
	for i := range big.Shards {
		big.Shards[i] = testCID(t, "x")
	}
	if err := new(DropShards).Decode(big.Append(nil)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("%d shards: %v", len(big.Shards), err)
	}
	if err := new(LeaseCheck).Decode((&LeaseCheck{Shards: big.Shards}).Append(nil)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("lease check of %d shards: %v", len(big.Shards), err)
	}
	// A flag byte that is neither 0 nor 1.
	b := (&Removed{FileGone: true}).Append(nil)
	b[0] = 2
	if err := new(Removed).Decode(b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("flag 2: %v", err)
	}
	// Codes survive the trip and match their sentinels.
	for _, c := range []Code{CodeHopLost, CodeUpstreamLost, CodeReclaimed} {
		e := &Error{Code: c, Message: "x"}
		var back Error
		if err := back.Decode(e.Append(nil)); err != nil || !errors.Is(&back, &Error{Code: c}) || !KnownCode(c) {
			t.Fatalf("code %v: %v", c, err)
		}
	}
	if KnownCode(Code(999)) {
		t.Fatal("code 999 known")
	}
}

// FuzzLifecycle is FuzzDecode seeded with the lifecycle messages.
func FuzzLifecycle(f *testing.F) { fuzzFrames(f, lifecycleSamples(f)) }
