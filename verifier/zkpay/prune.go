package zkpay

import (
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble"
)

// DefaultKeepPaidEpochs is how many epochs of paid-pass records the ledger
// keeps by default: the verifier's default keep_epochs (verifier.Config),
// so the payments of every round whose record the verifier keeps can be
// looked up beside it.
const DefaultKeepPaidEpochs = 64

// maxPrunePerSettlement bounds the paid records one settlement prunes, so
// that the first settlement over a long unpruned ledger does not hold up a
// round: the rest goes at the next settlements.
const maxPrunePerSettlement = 50_000

// pruneKey is the first 'd' key of epoch.
func pruneKey(epoch uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{'d'}, epoch)
}

// prune deletes the paid records ('d') of the passes of epochs before
// r-KeepPaidEpochs+1 (r the last epoch handed over), whole epochs at a
// time and about pruneStep records at most, and raises the floor ('p') to
// the first epoch it kept, in one synced write. Passes below the floor are
// never recorded again (record), so a pass pruned cannot be owed twice. The
// scan starts at the first 'd' key, not at the floor: a pass owed for long
// (a miner without a wallet, the account out of funds) is paid, and
// recorded as paid, after its epoch fell below the floor.
func (p *Payer) prune() error {
	last, ok := p.meta('r')
	keep := uint64(p.cfg.KeepPaidEpochs)
	if !ok || last < keep {
		return nil
	}
	target := last - keep + 1 // the first epoch kept
	floor, _ := p.meta('p')
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: []byte{'d'}, UpperBound: pruneKey(target)})
	if err != nil {
		return err
	}
	n, upto, epoch := 0, target, uint64(0)
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		if len(k) < 9 {
			it.Close()
			return fmt.Errorf("zkpay: ledger: bad paid-pass key %x", k)
		}
		e := binary.BigEndian.Uint64(k[1:9])
		if n >= p.pruneStep && e != epoch {
			upto = e // the rest at the next settlement
			break
		}
		n, epoch = n+1, e
	}
	if err := it.Close(); err != nil {
		return err
	}
	if n == 0 && upto <= floor {
		return nil
	}
	b := p.db.NewBatch()
	defer b.Close()
	if n > 0 {
		if err := b.DeleteRange([]byte{'d'}, pruneKey(upto), nil); err != nil {
			return err
		}
	}
	if upto > floor {
		if err := b.Set([]byte{'p'}, binary.BigEndian.AppendUint64(nil, upto), nil); err != nil {
			return err
		}
	}
	if err := p.db.Commit(b, pebble.Sync); err != nil {
		return fmt.Errorf("zkpay: prune the paid passes before epoch %d: %w", upto, err)
	}
	p.metrics.pruned.Add(float64(n))
	if n > 0 {
		p.log.Debug("pruned the ledger's paid passes", "records", n, "before_epoch", upto)
	}
	return nil
}
