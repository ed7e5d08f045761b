package rollup

import (
	"fmt"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
)

// VerifyAccount checks that account a's leaf, with the siblings path (leaf
// level first, as State.Path returns), gives root. A light client calls it
// with a root it read from the sidechain, so it trusts the chain, not the
// operator that sent the account and the path. Errors wrap ErrBadWitness (the
// account is not in that tree) or ErrMalformed.
func VerifyAccount(root [32]byte, a Account, path [][32]byte) error {
	if len(path) < 1 || len(path) > 32 || uint64(a.Index)>>len(path) != 0 {
		return fmt.Errorf("%w: path of %d for index %d", ErrMalformed, len(path), a.Index)
	}
	leaf, err := a.Leaf()
	if err != nil {
		return err
	}
	node := leaf
	idx := a.Index
	for _, p := range path {
		sib, err := elementOf(p)
		if err != nil {
			return err
		}
		if idx&1 == 0 {
			node = compress(node, sib)
		} else {
			node = compress(sib, node)
		}
		idx >>= 1
	}
	if node.Bytes() != root {
		return fmt.Errorf("%w: account %d (balance %d, nonce %d) is not in the tree with root %x", ErrBadWitness, a.Index, a.Balance, a.Nonce, root[:8])
	}
	return nil
}

// VerifyEmpty checks that the slot at index is empty in the tree with root:
// its leaf is 0 with the siblings path. Errors wrap ErrBadWitness or
// ErrMalformed.
func VerifyEmpty(root [32]byte, index uint32, path [][32]byte) error {
	if len(path) < 1 || len(path) > 32 || uint64(index)>>len(path) != 0 {
		return fmt.Errorf("%w: path of %d for index %d", ErrMalformed, len(path), index)
	}
	var node fr.Element
	idx := index
	for _, p := range path {
		sib, err := elementOf(p)
		if err != nil {
			return err
		}
		if idx&1 == 0 {
			node = compress(node, sib)
		} else {
			node = compress(sib, node)
		}
		idx >>= 1
	}
	if node.Bytes() != root {
		return fmt.Errorf("%w: slot %d is not empty in the tree with root %x", ErrBadWitness, index, root[:8])
	}
	return nil
}
