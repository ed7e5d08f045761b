package rollup

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble"
	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
)

// State is an account tree kept in pebble under a one-byte prefix, so that one
// database can hold several trees (the zkstore daemon keeps the tree with
// every accepted transfer and the tree of the last proven batch).
//
// The tree is 4-ary: an index of Depth bits (Depth even) names a leaf, and
// the tree has Depth/2 levels of nodes above the leaves, each node C4 of its
// four children (package doc).
//
// Keys, after the prefix:
//
//	'n' level(1) index(4 BE)  → 32-byte node (level 0 = leaves, Depth/2 = root);
//	                             a missing node is the empty subtree's hash
//	'a' index(4 BE)           → account: key(32) | balance u64 | nonce u64
//	'k' key(32)               → index(4 BE)
//	'f'                       → next never-used index (4 BE)
//
// Reads go through a pebble.Reader (the database, a snapshot or an indexed
// batch); writes through a batch, so a caller commits a transfer's tree
// update in the same synced batch as its own records.
type State struct {
	prefix byte
	depth  int          // index bits
	levels int          // depth/2
	zero   []fr.Element // zero[l]: hash of an empty subtree of height l
}

// NewState describes the tree of depth depth (an even number of index bits,
// 2..32) under prefix.
func NewState(prefix byte, depth int) *State {
	if err := checkDepth(depth); err != nil {
		panic(err)
	}
	s := &State{prefix: prefix, depth: depth, levels: depth / 2, zero: make([]fr.Element, depth/2+1)}
	for l := 1; l <= s.levels; l++ {
		z := s.zero[l-1]
		s.zero[l] = compress4([4]fr.Element{z, z, z, z})
	}
	return s
}

// checkDepth accepts the depths a 4-ary tree of up to 2^32 leaves can have.
func checkDepth(depth int) error {
	if depth < 2 || depth > 32 || depth%2 != 0 {
		return fmt.Errorf("rollup: tree depth %d is not an even number of index bits in 2..32", depth)
	}
	return nil
}

// PathLen is the number of siblings in a Merkle path of a tree of depth
// depth: three per level.
func PathLen(depth int) int { return 3 * (depth / 2) }

// CapLevels is how many of the tree's top levels the circuit hashes once per
// batch instead of once per Merkle path: min(3, Depth/2). The nodes below
// them, 4^CapLevels of them, are the batch's cap (State.Cap).
func CapLevels(depth int) int { return min(3, depth/2) }

// Depth is the tree's depth (index bits).
func (s *State) Depth() int { return s.depth }

// EmptyRoot is the root of a tree with no account.
func (s *State) EmptyRoot() [32]byte { return s.zero[s.levels].Bytes() }

func (s *State) nodeKey(level int, index uint64) []byte {
	k := []byte{s.prefix, 'n', byte(level), 0, 0, 0, 0}
	putU32(k[3:], uint32(index))
	return k
}

func (s *State) accountKey(index uint32) []byte {
	k := []byte{s.prefix, 'a', 0, 0, 0, 0}
	putU32(k[2:], index)
	return k
}

func (s *State) keyKey(pk PublicKey) []byte {
	return append([]byte{s.prefix, 'k'}, pk[:]...)
}

func (s *State) freeKey() []byte { return []byte{s.prefix, 'f'} }

func get(r pebble.Reader, key []byte) ([]byte, bool, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := append([]byte(nil), v...)
	closer.Close()
	return out, true, nil
}

func (s *State) node(r pebble.Reader, level int, index uint64) (fr.Element, error) {
	v, ok, err := get(r, s.nodeKey(level, index))
	if err != nil || !ok {
		return s.zero[level], err
	}
	var e fr.Element
	if len(v) != 32 {
		return e, fmt.Errorf("%w: tree node %d/%d is %d bytes", ErrMalformed, level, index, len(v))
	}
	e.SetBytes(v)
	return e, nil
}

// Root returns the tree's root.
func (s *State) Root(r pebble.Reader) ([32]byte, error) {
	e, err := s.node(r, s.levels, 0)
	return e.Bytes(), err
}

// Cap returns the 4^CapLevels nodes from which the circuit hashes the root,
// in index order.
func (s *State) Cap(r pebble.Reader) ([][32]byte, error) {
	level := s.levels - CapLevels(s.depth)
	out := make([][32]byte, 1<<(2*CapLevels(s.depth)))
	for i := range out {
		e, err := s.node(r, level, uint64(i))
		if err != nil {
			return nil, err
		}
		out[i] = e.Bytes()
	}
	return out, nil
}

