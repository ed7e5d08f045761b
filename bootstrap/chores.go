package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/ppstore/ppstore/discover"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
)

// syncTimeout bounds one request to a seed.
const syncTimeout = 10 * time.Second

// Sweeper is the chore that drops expired records from memory. Expired
// records are never served even before it runs; it only frees their memory.
type Sweeper struct {
	p        *Peer
	interval time.Duration
}

// RunOnce drops every entry whose records have all expired.
func (s *Sweeper) RunOnce(context.Context) error {
	if n := s.p.table.sweep(s.p.unixNow()); n > 0 {
		s.p.log.Debug("swept expired records", "count", n)
	}
	return nil
}

// Run sweeps every interval until ctx is done.
func (s *Sweeper) Run(ctx context.Context) error {
	return every(ctx, s.interval, false, s.RunOnce, s.p.log, "sweep")
}

// Syncer is the chore that pulls records from the seed bootstraps of the
// region. Every record is checked as if it had been registered here (except
// for the sender rule), so a seed cannot forge, revive or downgrade records.
type Syncer struct {
	p        *Peer
	seeds    []wire.NodeAddr
	dnsSeed  string
	resolver discover.Resolver
	interval time.Duration
}

// Seeds returns the configured seeds (those found in DNS are looked up at
// every RunOnce).
func (s *Syncer) Seeds() []wire.NodeAddr { return slices.Clone(s.seeds) }

// RunOnce asks every seed (configured, then found in DNS) for its records of
// every role and merges them. It returns the failures joined; the records of
// the seeds that answered are merged regardless.
func (s *Syncer) RunOnce(ctx context.Context) error {
	var errs []error
	seeds := s.seeds
	if s.dnsSeed != "" {
		found, err := discover.SeedsFromDNS(ctx, s.resolver, s.dnsSeed)
		if err != nil {
			errs = append(errs, fmt.Errorf("bootstrap: seeds from DNS: %w", err))
		}
		for _, a := range s.p.withoutSelf(found) {
			if !slices.Contains(seeds, a) {
				seeds = append(slices.Clip(seeds), a)
			}
		}
	}
	for _, seed := range seeds {
		if err := s.pull(ctx, seed); err != nil {
			s.p.metrics.syncErrors.Inc()
			errs = append(errs, fmt.Errorf("bootstrap: sync from %v at %s: %w", seed.Peer.Short(), seed.Addr, err))
		}
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

// pull asks one seed role by role, so that every role gets its own
// ListNodes limit.
func (s *Syncer) pull(ctx context.Context, seed wire.NodeAddr) error {
	merged, dropped := 0, 0
	var refused []error
	for _, role := range roles {
		var list wire.NodeList
		cctx, cancel := context.WithTimeout(ctx, syncTimeout)
		err := call(cctx, s.p.node, seed, &wire.ListNodes{Role: role}, &list)
		cancel()
		var we *wire.Error
		if errors.As(err, &we) {
			// The seed answered but refused this role (an older version
			// may not know it): go on with the other roles.
			refused = append(refused, fmt.Errorf("list %v: %w", role, err))
			continue
		}
		if err != nil {
			return err
		}
		for i := range list.Records {
			ok, err := s.merge(&list.Records[i])
			switch {
			case ok:
				merged++
			case err != nil:
				dropped++
				s.p.log.Debug("dropped record from seed", "seed", seed.Peer.Short(), "err", err)
			}
		}
	}
	if merged > 0 || dropped > 0 {
		s.p.log.Debug("synced from seed", "seed", seed.Peer.Short(), "merged", merged, "dropped", dropped)
	}
	return errors.Join(refused...)
}

// merge stores rec if it is valid and newer than what the table holds. A
// record that is not newer is skipped without error (and without checking
// its signature, which is the expensive part).
func (s *Syncer) merge(rec *wire.NodeRecord) (bool, error) {
	if seq, ok := s.p.table.seq(rec.Peer); ok && rec.Seq <= seq {
		return false, nil
	}
	now := s.p.now()
	if reason, err := s.p.check(rec, now); err != nil {
		s.p.metrics.reject(sourceSync, reason)
		return false, err
	}
	if err := s.p.table.put(rec, uint64(now.Unix())); err != nil {
		if errors.Is(err, wire.ErrConflict) { // a registration raced ahead
			return false, nil
		}
		s.p.metrics.reject(sourceSync, reasonFull)
		return false, err
	}
	s.p.metrics.syncMerged.Inc()
	return true, nil
}

// Run syncs at once and then every interval until ctx is done. Failures are
// logged and retried at the next round.
func (s *Syncer) Run(ctx context.Context) error {
	if len(s.seeds) == 0 && s.dnsSeed == "" {
		<-ctx.Done()
		return nil
	}
	return every(ctx, s.interval, true, s.RunOnce, s.p.log, "seed sync")
}

// every calls once every interval (and at start if now is set) until ctx is
// done, logging its errors.
func every(ctx context.Context, interval time.Duration, now bool, once func(context.Context) error, log *slog.Logger, name string) error {
	if now {
		if err := once(ctx); err != nil && ctx.Err() == nil {
			log.Warn(name+" failed", "err", err)
		}
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := once(ctx); err != nil && ctx.Err() == nil {
				log.Warn(name+" failed", "err", err)
			}
		}
	}
}

// call is transport.Node.Call except that a failure to close the send side
// is not fatal: the server stops reading (STOP_SENDING) as soon as it has the
// request, and when that arrives before CloseWrite, quic-go refuses the close
// although the request was delivered and the answer is on its way.
func call(ctx context.Context, n *transport.Node, to wire.NodeAddr, req, resp wire.Message) error {
	s, err := n.Open(ctx, to)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Send(req); err != nil {
		return err
	}
	_ = s.CloseWrite() // see above; a real failure shows up in Expect
	return s.Expect(resp)
}
