package wallet

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/rollup"
	"github.com/ppstore/ppstore/wire"
)

func TestBindingSurvivesReloadAndRefusesTampering(t *testing.T) {
	dir := t.TempDir()
	id := identity.FromSeed(bytes.Repeat([]byte{1}, 32))
	k, b, err := LoadOrCreateKey(dir, id)
	if err != nil {
		t.Fatal(err)
	}
	k2, b2, err := LoadOrCreateKey(dir, id)
	if err != nil {
		t.Fatal(err)
	}
	if k2.Public() != k.Public() || b2.Peer != b.Peer {
		t.Fatal("wallet key changed across loads")
	}
	// Beside another identity, the binding is refused.
	other := identity.FromSeed(bytes.Repeat([]byte{2}, 32))
	if _, _, err := LoadOrCreateKey(dir, other); !errors.Is(err, ErrBadBinding) {
		t.Fatalf("another identity: %v", err)
	}
	// A binding naming another account, signed by the peer only, fails.
	k3, _ := rollup.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{9}, 64)))
	forged := b
	forged.Account = k3.Public()
	forged.PeerSig = id.Sign(func() []byte { d := bindingDigest(b.Peer, forged.Account); return d[:] }())
	if err := forged.Verify(); !errors.Is(err, ErrBadBinding) {
		t.Fatalf("binding without the account's signature: %v", err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, BindingFile))
	if _, err := ParseBinding(bytes.Replace(data, []byte(`"peer_sig": "`), []byte(`"peer_sig": "00`), 1)); !errors.Is(err, ErrBadBinding) {
		t.Fatalf("tampered binding file: %v", err)
	}
	// This identity's own binding whose signature no longer verifies (made
	// with an older signature hash, or damaged) is signed again on load.
	var j bindingJSON
	if err := json.Unmarshal(data, &j); err != nil {
		t.Fatal(err)
	}
	j.AccountSig = hex.EncodeToString(make([]byte, rollup.SignatureSize))
	stale, _ := json.Marshal(j)
	if err := os.WriteFile(filepath.Join(dir, BindingFile), stale, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateKey(dir, id); err != nil {
		t.Fatalf("own binding with a stale signature: %v", err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, BindingFile)); mustParse(t, data).Account != k.Public() {
		t.Fatal("the binding was not signed again")
	}
	if err := os.Chmod(filepath.Join(dir, KeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateKey(dir, id); err == nil {
		t.Fatal("a world-readable wallet key was accepted")
	}
}

// checkProven accepts an honest answer and refuses every lie an operator
// could tell about the proven state.
func TestCheckProvenRefusesLies(t *testing.T) {
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := rollup.NewState('V', 8)
	b := db.NewIndexedBatch()
	defer b.Close()
	me, _ := rollup.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{3}, 64)))
	other, _ := rollup.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{4}, 64)))
	if err := s.Genesis(b, []rollup.Account{{Index: 0, Key: other.Public(), Balance: 5}, {Index: 1, Key: me.Public(), Balance: 70, Nonce: 2}}); err != nil {
		t.Fatal(err)
	}
	root, _ := s.Root(b)
	path, _ := s.Path(b, 1)
	honest := func() *wire.AccountState {
		return &wire.AccountState{Found: true, Index: 1, Key: me.Public(), Balance: 90, Nonce: 3, ProvenFound: true,
			ProvenBalance: 70, ProvenNonce: 2, ProvenRoot: root, ProvenBatch: 4, Path: append([][32]byte(nil), path...)}
	}
	got, err := checkProven(honest(), me.Public(), root)
	if err != nil || got.Proven != 70 || got.Pending != 90 {
		t.Fatalf("honest answer: %+v %v", got, err)
	}
	neverAccepted := root
	neverAccepted[31] ^= 1
	cases := []struct {
		name string
		edit func(*wire.AccountState)
		root [32]byte
		want error
	}{
		{"root the chain never accepted", func(st *wire.AccountState) { st.ProvenRoot = neverAccepted }, root, ErrRootNotAccepted},
		{"chain holds another root", func(*wire.AccountState) {}, neverAccepted, ErrRootNotAccepted},
		{"inflated proven balance", func(st *wire.AccountState) { st.ProvenBalance = 700 }, root, ErrBadProof},
		{"wrong nonce", func(st *wire.AccountState) { st.ProvenNonce = 0 }, root, ErrBadProof},
		{"tampered path", func(st *wire.AccountState) { st.Path[3][31] ^= 1 }, root, ErrBadProof},
		{"another account's leaf", func(st *wire.AccountState) { st.Index = 0 }, root, ErrBadProof},
		{"claims no proven account", func(st *wire.AccountState) { st.ProvenFound = false }, root, ErrBadProof},
		{"answers for another key", func(st *wire.AccountState) { st.Key = other.Public() }, root, ErrBadProof},
	}
	for _, tc := range cases {
		st := honest()
		tc.edit(st)
		if _, err := checkProven(st, me.Public(), tc.root); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

func mustParse(t *testing.T, data []byte) Binding {
	t.Helper()
	b, err := ParseBinding(data)
	if err != nil {
		t.Fatalf("binding on disk: %v", err)
	}
	return b
}