// Account returns the account at index; ok is false for an empty slot.
func (s *State) Account(r pebble.Reader, index uint32) (a Account, ok bool, err error) {
	if uint64(index)>>s.depth != 0 {
		return Account{}, false, fmt.Errorf("%w: index %d beyond a tree of depth %d", ErrUnknownAccount, index, s.depth)
	}
	v, ok, err := get(r, s.accountKey(index))
	if err != nil || !ok {
		return Account{}, false, err
	}
	a, err = decodeAccount(index, v)
	return a, err == nil, err
}

// IndexOf returns the index of the account holding key pk.
func (s *State) IndexOf(r pebble.Reader, pk PublicKey) (uint32, bool, error) {
	v, ok, err := get(r, s.keyKey(pk))
	if err != nil || !ok {
		return 0, false, err
	}
	if len(v) != 4 {
		return 0, false, fmt.Errorf("%w: key index entry of %d bytes", ErrMalformed, len(v))
	}
	return getU32(v), true, nil
}

// NextFree returns the lowest index that no account has used yet; a transfer
// to a new key opens its account there. Errors wrap ErrTreeFull.
func (s *State) NextFree(r pebble.Reader) (uint32, error) {
	v, ok, err := get(r, s.freeKey())
	if err != nil {
		return 0, err
	}
	var n uint64
	if ok {
		n = uint64(getU32(v))
		if len(v) == 5 { // full marker
			n = 1 << s.depth
		}
	}
	if n>>s.depth != 0 {
		return 0, ErrTreeFull
	}
	return uint32(n), nil
}

// Path returns the siblings of the leaf at index, from the leaf's level up:
// at each level the three other children of the node's parent, in child
// order (PathLen(Depth) elements of 32 bytes).
func (s *State) Path(r pebble.Reader, index uint32) ([][32]byte, error) {
	out := make([][32]byte, 0, PathLen(s.depth))
	idx := uint64(index)
	for l := 0; l < s.levels; l++ {
		for c := uint64(0); c < 4; c++ {
			if c == idx&3 {
				continue
			}
			e, err := s.node(r, l, idx&^3|c)
			if err != nil {
				return nil, err
			}
			out = append(out, e.Bytes())
		}
		idx >>= 2
	}
	return out, nil
}

// setLeaf writes the leaf and every node above it into b (an indexed batch,
// so that it reads its own writes).
func (s *State) setLeaf(b *pebble.Batch, index uint32, leaf fr.Element) error {
	idx := uint64(index)
	node := leaf
	for l := 0; l < s.levels; l++ {
		v := node.Bytes()
		if err := b.Set(s.nodeKey(l, idx), v[:], nil); err != nil {
			return err
		}
		var children [4]fr.Element
		for c := uint64(0); c < 4; c++ {
			if c == idx&3 {
				children[c] = node
				continue
			}
			sib, err := s.node(b, l, idx&^3|c)
			if err != nil {
				return err
			}
			children[c] = sib
		}
		node = compress4(children)
		idx >>= 2
	}
	v := node.Bytes()
	return b.Set(s.nodeKey(s.levels, 0), v[:], nil)
}

// putAccount stores a, its key index and its leaf.
func (s *State) putAccount(b *pebble.Batch, a Account) error {
	leaf, err := a.Leaf()
	if err != nil {
		return err
	}
	if err := b.Set(s.accountKey(a.Index), encodeAccount(a), nil); err != nil {
		return err
	}
	var iv [4]byte
	putU32(iv[:], a.Index)
	if err := b.Set(s.keyKey(a.Key), iv[:], nil); err != nil {
		return err
	}
	next, err := s.NextFree(b)
	if err != nil && !errors.Is(err, ErrTreeFull) {
		return err
	}
	if err == nil && a.Index >= next {
		n := uint64(a.Index) + 1
		var fv []byte
		if n>>s.depth != 0 {
			fv = []byte{0, 0, 0, 0, 1}
		} else {
			fv = make([]byte, 4)
			putU32(fv, uint32(n))
		}
		if err := b.Set(s.freeKey(), fv, nil); err != nil {
			return err
		}
	}
	return s.setLeaf(b, a.Index, leaf)
}

