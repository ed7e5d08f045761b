package miner

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/wire"
)

// walletBindingFile is the wallet binding beside the miner's identity key
// (package wallet's BindingFile, named here so the miner does not build
// the rollup's proof system). A miner's operator creates it with
// `ppstore --identity MINER_DATA_DIR wallet address`; the devnet creates it
// for its miners.
const walletBindingFile = "wallet.binding"

// handleGetWalletBinding answers with the miner's wallet binding, the
// account the verifier pays for passed proofs. The miner serves the file as
// it is: the asker checks both signatures and that it names this peer.
func (p *Peer) handleGetWalletBinding(_ context.Context, _ identity.PeerID, _ *wire.GetWalletBinding) (wire.Message, error) {
	b, err := os.ReadFile(filepath.Join(p.cfg.DataDir, walletBindingFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, wire.Errorf(wire.CodeNoWallet, "miner %s has no wallet key bound to its identity (its operator runs `ppstore --identity DATA_DIR wallet address`)", p.short)
	case err != nil:
		return nil, fmt.Errorf("miner: read the wallet binding: %w", err)
	case len(b) > wire.MaxWalletBinding:
		return nil, wire.Errorf(wire.CodeNoWallet, "miner %s: its wallet binding file is %d bytes, not a binding", p.short, len(b))
	}
	return &wire.WalletBinding{Binding: b}, nil
}
