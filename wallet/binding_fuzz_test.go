package wallet

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/rollup"
)

// FuzzParseBinding: a binding as a miner serves it to the verifier
// (wire.WalletBinding) never panics the parser; whatever parses verifies,
// and marshals back to a binding that parses to the same thing. Anything
// else fails with ErrBadBinding.
func FuzzParseBinding(f *testing.F) {
	id := identity.FromSeed(bytes.Repeat([]byte{9}, 32))
	k, err := rollup.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{4}, 64)))
	if err != nil {
		f.Fatal(err)
	}
	b, err := Bind(id, k)
	if err != nil {
		f.Fatal(err)
	}
	good := b.Marshal()
	f.Add(good)
	f.Add(bytes.Replace(good, []byte(`"peer_sig": "`), []byte(`"peer_sig": "00`), 1))
	f.Add([]byte(`{"peer":"","account":"","peer_sig":"","account_sig":""}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseBinding(data)
		if err != nil {
			if !errors.Is(err, ErrBadBinding) {
				t.Fatalf("error without ErrBadBinding: %v", err)
			}
			return
		}
		if err := got.Verify(); err != nil {
			t.Fatalf("parsed a binding that does not verify: %v", err)
		}
		again, err := ParseBinding(got.Marshal())
		if err != nil || again.Peer != got.Peer || again.Account != got.Account {
			t.Fatalf("re-marshalled binding: %+v, %v", again, err)
		}
	})
}
