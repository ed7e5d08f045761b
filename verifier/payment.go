package verifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/transport"
)

// PassEvent is one passed proof of spacetime: what a micropayment pays for.
type PassEvent struct {
	Epoch uint64
	Miner identity.PeerID
	Shard cid.Cid
}

// Payer receives an event for each passed proof. Pay is called from the
// round chore, once per pass, after the round's states are durable; an
// error is logged and does not change the verdict. LogPayer (the default)
// only logs; package verifier/zkpay pays through the region's zkStore.
type Payer interface {
	Pay(ctx context.Context, ev PassEvent) error
}

// RoundPayer is a Payer that takes a whole round's passes at once (so it
// can pay each miner once per round rather than once per replica). When the
// Payer set with SetPayer implements it, the round chore calls PayRound
// once per judged round, with every pass of epoch (possibly none), instead
// of Pay per pass. It must not block the round for long: a payer that cannot
// reach its payment rail records what it owes and returns.
type RoundPayer interface {
	Payer
	PayRound(ctx context.Context, epoch uint64, passes []PassEvent) error
}

// LogPayer logs each pass at debug level.
type LogPayer struct{ Log *slog.Logger }

// Pay logs ev.
func (l LogPayer) Pay(_ context.Context, ev PassEvent) error {
	l.Log.Debug("pass", "epoch", ev.Epoch, "miner", ev.Miner.Short(), "shard", ev.Shard)
	return nil
}

// PaymentConfig is the verifier's `payment` table: how passed proofs are
// paid. The zero value pays nothing (LogPayer). cmd/verifier reads it and
// sets a verifier/zkpay payer when ZkStore is on.
type PaymentConfig struct {
	// ZkStore pays each miner through the region's zkstore operator, from
	// the verifier's wallet account (wallet.key beside its identity key).
	ZkStore bool `toml:"zkstore"`
	// PricePerProof is what one passed proof of spacetime of one replica
	// earns, in zkStore units; default DefaultPricePerProof.
	PricePerProof uint64 `toml:"price_per_proof"`
	// SettleEvery is how many epochs the payer lets owed passes add up
	// before it settles them, one transfer per miner; default 1 (every round).
	SettleEvery int `toml:"settle_every"`
}

// DefaultPricePerProof is the default price of one passed proof, in zkStore
// units (docs/ZKSTORE.md, "Micropayments").
const DefaultPricePerProof = 10

// EnsureDefaults fills zero fields with their defaults.
func (c *PaymentConfig) EnsureDefaults() {
	if c.PricePerProof == 0 {
		c.PricePerProof = DefaultPricePerProof
	}
	if c.SettleEvery <= 0 {
		c.SettleEvery = 1
	}
}

// Validate reports settings that cannot work.
func (c *PaymentConfig) Validate() error {
	if c.SettleEvery > 1_000_000 {
		return fmt.Errorf("payment.settle_every %d: at most 1,000,000 epochs", c.SettleEvery)
	}
	return nil
}

// Node is the verifier's transport node, for a payer that calls miners and
// the zkstore operator with the verifier's identity.
func (p *Peer) Node() *transport.Node { return p.node }

// Config is the verifier's configuration with defaults filled in.
func (p *Peer) Config() Config { return p.cfg }

// pay hands a judged round's passes to the payer: all at once to a
// RoundPayer, else one by one. Errors are logged and counted, never
// returned: a payment never blocks or fails a round.
func (p *Peer) pay(ctx context.Context, epoch uint64, passes []PassEvent) {
	if rp, ok := p.payer.(RoundPayer); ok {
		if err := rp.PayRound(ctx, epoch, passes); err != nil && !errors.Is(err, context.Canceled) {
			p.log.Warn("payment for a round failed", "epoch", epoch, "passes", len(passes), "err", err)
		}
		return
	}
	for _, ev := range passes {
		if err := p.payer.Pay(ctx, ev); err != nil {
			p.log.Warn("payment for a pass failed", "miner", ev.Miner.Short(), "shard", ev.Shard, "epoch", epoch, "err", err)
		}
	}
}
