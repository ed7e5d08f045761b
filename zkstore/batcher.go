package zkstore

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ppstore/ppstore/rollup"
	"github.com/ppstore/ppstore/wire"
)

// Batcher is the chore that seals batches, proves them and submits them to
// the chain, in order. Run calls RunOnce every interval and whenever a full
// batch is waiting; tests call RunOnce directly.
type Batcher struct {
	store    *Store
	region   string
	log      *slog.Logger
	metrics  *metrics
	maxWait  time.Duration
	interval time.Duration
	wake     chan struct{}

	mu    sync.Mutex // one RunOnce at a time; guards keys and chain
	keys  *rollup.Keys
	chain Chain
	ready chan struct{} // closed once keys are set
}

func newBatcher(s *Store, region string, log *slog.Logger, m *metrics, maxWait, interval time.Duration) *Batcher {
	return &Batcher{store: s, region: region, log: log, metrics: m, maxWait: maxWait, interval: interval,
		wake: make(chan struct{}, 1), ready: make(chan struct{})}
}

// setKeys installs the circuit's keys; batches are proven from then on.
func (b *Batcher) setKeys(k *rollup.Keys) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.keys == nil {
		b.keys = k
		close(b.ready)
	}
}

func (b *Batcher) setChain(c Chain) {
	b.mu.Lock()
	b.chain = c
	b.mu.Unlock()
}

// Wake asks Run for a round soon (a full batch is waiting).
func (b *Batcher) Wake() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Run calls RunOnce until ctx is done. Failures are logged and retried at the
// next round.
func (b *Batcher) Run(ctx context.Context) error {
	t := time.NewTicker(b.interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-b.wake:
		case <-b.ready:
			b.ready = nil // a nil channel never fires again
		}
		err := b.RunOnce(ctx, false)
		switch {
		case err != nil && ctx.Err() == nil:
			b.metrics.batchFailures.Inc()
			if !failing {
				b.log.Warn("batch round failed; retrying", "err", err)
			}
			failing = true
		case err == nil && failing:
			b.log.Info("batches flow again")
			failing = false
		}
	}
}

// RunOnce seals what is due (every batch when force is set), proves every
// sealed batch without a proof and submits proven batches in order. Without
// keys it only seals; without a chain it does not submit.
func (b *Batcher) RunOnce(ctx context.Context, force bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.store.Cut(force, b.maxWait)
	if err != nil {
		return err
	}
	if n > 0 {
		b.log.Info("batches sealed", "count", n)
	}
	if b.keys == nil {
		return nil
	}
	_, _, nextBatch, accepted := b.store.counters()
	for num := accepted + 1; num < nextBatch; num++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, ok, err := b.store.batch(b.store.db, num)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("zkstore: batch %d has no record", num)
		}
		if rec.State == wire.BatchCut {
			if rec, err = b.prove(rec); err != nil {
				return err
			}
		}
		if b.chain == nil {
			continue
		}
		if err := b.submit(ctx, rec); err != nil {
			return err
		}
	}
	return nil
}

func (b *Batcher) prove(rec batchRecord) (batchRecord, error) {
	ws, err := b.store.witnesses(rec)
	if err != nil {
		return rec, err
	}
	start := time.Now()
	data, proof, err := b.keys.Prove(b.store.tag, ws)
	if err != nil {
		return rec, fmt.Errorf("zkstore: prove batch %d: %w", rec.Number, err)
	}
	took := time.Since(start)
	b.metrics.proveSeconds.Observe(took.Seconds())
	rec.State, rec.Proof, rec.Data, rec.ProofMs = wire.BatchProven, proof, data, uint64(took.Milliseconds())
	if err := b.store.putBatch(rec); err != nil {
		return rec, err
	}
	b.log.Info("batch proven", "batch", rec.Number, "transfers", rec.Count, "took", took.Round(time.Millisecond))
	return rec, nil
}

// submit sends a proven batch unless the chain already holds its root (a
// submission acknowledged before a crash), then records its acceptance.
func (b *Batcher) submit(ctx context.Context, rec batchRecord) error {
	root, height, err := b.chain.Root(ctx, b.region)
	if err != nil {
		return fmt.Errorf("zkstore: read the region's root from the chain: %w", err)
	}
	switch root {
	case rec.Next:
		// Accepted before a crash: record it.
	case rec.Prev:
		if height, err = b.chain.SubmitBatch(ctx, b.region, rec.Prev, rec.Next, rec.Data, rec.Proof); err != nil {
			b.metrics.submissions.WithLabelValues("failed").Inc()
			return fmt.Errorf("zkstore: submit batch %d: %w", rec.Number, err)
		}
		b.metrics.submissions.WithLabelValues("ok").Inc()
	default:
		b.metrics.submissions.WithLabelValues("diverged").Inc()
		return fmt.Errorf("%w: chain %x, batch %d goes from %x", ErrChainDiverged, root[:8], rec.Number, rec.Prev[:8])
	}
	if err := b.store.markAccepted(rec, uint64(max(height, 0))); err != nil {
		return err
	}
	b.log.Info("batch accepted", "batch", rec.Number, "height", height)
	return nil
}
