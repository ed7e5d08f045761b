package rollup

import (
	"errors"
	"testing"
)

func TestApplyRefuses(t *testing.T) {
	f := newFixture(t, []string{"op", "alice", "bob"}, []uint64{1000, 100, 5})
	before := f.root()
	bad := f.transfer("alice", "op", 10, 0)
	forged, _ := Sign(f.key("mallory"), testRegion, bad.Transfer)
	bad.Sig = forged.Sig
	otherRegion, _ := Sign(f.key("alice"), RegionTag("elsewhere"), f.transfer("alice", "op", 10, 0).Transfer)
	wrongKey, _ := Sign(f.key("alice"), testRegion, Transfer{From: 1, To: 2, Amount: 1, ToKey: f.key("carol").Public()})
	takenKey, _ := Sign(f.key("alice"), testRegion, Transfer{From: 1, To: 100, Amount: 1, ToKey: f.key("bob").Public()})
	cases := []struct {
		name string
		st   SignedTransfer
		want error
	}{
		{"bad signature", bad, ErrBadSignature},
		{"another region", otherRegion, ErrBadSignature},
		{"nonce ahead", f.transfer("alice", "op", 10, 1), ErrBadNonce},
		{"overdraft", f.transfer("alice", "op", 101, 0), ErrInsufficientBalance},
		{"unknown sender", f.transfer("nobody", "op", 1, 0), ErrUnknownAccount},
		{"receiver holds another key", wrongKey, ErrKeyMismatch},
		{"key already has an account", takenKey, ErrKeyMismatch},
	}
	f.index["nobody"] = 77
	cases[4].st = f.transfer("nobody", "op", 1, 0)
	for _, tc := range cases {
		if _, err := f.s.Apply(f.b, testRegion, tc.st); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
		if f.root() != before {
			t.Fatalf("%s: refused transfer changed the root", tc.name)
		}
	}
	// A transfer applied once cannot be applied again (replay).
	st := f.transfer("alice", "bob", 10, 0)
	f.apply(st)
	if _, err := f.s.Apply(f.b, testRegion, st); !errors.Is(err, ErrBadNonce) {
		t.Fatalf("replay: got %v, want ErrBadNonce", err)
	}
	if a := f.account("alice"); a.Balance != 90 || a.Nonce != 1 {
		t.Fatalf("alice after transfer: %+v", a)
	}
	if a := f.account("bob"); a.Balance != 15 || a.Nonce != 0 {
		t.Fatalf("bob after transfer: %+v", a)
	}
}

// The tree's path for an account proves its leaf against the root, and the
// root equals the one GenesisRoot computes from scratch.
func TestPathProvesLeaf(t *testing.T) {
	f := newFixture(t, []string{"op", "alice"}, []uint64{1000, 100})
	f.apply(f.transfer("alice", "bob", 40, 0))
	for _, name := range []string{"op", "alice", "bob"} {
		a, ok, err := f.s.Account(f.b, mustIndex(t, f, name))
		if err != nil || !ok {
			t.Fatalf("%s: %v", name, err)
		}
		path, err := f.s.Path(f.b, a.Index)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyAccount(f.root(), a, path); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		a.Balance++
		if err := VerifyAccount(f.root(), a, path); !errors.Is(err, ErrBadWitness) {
			t.Fatalf("%s with a wrong balance: got %v", name, err)
		}
	}
	want, err := GenesisRoot(testDepth, []Account{
		{Index: 0, Key: f.key("op").Public(), Balance: 1000},
		{Index: 1, Key: f.key("alice").Public(), Balance: 60, Nonce: 1},
		{Index: 2, Key: f.key("bob").Public(), Balance: 40},
	})
	if err != nil {
		t.Fatal(err)
	}
	if f.root() != want {
		t.Fatal("incremental root differs from a fresh tree's root")
	}
}

func mustIndex(t *testing.T, f *fixture, name string) uint32 {
	if i, ok := f.index[name]; ok {
		return i
	}
	i, ok, err := f.s.IndexOf(f.b, f.key(name).Public())
	if err != nil || !ok {
		t.Fatalf("index of %s: %v", name, err)
	}
	return i
}

func TestWitnessRoundTrip(t *testing.T) {
	f := newFixture(t, []string{"op", "alice"}, []uint64{1000, 100})
	w := f.apply(f.transfer("alice", "bob", 40, 0))
	b, _ := w.MarshalBinary()
	got, err := UnmarshalWitness(testDepth, b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := got.MarshalBinary()
	if string(b) != string(b2) || !got.ToNew || got.Tx != w.Tx {
		t.Fatal("witness did not round-trip")
	}
	if _, err := UnmarshalWitness(testDepth, b[1:]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short witness: %v", err)
	}
}
