package wallet

import (
	"context"
	"fmt"

	"github.com/ppstore/ppstore/rollup"
	"github.com/ppstore/ppstore/wire"
)

// Account returns the wallet's account as the operator holds it now
// (pending state: every accepted transfer applied; Found false if the key
// has no account yet).
func (w *Wallet) Account(ctx context.Context) (*wire.AccountState, error) {
	return w.account(ctx, w.Address())
}

// Prepare signs, without sending, a transfer of amount from the wallet's
// account me (as Account returned it, or with its nonce advanced past
// transfers prepared since) to the account holding key to, opening one if
// it has none. The result can be stored and given to Submit, once or again
// after a crash: the operator applies a nonce once, so a resubmitted
// transfer that was accepted before is refused with wire.ErrBadNonce and
// never paid twice. Errors: ErrNoAccount, wire.ErrInsufficientBalance
// (against me.Balance), an invalid key.
func (w *Wallet) Prepare(ctx context.Context, me *wire.AccountState, to rollup.PublicKey, amount uint64) (*wire.SubmitTransfer, error) {
	if err := to.Valid(); err != nil {
		return nil, err
	}
	if !me.Found {
		return nil, ErrNoAccount
	}
	if me.Balance < amount {
		return nil, fmt.Errorf("%w: the account holds %d (pending), the transfer is %d", wire.ErrInsufficientBalance, me.Balance, amount)
	}
	toIndex := me.Index
	if to != w.Address() {
		dst, err := w.account(ctx, to)
		if err != nil {
			return nil, err
		}
		toIndex = dst.Index
		if !dst.Found {
			toIndex = dst.NextFree
		}
	}
	tr := rollup.Transfer{From: me.Index, To: toIndex, Amount: amount, Nonce: me.Nonce, ToKey: to}
	st, err := rollup.Sign(w.key, rollup.RegionTag(w.region), tr)
	if err != nil {
		return nil, err
	}
	return &wire.SubmitTransfer{Region: w.region, From: tr.From, To: tr.To, Amount: tr.Amount, Nonce: tr.Nonce, ToKey: tr.ToKey, Signature: st.Sig}, nil
}

// Submit sends a transfer made by Prepare and returns once the operator
// durably queued it. Errors are the operator's refusals as wire sentinels
// (wire.ErrBadNonce for a nonce already used, ...) or the transport's.
func (w *Wallet) Submit(ctx context.Context, m *wire.SubmitTransfer) (Sent, error) {
	var acc wire.TransferAccepted
	if err := w.call(ctx, m, &acc); err != nil {
		return Sent{}, err
	}
	return Sent{Seq: acc.Seq, From: m.From, To: m.To, Amount: m.Amount, Nonce: m.Nonce}, nil
}
