package wire

import (
	"errors"
	"github.com/ipfs/go-cid"
	"testing"
)

func shareSamples(t testing.TB) []Message {
	return []Message{
		&MarkPrivate{File: testCID(t, "f"), Shards: []cid.Cid{testCID(t, "a"), testCID(t, "b")}},
		&Marked{},
		&GetSharedPiece{Grant: []byte("grant"), GetPiece: GetPiece{Shard: testCID(t, "s"), Index: 3, Count: 2}},
		&Revoke{Revocation: []byte("rev")}, &Revoked{Seq: 7},
		&ListRevocations{After: 9},
		&RevocationList{Revocations: [][]byte{[]byte("a"), []byte("bc")}, Last: 11, More: true},
	}
}

func TestShareMessagesRoundTrip(t *testing.T) {
	checkRoundTrip(t, shareSamples(t))
}

func TestShareCodesCrossTheWire(t *testing.T) {
	for _, s := range []*Error{ErrShareExpired, ErrShareForged, ErrShareRevoked, ErrShareDenied} {
		e := Errorf(s.Code, "why")
		var back Error
		if err := back.Decode(e.Append(nil)); err != nil {
			t.Fatal(err)
		}
		if !errors.Is(&back, s) || errors.Is(&back, ErrUnauthorized) {
			t.Fatalf("code %d does not come back as its own sentinel", s.Code)
		}
		if s.Code.String() == "" || back.Error() == "" {
			t.Fatalf("code %d has no name", s.Code)
		}
	}
	// A list announcing more revocations than allowed is refused.
	e := Enc{}
	e.U32(MaxRevocationsPerList + 1)
	for i := 0; i <= MaxRevocationsPerList; i++ {
		e.Bytes(nil)
	}
	e.U64(0)
	e.Bool(false)
	if err := new(RevocationList).Decode(e.B); !errors.Is(err, ErrMalformed) {
		t.Fatalf("oversized revocation list: err = %v", err)
	}
}

// FuzzDecodeShare is FuzzDecode seeded with the share messages.
func FuzzDecodeShare(f *testing.F) { fuzzFrames(f, shareSamples(f)) }
