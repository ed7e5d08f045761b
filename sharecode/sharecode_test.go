package sharecode

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/wire"
)

func fileCID(t testing.TB, s string) cid.Cid {
	h, err := mh.Sum([]byte(s), mh.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(0x300002, h)
}

func key(b byte) *identity.Key { return identity.FromSeed(bytes.Repeat([]byte{b}, 32)) }

func TestCodeRoundTrip(t *testing.T) {
	owner, bob := key(1), key(2)
	fk := bytes.Repeat([]byte{0xaa}, 32)
	exp := time.Unix(2_000_000_000, 0)
	for _, c := range []struct {
		name string
		key  []byte
		o    Options
	}{{"public", nil, Options{}}, {"private", fk, Options{}}, {"private-to-expiring", fk, Options{Expires: exp, To: bob.ID()}}} {
		t.Run(c.name, func(t *testing.T) {
			code, err := New(owner, fileCID(t, "f"), c.key, c.o)
			if err != nil {
				t.Fatal(err)
			}
			s := code.String()
			if !IsCode(s) || len(s) > 400 {
				t.Fatalf("code %q: not recognised or too long (%d)", s, len(s))
			}
			// Case changes and line wrapping are harmless.
			got, err := Parse(strings.ToUpper(s[:40]) + "\n  " + s[40:])
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != s || !bytes.Equal(got.Key, c.key) || got.ID() != code.ID() || got.To != c.o.To {
				t.Fatalf("parsed code differs from the one made")
			}
			g, err := ParseGrant(got.Grant.Encode())
			if err != nil || g.ID() != code.ID() || g.Verify() != nil {
				t.Fatalf("grant round trip: %v", err)
			}
			if bytes.Contains(g.Encode(), fk) {
				t.Fatal("the grant a miner sees holds the file key")
			}
		})
	}
}

func TestCodeRefusals(t *testing.T) {
	owner, bob, carol := key(1), key(2), key(3)
	fk := bytes.Repeat([]byte{0xaa}, 32)
	code, err := New(owner, fileCID(t, "f"), fk, Options{Expires: time.Unix(2_000_000_000, 0), To: bob.ID()})
	if err != nil {
		t.Fatal(err)
	}
	s := code.String()

	// One character changed anywhere: the checksum catches it.
	for _, i := range []int{len(Prefix), len(s) / 2, len(s) - 1} {
		b := []byte(s)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		if _, err := Parse(string(b)); !errors.Is(err, ErrChecksum) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("character %d changed: err = %v, want ErrChecksum", i, err)
		}
	}
	// One byte changed with the checksum made again: the signature catches it.
	bin := code.Binary()
	for _, i := range []int{3, 30, len(bin) - 10} {
		b := bytes.Clone(bin[:len(bin)-checksumN])
		b[i] ^= 1
		sum := sha256.Sum256(b)
		forged := Prefix + b32.EncodeToString(append(b, sum[:checksumN]...))
		if _, err := Parse(forged); !errors.Is(err, wire.ErrShareForged) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("byte %d altered, checksum recomputed: err = %v, want ErrShareForged", i, err)
		}
	}
	// Expired, and for another peer.
	if err := code.Check(time.Unix(2_000_000_000, 0), bob.ID()); !errors.Is(err, wire.ErrShareExpired) {
		t.Fatalf("at expiry: err = %v, want ErrShareExpired", err)
	}
	if err := code.Check(time.Unix(1_900_000_000, 0), carol.ID()); !errors.Is(err, wire.ErrShareDenied) {
		t.Fatalf("used by another peer: err = %v, want ErrShareDenied", err)
	}
	if err := code.Check(time.Unix(1_900_000_000, 0), bob.ID()); err != nil {
		t.Fatalf("valid use refused: %v", err)
	}
	// A grant whose owner field was swapped keeps its signature only for the signer.
	g := code.Grant
	g.Owner = carol.ID()
	if err := g.Verify(); !errors.Is(err, wire.ErrShareForged) {
		t.Fatalf("owner swapped: err = %v, want ErrShareForged", err)
	}
	if _, err := Parse("bafy-not-a-code"); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a CID parsed as a code: %v", err)
	}
}

func TestRevocation(t *testing.T) {
	owner, bob := key(1), key(2)
	code, _ := New(owner, fileCID(t, "f"), nil, Options{})
	if _, err := Revoke(bob, &code.Grant); !errors.Is(err, wire.ErrUnauthorized) {
		t.Fatalf("revocation by a non-owner: err = %v", err)
	}
	r, err := Revoke(owner, &code.Grant)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseRevocation(r.Encode())
	if err != nil || back.Grant != code.ID() || back.Owner != owner.ID() {
		t.Fatalf("revocation round trip: %v", err)
	}
	b := r.Encode()
	b[40] ^= 1
	if _, err := ParseRevocation(b); !errors.Is(err, wire.ErrShareForged) {
		t.Fatalf("altered revocation: err = %v", err)
	}
}

// FuzzParse feeds arbitrary text to the code parser and bytes to the grant
// and revocation parsers: no panic, and what parses re-encodes to itself.
func FuzzParse(f *testing.F) {
	owner := key(1)
	for _, fk := range [][]byte{nil, bytes.Repeat([]byte{1}, 32)} {
		c, _ := New(owner, fileCID(f, "f"), fk, Options{Expires: time.Unix(5, 0), To: key(2).ID()})
		f.Add(c.String(), c.Grant.Encode())
		r, _ := Revoke(owner, &c.Grant)
		f.Add("", r.Encode())
	}
	f.Fuzz(func(t *testing.T, s string, b []byte) {
		if c, err := Parse(s); err == nil {
			if got := c.String(); !strings.EqualFold(got, strings.Join(strings.Fields(s), "")) {
				t.Fatalf("code %q re-encodes as %q", s, got)
			}
		}
		if g, err := ParseGrant(b); err == nil && !bytes.Equal(g.Encode(), b) {
			t.Fatalf("grant %x re-encodes as %x", b, g.Encode())
		}
		if r, err := ParseRevocation(b); err == nil && !bytes.Equal(r.Encode(), b) {
			t.Fatalf("revocation %x re-encodes as %x", b, r.Encode())
		}
	})
}
