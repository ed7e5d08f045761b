package wire

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// checkRoundTrip sends each message through a frame and back. It must decode
// to the same message (compared as printed, so a nil and an empty slice are
// alike) that re-encodes to the same body, its type must have a name, and
// the body cut anywhere, or with a byte more, must be refused: one encoding
// per message, which signed records rely on.
func checkRoundTrip(t *testing.T, msgs []Message) {
	t.Helper()
	for _, m := range msgs {
		t.Run(m.Type().String(), func(t *testing.T) {
			if m.Type().String() == fmt.Sprintf("Type(%d)", uint16(m.Type())) {
				t.Errorf("type %d has no name", m.Type())
			}
			hd, body, err := ReadFrame(bytes.NewReader(AppendFrame(nil, m)), nil, Fixed(MaxFrame))
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
			if fmt.Sprint(got) != fmt.Sprint(m) {
				t.Fatalf("decoded %v, want %v", got, m)
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

// fuzzFrames is the body of the decoder fuzz targets: arbitrary frames,
// seeded with seeds' frames and extra, must never panic the decoder, and
// whatever decodes must re-encode to exactly the same body.
func fuzzFrames(f *testing.F, seeds []Message, extra ...[]byte) {
	for _, m := range seeds {
		f.Add(AppendFrame(nil, m))
	}
	for _, e := range extra {
		f.Add(e)
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
