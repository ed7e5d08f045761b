package zkstore

import "github.com/prometheus/client_golang/prometheus"

// metrics are the operator's Prometheus series.
type metrics struct {
	transfers     *prometheus.CounterVec // by result
	proveSeconds  prometheus.Histogram
	submissions   *prometheus.CounterVec // by result: ok, failed, diverged
	batchFailures prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, s *Store) (*metrics, error) {
	m := &metrics{
		transfers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ppstore_zkstore_transfers_total",
			Help: "Submitted transfers, by result (ok, bad_signature, bad_nonce, insufficient_balance, wrong_region, rejected, failed).",
		}, []string{"result"}),
		proveSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ppstore_zkstore_prove_seconds",
			Help:    "Time to prove one batch.",
			Buckets: prometheus.ExponentialBuckets(0.25, 2, 10), // 0.25 s .. 128 s
		}),
		submissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ppstore_zkstore_submissions_total",
			Help: "Batch submissions to the sidechain, by result (ok, failed, diverged).",
		}, []string{"result"}),
		batchFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ppstore_zkstore_batch_round_failures_total",
			Help: "Batcher rounds that failed (sealing, proving or submitting); retried.",
		}),
	}
	cs := []prometheus.Collector{m.transfers, m.proveSeconds, m.submissions, m.batchFailures,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ppstore_zkstore_pending_transfers",
			Help: "Accepted transfers not yet in a batch the sidechain accepted (padding included).",
		}, func() float64 { return float64(s.pendingCount()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ppstore_zkstore_accepted_batch",
			Help: "Number of the last batch the sidechain accepted.",
		}, func() float64 { _, _, _, a := s.counters(); return float64(a) }),
	}
	cs = append(cs, s.db.Collectors()...) // disk-full figures (internal/pebbledb)
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
