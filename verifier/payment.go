package verifier

import (
	"context"
	"log/slog"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/identity"
)

// PassEvent is one passed proof of spacetime: what a micropayment pays for.
type PassEvent struct {
	Epoch uint64
	Miner identity.PeerID
	Shard cid.Cid
}

// Payer receives an event for each passed proof. The zkStore issue
// connects it to a micropayment from the deal's escrow; until then the
// verifier logs the events (LogPayer). Pay is called from the round chore,
// once per pass, after the round's states are durable; an error is logged
// and does not change the verdict.
type Payer interface {
	Pay(ctx context.Context, ev PassEvent) error
}

// LogPayer logs each pass at debug level.
type LogPayer struct{ Log *slog.Logger }

// Pay logs ev.
func (l LogPayer) Pay(_ context.Context, ev PassEvent) error {
	l.Log.Debug("pass", "epoch", ev.Epoch, "miner", ev.Miner.Short(), "shard", ev.Shard)
	return nil
}
