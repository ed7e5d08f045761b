package zkpay

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/rollup"
	"github.com/ppstore/ppstore/wallet"
	"github.com/ppstore/ppstore/wire"
)

// maxParallelAsks bounds the miners asked for their wallet binding at once.
const maxParallelAsks = 16

// Results of asking a miner for its wallet binding at a settlement, the
// label of ppstore_verifier_wallet_bindings_total.
const (
	bindingVerified = "verified" // the miner served a valid binding naming it; its account is the ledger's (or the first)
	bindingRebound  = "rebound"  // the miner served a valid binding for a new account; the ledger now names it
	bindingFallback = "fallback" // the miner could not be reached or served nothing valid; the ledger's account is paid
)

// accountResult is a miner's account for one settlement, or why it has none.
type accountResult struct {
	acct rollup.PublicKey
	err  error // ErrNoWallet, or the miner out of reach; only when the ledger has no account for it
}

// accounts returns the account each miner is paid into at this settlement.
// Every miner is asked for its current wallet binding (wire.GetWalletBinding),
// all at once, each call bounded by Config.BindingTimeout so that a slow or
// silent miner delays the settlement by that much at most, whatever the
// number of miners. A binding that verifies and names the miner is used,
// and kept in the ledger ('a') when it names a new account; otherwise the
// miner is paid into the account of the last binding it served that
// verified. A miner with no verified binding ever gets an error: ErrNoWallet
// when it has none (or serves an invalid one), else why it was not reached.
// Only a failing ledger makes accounts itself fail.
func (p *Payer) accounts(ctx context.Context, miners []identity.PeerID) (map[identity.PeerID]accountResult, error) {
	addrOf := p.addressBook()
	served := make([]wallet.Binding, len(miners))
	errs := make([]error, len(miners))
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxParallelAsks)
	for i, m := range miners {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			served[i], errs[i] = p.askBinding(ctx, addrOf, m)
		})
	}
	wg.Wait()
	out := make(map[identity.PeerID]accountResult, len(miners))
	for i, m := range miners {
		acct, err := p.adopt(m, served[i], errs[i])
		if err != nil && !errors.Is(err, ErrNoWallet) && !errors.Is(err, errUnreachable) {
			return nil, err // the ledger
		}
		out[m] = accountResult{acct: acct, err: err}
	}
	return out, nil
}

// accountOf is accounts for one miner.
func (p *Payer) accountOf(ctx context.Context, miner identity.PeerID) (rollup.PublicKey, error) {
	res, err := p.accounts(ctx, []identity.PeerID{miner})
	if err != nil {
		return rollup.PublicKey{}, err
	}
	return res[miner].acct, res[miner].err
}

// errUnreachable marks a miner that could not be asked for its binding.
var errUnreachable = errors.New("zkpay: the miner could not be asked for its wallet binding")

// askBinding asks miner for its wallet binding and checks it: both
// signatures, and that it names miner. Errors wrap ErrNoWallet (no
// binding, or one that does not verify or names another peer) or
// errUnreachable.
func (p *Payer) askBinding(ctx context.Context, addrOf func(context.Context, identity.PeerID) (string, error), miner identity.PeerID) (wallet.Binding, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.BindingTimeout)
	defer cancel()
	addr, err := addrOf(ctx, miner)
	if err != nil {
		return wallet.Binding{}, fmt.Errorf("%w: %w", errUnreachable, err)
	}
	var resp wire.WalletBinding
	if err := p.node.Call(ctx, wire.NodeAddr{Peer: miner, Addr: addr}, &wire.GetWalletBinding{}, &resp); err != nil {
		if errors.Is(err, wire.ErrNoWallet) {
			return wallet.Binding{}, fmt.Errorf("%w: %v", ErrNoWallet, err)
		}
		return wallet.Binding{}, fmt.Errorf("%w: miner %s: %w", errUnreachable, miner.Short(), err)
	}
	b, err := wallet.ParseBinding(resp.Binding)
	if err != nil {
		return wallet.Binding{}, fmt.Errorf("%w: miner %s: %v", ErrNoWallet, miner.Short(), err)
	}
	if b.Peer != miner {
		return wallet.Binding{}, fmt.Errorf("%w: miner %s served a binding for peer %s", ErrNoWallet, miner.Short(), b.Peer.Short())
	}
	return b, nil
}

