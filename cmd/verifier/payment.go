package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/ppstore/ppstore/discover"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/verifier"
	"github.com/ppstore/ppstore/verifier/zkpay"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
)

// paidVerifier is a verifier that pays passed proofs through the zkStore:
// Close ends the verifier's rounds before it closes the payment ledger.
type paidVerifier struct {
	*verifier.Peer
	payer *zkpay.Payer
}

// Run serves the verifier and watches the payment ledger: a ledger whose
// disk failed stops the verifier (internal/pebbledb).
func (v *paidVerifier) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	wctx, stop := context.WithCancel(gctx)
	g.Go(func() error {
		defer stop() // the verifier ended (closed, or ctx done): so does the watch
		return v.Peer.Run(gctx)
	})
	g.Go(func() error { return v.payer.Watch(wctx) })
	return g.Wait()
}

func (v *paidVerifier) Close() error {
	err := v.Peer.Close()
	if perr := v.payer.Close(); err == nil {
		err = perr
	}
	return err
}

// withPayer gives v a zkpay payer (payment.zkstore = true): its wallet key
// beside the verifier's identity, its calls on the verifier's node, the
// operator and the miners found at the region's bootstraps. A settlement
// takes at most half an epoch (and 10s), so a round is never held up long.
func withPayer(v *verifier.Peer, log *slog.Logger, reg prometheus.Registerer) (*paidVerifier, error) {
	cfg := v.Config()
	id, err := identity.LoadOrCreate(filepath.Join(cfg.DataDir, identity.KeyFile))
	if err != nil {
		v.Close()
		return nil, err
	}
	seeds, _ := discover.ParseSeeds(cfg.Bootstrap) // checked by verifier.New
	var disc *discover.Client
	if len(seeds) > 0 {
		disc = discover.NewClient(v.Node(), seeds)
	}
	pay, err := zkpay.New(zkpay.Config{DataDir: cfg.DataDir, Region: cfg.Region, Payment: cfg.Payment, Timeout: min(cfg.Epoch/2, 10*time.Second),
		KeepPaidEpochs: cfg.KeepEpochs}, // payments stay looked-up as long as the rounds they pay
		id, v.Node(), disc, log, reg)
	if err != nil {
		v.Close()
		return nil, err
	}
	v.SetPayer(pay)
	return &paidVerifier{Peer: v, payer: pay}, nil
}
