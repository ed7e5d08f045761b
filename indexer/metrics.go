package indexer

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the indexer's Prometheus series.
type metrics struct {
	commits           *prometheus.CounterVec // by result: ok, rejected, failed
	locates           *prometheus.CounterVec // by result: ok, not_found, rejected, failed
	locateSeconds     prometheus.Histogram
	placements        prometheus.Counter
	placementFailures *prometheus.CounterVec // by code
	refreshFailures   prometheus.Counter
	reservations      *prometheus.CounterVec // by outcome: held, wait, placed, refused
	leasesReclaimed   prometheus.Counter
	replicasDropped   prometheus.Counter
	proofReports      *prometheus.CounterVec // by kind (proven, replace) and result (ok, refused)
}

func newMetrics(reg prometheus.Registerer, store *Store, placer *Placer) (*metrics, error) {
	m := &metrics{
		commits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ppstore_indexer_commits_total",
			Help: "Commit requests, by result (ok, rejected: bad input, failed: internal error).",
		}, []string{"result"}),
		locates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ppstore_indexer_locates_total",
			Help: "Locate requests, by result (ok, not_found, rejected, failed).",
		}, []string{"result"}),
		locateSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ppstore_indexer_locate_seconds",
			Help:    "Time to answer a Locate from the index (excluding the network).",
			Buckets: prometheus.ExponentialBuckets(25e-6, 2, 14), // 25µs .. ~200ms
		}),
		placements: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ppstore_indexer_placements_total",
			Help: "Place requests answered with a placement.",
		}),
		placementFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ppstore_indexer_placement_failures_total",
			Help: "Place requests refused, by error code (unavailable: too few miners with room).",
		}, []string{"code"}),
		refreshFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ppstore_indexer_miner_refresh_failures_total",
			Help: "Failed pulls of the live miner list from the bootstrap.",
		}),
		reservations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ppstore_indexer_reservations_total",
			Help: "Reserve requests, by outcome (held: enough replicas exist, wait: other puts are storing it, placed, refused).",
		}, []string{"outcome"}),
		leasesReclaimed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ppstore_indexer_leases_reclaimed_total",
			Help: "Replicas a miner asked about after their lease and was told to reclaim (no commit, no put under way).",
		}),
		replicasDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ppstore_indexer_replicas_dropped_total",
			Help: "Replicas miners confirmed deleting after the last file referencing their shard was removed.",
		}),
		proofReports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ppstore_indexer_proof_reports_total",
			Help: "Reports from the verifier: a replica proven or a failing one replaced by a repair, by result (ok, refused).",
		}, []string{"kind", "result"}),
	}
	cs := []prometheus.Collector{
		m.commits, m.locates, m.locateSeconds, m.placements, m.placementFailures, m.refreshFailures,
		m.reservations, m.leasesReclaimed, m.replicasDropped, m.proofReports,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ppstore_indexer_files",
			Help: "Files in the index.",
		}, func() float64 { return float64(store.Files()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ppstore_indexer_shards",
			Help: "Shards of all files in the index.",
		}, func() float64 { return float64(store.Shards()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ppstore_indexer_shard_records",
			Help: "(shard, miner) records in the index: one per replica.",
		}, func() float64 { return float64(store.ShardRecords()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ppstore_indexer_live_miners",
			Help: "Miners in the last list pulled from the bootstrap.",
		}, func() float64 { return float64(placer.LiveCount()) }),
	}
	cs = append(cs, store.db.Collectors()...) // disk-full figures (internal/pebbledb)
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
