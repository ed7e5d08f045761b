package bootstrap

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/wire"
)

// fakeRecord is an unsigned record of a stable peer i (the table checks no
// signatures).
func fakeRecord(i int, role wire.Role, expires, seq uint64, addrs ...string) wire.NodeRecord {
	var seed [32]byte
	copy(seed[:], fmt.Sprintf("peer-%d", i))
	if addrs == nil {
		addrs = []string{fmt.Sprintf("127.0.0.1:%d", 1000+i%50000)}
	}
	return wire.NodeRecord{Role: role, Peer: identity.FromSeed(seed[:]).ID(), Region: testRegion, Addrs: addrs,
		Seq: seq, Expires: expires, Sig: make([]byte, 64)}
}

func TestTableListFitsInOneFrame(t *testing.T) {
	tb := newTable(1 << 20)
	const now = 1000
	fat := make([]string, maxAddrs)
	for i := range fat {
		fat[i] = fmt.Sprintf("%0250d:%d", i, i)
	}
	for i := range 500 {
		rec := fakeRecord(i, wire.RoleMiner, now+60, 1, fat...)
		if err := tb.put(&rec, now); err != nil {
			t.Fatal(err)
		}
	}
	recs, truncated := tb.list(0, now, maxListRecords, maxListBytes)
	if !truncated || len(recs) == 0 || len(recs) >= 500 {
		t.Fatalf("500 fat records: %d listed (truncated %v), want a truncated, non-empty list", len(recs), truncated)
	}
	body := (&wire.NodeList{Records: recs}).Append(nil)
	if len(body) > wire.MaxFrame {
		t.Fatalf("NodeList body of %d bytes exceeds wire.MaxFrame %d", len(body), wire.MaxFrame)
	}
	// One more record would not have fitted.
	if len(body)+recordSize(&recs[0]) <= wire.MaxFrame {
		t.Fatalf("list stopped at %d bytes with room left for another record", len(body))
	}
	var back wire.NodeList
	if err := back.Decode(body); err != nil || len(back.Records) != len(recs) {
		t.Fatalf("decode: %d records, %v", len(back.Records), err)
	}
}

func TestTableSeqAndKeepUntil(t *testing.T) {
	tb := newTable(10)
	const now = 1000
	r5 := fakeRecord(1, wire.RoleMiner, now+300, 5)
	if err := tb.put(&r5, now); err != nil {
		t.Fatal(err)
	}
	for _, seq := range []uint64{5, 4, 0} {
		r := fakeRecord(1, wire.RoleMiner, now+300, seq)
		if err := tb.put(&r, now); !errors.Is(err, wire.ErrConflict) {
			t.Fatalf("seq %d after 5: %v, want conflict", seq, err)
		}
	}
	// A newer record that expires sooner: the entry is kept until the
	// older record would have expired.
	r6 := fakeRecord(1, wire.RoleMiner, now+60, 6)
	if err := tb.put(&r6, now); err != nil {
		t.Fatal(err)
	}
	if n := tb.sweep(now + 100); n != 0 {
		t.Fatalf("swept %d entries while seq 5 could still be replayed", n)
	}
	if recs, _ := tb.list(0, now+100, 10, maxListBytes); len(recs) != 0 {
		t.Fatalf("expired record listed: %+v", recs)
	}
	if err := tb.put(&r5, now+100); !errors.Is(err, wire.ErrConflict) {
		t.Fatalf("replay of seq 5: %v, want conflict", err)
	}
	if n := tb.sweep(now + 300); n != 1 {
		t.Fatalf("swept %d entries at the last expiry, want 1", n)
	}
}

func TestTableCopiesRecords(t *testing.T) {
	tb := newTable(10)
	r := fakeRecord(1, wire.RoleMiner, 100, 1)
	if err := tb.put(&r, 0); err != nil {
		t.Fatal(err)
	}
	r.Sig[0] = 0xff // the caller's buffer is reused (a decoded frame)
	r.Addrs[0] = "changed:1"
	got, _ := tb.list(0, 0, 10, maxListBytes)
	if got[0].Sig[0] != 0 || got[0].Addrs[0] == "changed:1" {
		t.Fatal("table aliases the record it was given")
	}
}