// Genesis writes the genesis accounts into b (an indexed batch on an empty
// tree). Errors wrap ErrKeyMismatch (a key twice) or ErrMalformed.
func (s *State) Genesis(b *pebble.Batch, accounts []Account) error {
	for _, a := range accounts {
		if uint64(a.Index)>>s.depth != 0 {
			return fmt.Errorf("%w: genesis index %d beyond depth %d", ErrUnknownAccount, a.Index, s.depth)
		}
		if _, ok, err := s.IndexOf(b, a.Key); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("%w: genesis key %s used twice", ErrKeyMismatch, a.Key)
		}
		if err := s.putAccount(b, a); err != nil {
			return err
		}
	}
	return nil
}

// GenesisRoot is the root of a tree of depth depth holding only accounts.
func GenesisRoot(depth int, accounts []Account) ([32]byte, error) {
	db, err := pebble.Open("", &pebble.Options{FS: memFS()})
	if err != nil {
		return [32]byte{}, err
	}
	defer db.Close()
	s := NewState('g', depth)
	b := db.NewIndexedBatch()
	defer b.Close()
	if err := s.Genesis(b, accounts); err != nil {
		return [32]byte{}, err
	}
	return s.Root(b)
}

// Apply checks a signed transfer against the state in b (signature, nonce,
// balance, receiver key), writes its effect into b and returns the witness
// the circuit needs. b must be an indexed batch. On error b may hold partial
// writes: discard it. Errors wrap ErrBadSignature, ErrBadNonce,
// ErrInsufficientBalance, ErrUnknownAccount, ErrKeyMismatch or ErrMalformed.
func (s *State) Apply(b *pebble.Batch, regionTag [32]byte, st SignedTransfer) (TxWitness, error) {
	w := TxWitness{Tx: st}
	if uint64(st.From)>>s.depth != 0 || uint64(st.To)>>s.depth != 0 {
		return w, fmt.Errorf("%w: index beyond a tree of depth %d", ErrUnknownAccount, s.depth)
	}
	if err := st.ToKey.Valid(); err != nil {
		return w, err
	}
	from, ok, err := s.Account(b, st.From)
	if err != nil {
		return w, err
	}
	if !ok {
		return w, fmt.Errorf("%w: sender %d", ErrUnknownAccount, st.From)
	}
	if err := st.Verify(regionTag, from.Key); err != nil {
		return w, err
	}
	if st.Nonce != from.Nonce {
		return w, fmt.Errorf("%w: transfer nonce %d, account %d expects %d", ErrBadNonce, st.Nonce, st.From, from.Nonce)
	}
	if from.Balance < st.Amount {
		return w, fmt.Errorf("%w: account %d holds %d, transfer of %d", ErrInsufficientBalance, st.From, from.Balance, st.Amount)
	}
	if w.RootBefore, err = s.Root(b); err != nil {
		return w, err
	}
	w.FromKey, w.FromBalance = from.Key, from.Balance
	if w.FromPath, err = s.Path(b, st.From); err != nil {
		return w, err
	}
	if w.Cap, err = s.Cap(b); err != nil {
		return w, err
	}
	from.Balance -= st.Amount
	from.Nonce++
	if from.Nonce == 0 {
		return w, fmt.Errorf("%w: account %d exhausted its nonces", ErrBadNonce, st.From)
	}

	// Checks on the receiver before any write, so that a refusal leaves b
	// clean for the common case.
	to, ok, err := s.Account(b, st.To)
	if err != nil {
		return w, err
	}
	if st.To == st.From {
		to, ok = from, true
	}
	if ok && to.Key != st.ToKey {
		return w, fmt.Errorf("%w: account %d holds key %s, transfer names %s", ErrKeyMismatch, st.To, to.Key, st.ToKey)
	}
	if !ok {
		if idx, taken, err := s.IndexOf(b, st.ToKey); err != nil {
			return w, err
		} else if taken {
			return w, fmt.Errorf("%w: key %s already holds account %d", ErrKeyMismatch, st.ToKey, idx)
		}
	}
	if to.Balance+st.Amount < to.Balance {
		return w, fmt.Errorf("%w: account %d's balance would overflow", ErrInsufficientBalance, st.To)
	}

	if err := s.putAccount(b, from); err != nil {
		return w, err
	}
	if !ok {
		to = Account{Index: st.To, Key: st.ToKey}
		w.ToNew = true
	}
	w.ToBalance, w.ToNonce = to.Balance, to.Nonce
	if w.ToPath, err = s.Path(b, st.To); err != nil {
		return w, err
	}
	to.Balance += st.Amount
	if err := s.putAccount(b, to); err != nil {
		return w, err
	}
	w.RootAfter, err = s.Root(b)
	return w, err
}
