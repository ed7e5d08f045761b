package rollup

import (
	"crypto/rand"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
)

const testDepth = 8

var testRegion = RegionTag("test-region")

type fixture struct {
	t     *testing.T
	db    *pebble.DB
	s     *State
	b     *pebble.Batch
	keys  map[string]*PrivateKey
	index map[string]uint32
}

// newFixture opens an in-memory tree of testDepth with the given accounts
// (name → balance), at indexes 0, 1, ... in the order given.
func newFixture(t *testing.T, names []string, balances []uint64) *fixture {
	t.Helper()
	db, err := pebble.Open("", &pebble.Options{FS: memFS()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &fixture{t: t, db: db, s: NewState('p', testDepth), keys: map[string]*PrivateKey{}, index: map[string]uint32{}}
	f.b = db.NewIndexedBatch()
	t.Cleanup(func() { f.b.Close() })
	var accts []Account
	for i, n := range names {
		k := f.key(n)
		f.index[n] = uint32(i)
		accts = append(accts, Account{Index: uint32(i), Key: k.Public(), Balance: balances[i]})
	}
	if err := f.s.Genesis(f.b, accts); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) key(name string) *PrivateKey {
	if k, ok := f.keys[name]; ok {
		return k
	}
	k, err := GenerateKey(rand.Reader)
	if err != nil {
		f.t.Fatal(err)
	}
	f.keys[name] = k
	return k
}

func (f *fixture) root() [32]byte {
	r, err := f.s.Root(f.b)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// transfer signs a transfer of amount from one named account to another.
func (f *fixture) transfer(from, to string, amount, nonce uint64) SignedTransfer {
	f.t.Helper()
	ti, ok := f.index[to]
	if !ok {
		next, err := f.s.NextFree(f.b)
		if err != nil {
			f.t.Fatal(err)
		}
		ti = next
	}
	st, err := Sign(f.key(from), testRegion, Transfer{From: f.index[from], To: ti, Amount: amount, Nonce: nonce, ToKey: f.key(to).Public()})
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

func (f *fixture) apply(st SignedTransfer) TxWitness {
	f.t.Helper()
	w, err := f.s.Apply(f.b, testRegion, st)
	if err != nil {
		f.t.Fatalf("apply %d→%d: %v", st.From, st.To, err)
	}
	return w
}

// claim is what a (possibly dishonest) prover claims about one transfer's
// accounts; forceApply writes the transition these claims imply into the tree
// with field arithmetic, as the circuit computes it, and returns the witness.
// With honest claims it equals State.Apply; each failing-witness test changes
// one claim, so the circuit has exactly one reason to refuse.
type claim struct {
	fromKey   PublicKey
	fromBal   uint64
	fromNonce uint64 // the circuit takes it from the transfer; kept for clarity
	toNew     bool
	toBal     uint64
	toNonce   uint64
	// wide, when set, replaces fromBal, toBal and toNonce with field
	// elements that need not fit 64 bits: a prover reading a leaf's packing
	// another way. The circuit's assignment then needs wide.assign.
	wide *wideClaim
}

// wideClaim is a claim's balances and nonce as field elements.
type wideClaim struct{ fromBal, toBal, toNonce fr.Element }

// assign puts the wide values of transfer i into the circuit's assignment.
func (w *wideClaim) assign(i int) func(*Circuit) {
	return func(c *Circuit) {
		c.Txs[i].FromBalance = w.fromBal
		c.Txs[i].ToBalance = w.toBal
		c.Txs[i].ToNonce = w.toNonce
	}
}

// wideOf is the claim's values as field elements.
func (c claim) wideOf() wideClaim {
	if c.wide != nil {
		return *c.wide
	}
	var w wideClaim
	w.fromBal.SetUint64(c.fromBal)
	w.toBal.SetUint64(c.toBal)
	w.toNonce.SetUint64(c.toNonce)
	return w
}

func fieldLeaf(t *testing.T, key PublicKey, index uint32, bal, nonce fr.Element) fr.Element {
	pk, err := key.point()
	if err != nil {
		t.Fatal(err)
	}
	var idx, p fr.Element
	idx.SetUint64(uint64(index))
	n := nonce
	var s32, s96 fr.Element
	s32.SetBigInt(two32)
	s96.SetBigInt(two96)
	p.Mul(&bal, &s32)
	n.Mul(&n, &s96)
	p.Add(&p, &idx).Add(&p, &n)
	return compress(keyHash(pk), p)
}

func (f *fixture) forceApply(st SignedTransfer, c claim) TxWitness {
	t := f.t
	t.Helper()
	s, b := f.s, f.b
	w := TxWitness{Tx: st, FromKey: c.fromKey, FromBalance: c.fromBal, ToNew: c.toNew, ToBalance: c.toBal, ToNonce: c.toNonce}
	var err error
	w.RootBefore = f.root()
	if w.FromPath, err = s.Path(b, st.From); err != nil {
		t.Fatal(err)
	}
	if w.Cap, err = s.Cap(b); err != nil {
		t.Fatal(err)
	}
	wc := c.wideOf()
	var amt, nonce, one fr.Element
	amt.SetUint64(st.Amount)
	one.SetOne()
	nonce.SetUint64(st.Nonce)
	nonce.Add(&nonce, &one) // as the circuit computes it: no wrap at 2^64
	bal := wc.fromBal
	bal.Sub(&bal, &amt)
	if err := s.setLeaf(b, st.From, fieldLeaf(t, c.fromKey, st.From, bal, nonce)); err != nil {
		t.Fatal(err)
	}
	if w.ToPath, err = s.Path(b, st.To); err != nil {
		t.Fatal(err)
	}
	bal = wc.toBal
	bal.Add(&bal, &amt)
	if err := s.setLeaf(b, st.To, fieldLeaf(t, st.ToKey, st.To, bal, wc.toNonce)); err != nil {
		t.Fatal(err)
	}
	w.RootAfter = f.root()
	// Keep the account records in step when the claims are in range, so
	// that honest() sees this transfer's effect.
	if c.wide == nil && c.fromBal >= st.Amount && c.toBal+st.Amount >= c.toBal {
		if st.From == st.To {
			f.put(Account{Index: st.From, Key: c.fromKey, Balance: c.fromBal, Nonce: st.Nonce + 1})
		} else {
			f.put(Account{Index: st.From, Key: c.fromKey, Balance: c.fromBal - st.Amount, Nonce: st.Nonce + 1})
			f.put(Account{Index: st.To, Key: st.ToKey, Balance: c.toBal + st.Amount, Nonce: c.toNonce})
		}
	}
	return w
}

func (f *fixture) put(a Account) {
	if err := f.b.Set(f.s.accountKey(a.Index), encodeAccount(a), nil); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) account(name string) Account {
	a, ok, err := f.s.Account(f.b, f.index[name])
	if err != nil || !ok {
		f.t.Fatalf("account %s: %v %v", name, ok, err)
	}
	return a
}

// honest is the claim an honest prover makes for st.
func (f *fixture) honest(st SignedTransfer) claim {
	from, _, _ := f.s.Account(f.b, st.From)
	to, ok, _ := f.s.Account(f.b, st.To)
	if st.From == st.To {
		return claim{fromKey: from.Key, fromBal: from.Balance, fromNonce: from.Nonce, toBal: from.Balance - st.Amount, toNonce: from.Nonce + 1}
	}
	return claim{fromKey: from.Key, fromBal: from.Balance, fromNonce: from.Nonce, toNew: !ok, toBal: to.Balance, toNonce: to.Nonce}
}
