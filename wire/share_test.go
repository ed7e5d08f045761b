package wire

import (
	"bytes"
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
	for _, m := range shareSamples(t) {
		t.Run(m.Type().String(), func(t *testing.T) {
			frame := AppendFrame(nil, m)
			hd, body, err := ReadFrame(bytes.NewReader(frame), nil, Fixed(MaxFrame))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(hd, body)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Append(nil), body) {
				t.Fatalf("re-encoding differs")
			}
			for cut := 0; cut < len(body); cut++ {
				fresh, _ := New(hd.Type)
				if err := fresh.Decode(body[:cut]); err == nil {
					t.Fatalf("body cut at %d of %d decoded without error", cut, len(body))
				}
			}
			fresh, _ := New(hd.Type)
			if err := fresh.Decode(append(bytes.Clone(body), 0)); !errors.Is(err, ErrMalformed) {
				t.Fatalf("trailing byte: err = %v", err)
			}
		})
	}
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
func FuzzDecodeShare(f *testing.F) {
	for _, m := range shareSamples(f) {
		f.Add(AppendFrame(nil, m))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		hd, body, err := ReadFrame(bytes.NewReader(frame), nil, Fixed(MaxFrame))
		if err != nil {
			return
		}
		m, err := Decode(hd, body)
		if err != nil {
			return
		}
		if got := m.Append(nil); !bytes.Equal(got, body) {
			t.Fatalf("%v: re-encoded %x, want %x", hd.Type, got, body)
		}
	})
}
