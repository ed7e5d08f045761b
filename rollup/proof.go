package rollup

import (
	"fmt"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
)

// VerifyAccount checks that account a's leaf, with the siblings path (leaf
// level first, three per level, as State.Path returns), gives root. A light
// client calls it with a root it read from the sidechain, so it trusts the
// chain, not the operator that sent the account and the path. Errors wrap
// ErrBadWitness (the account is not in that tree) or ErrMalformed.
func VerifyAccount(root [32]byte, a Account, path [][32]byte) error {
	leaf, err := a.Leaf()
	if err != nil {
		return err
	}
	got, err := rootOf(leaf, a.Index, path)
	if err != nil {
		return err
	}
	if got.Bytes() != root {
		return fmt.Errorf("%w: account %d (balance %d, nonce %d) is not in the tree with root %x", ErrBadWitness, a.Index, a.Balance, a.Nonce, root[:8])
	}
	return nil
}

// VerifyEmpty checks that the slot at index is empty in the tree with root:
// its leaf is 0 with the siblings path. Errors wrap ErrBadWitness or
// ErrMalformed.
func VerifyEmpty(root [32]byte, index uint32, path [][32]byte) error {
	got, err := rootOf(fr.Element{}, index, path)
	if err != nil {
		return err
	}
	if got.Bytes() != root {
		return fmt.Errorf("%w: slot %d is not empty in the tree with root %x", ErrBadWitness, index, root[:8])
	}
	return nil
}

// rootOf hashes leaf at index up a 4-ary tree with the siblings path.
func rootOf(leaf fr.Element, index uint32, path [][32]byte) (fr.Element, error) {
	if len(path) < 3 || len(path) > PathLen(32) || len(path)%3 != 0 {
		return leaf, fmt.Errorf("%w: Merkle path of %d siblings (three per level, 1 to 16 levels)", ErrMalformed, len(path))
	}
	levels := len(path) / 3
	if uint64(index)>>(2*levels) != 0 {
		return leaf, fmt.Errorf("%w: index %d beyond a path of %d levels", ErrMalformed, index, levels)
	}
	node := leaf
	idx := index
	for l := 0; l < levels; l++ {
		var children [4]fr.Element
		k := 3 * l
		for c := uint32(0); c < 4; c++ {
			if c == idx&3 {
				children[c] = node
				continue
			}
			sib, err := elementOf(path[k])
			if err != nil {
				return leaf, err
			}
			children[c] = sib
			k++
		}
		node = compress4(children)
		idx >>= 2
	}
	return node, nil
}