// adopt decides a miner's account from what it served (b, or askErr) and
// the ledger's account for it, and records a verified new account.
func (p *Payer) adopt(miner identity.PeerID, b wallet.Binding, askErr error) (rollup.PublicKey, error) {
	cached, ok, err := p.ledgerAccount(miner)
	if err != nil {
		return rollup.PublicKey{}, err
	}
	if askErr != nil {
		if !ok {
			return rollup.PublicKey{}, askErr
		}
		p.metrics.bindings.WithLabelValues(bindingFallback).Inc()
		p.log.Warn("cannot get a miner's current wallet binding: paying the account of the last one that verified",
			"miner", miner.Short(), "account", cached.String(), "err", askErr)
		return cached, nil
	}
	if ok && cached == b.Account {
		p.metrics.bindings.WithLabelValues(bindingVerified).Inc()
		return cached, nil
	}
	if err := p.db.Set(prefixed('a', miner.Bytes()), b.Account[:], pebble.Sync); err != nil {
		return rollup.PublicKey{}, err
	}
	if ok {
		p.metrics.bindings.WithLabelValues(bindingRebound).Inc()
		p.log.Info("a miner bound a new wallet: paying its new account from now on", "miner", miner.Short(),
			"old_account", cached.String(), "new_account", b.Account.String())
	} else {
		p.metrics.bindings.WithLabelValues(bindingVerified).Inc()
	}
	return b.Account, nil
}

// ledgerAccount is the account of the miner's last verified binding.
func (p *Payer) ledgerAccount(miner identity.PeerID) (rollup.PublicKey, bool, error) {
	var acct rollup.PublicKey
	v, c, err := p.db.Get(prefixed('a', miner.Bytes()))
	if errors.Is(err, pebble.ErrNotFound) {
		return acct, false, nil
	}
	if err != nil {
		return acct, false, err
	}
	defer c.Close()
	if len(v) != len(acct) {
		return acct, false, fmt.Errorf("zkpay: ledger: miner %s's account is %d bytes, want %d", miner.Short(), len(v), len(acct))
	}
	copy(acct[:], v)
	return acct, true, nil
}

// addressBook returns how to find a miner's address for this settlement:
// Config.MinerAddr, or the miners' records at the bootstrap, listed once
// (bounded by Config.BindingTimeout) rather than once per miner.
func (p *Payer) addressBook() func(context.Context, identity.PeerID) (string, error) {
	if p.cfg.MinerAddr != nil {
		return p.cfg.MinerAddr
	}
	var once sync.Once
	var addrs map[identity.PeerID]string
	var listErr error
	return func(ctx context.Context, miner identity.PeerID) (string, error) {
		once.Do(func() { addrs, listErr = p.listMiners(ctx) })
		if listErr != nil {
			return "", listErr
		}
		if a, ok := addrs[miner]; ok {
			return a, nil
		}
		return "", fmt.Errorf("zkpay: miner %s is not registered at the bootstrap", miner.Short())
	}
}

// listMiners lists the miners' first addresses at the bootstrap.
func (p *Payer) listMiners(ctx context.Context) (map[identity.PeerID]string, error) {
	if p.disc == nil {
		return nil, errors.New("zkpay: no bootstrap to find the miners at")
	}
	recs, err := p.disc.List(ctx, wire.RoleMiner)
	if err != nil {
		return nil, fmt.Errorf("zkpay: list miners at the bootstrap: %w", err)
	}
	out := make(map[identity.PeerID]string, len(recs))
	for _, r := range recs {
		if len(r.Addrs) > 0 {
			out[r.Peer] = r.Addrs[0]
		}
	}
	return out, nil
}
