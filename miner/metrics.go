package miner

import "github.com/prometheus/client_golang/prometheus"

// metrics are the miner's prometheus metrics.
type metrics struct {
	bytesReceived  prometheus.Counter
	bytesForwarded prometheus.Counter
	bytesServed    prometheus.Counter
	shardsStored   prometheus.Counter
	storeFailures  *prometheus.CounterVec

	leasesReclaimed prometheus.Counter
	replicasDropped prometheus.Counter
}

// newMetrics creates the metrics and registers them, with gauges of the
// store's space, on reg (unless nil).
func newMetrics(reg prometheus.Registerer, st *store) (*metrics, error) {
	m := &metrics{
		bytesReceived: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "ppstore", Subsystem: "miner", Name: "received_bytes_total",
			Help: "Piece bytes received in uploads and checked against their hash.",
		}),
		bytesForwarded: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "ppstore", Subsystem: "miner", Name: "forwarded_bytes_total",
			Help: "Piece bytes forwarded to the next miner of a chain.",
		}),
		bytesServed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "ppstore", Subsystem: "miner", Name: "served_bytes_total",
			Help: "Piece bytes sent in answer to GetPiece.",
		}),
		shardsStored: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "ppstore", Subsystem: "miner", Name: "shards_stored_total",
			Help: "Shards newly stored durably.",
		}),
		storeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ppstore", Subsystem: "miner", Name: "store_failures_total",
			Help: "Uploads refused or failed, by error code.",
		}, []string{"code"}),
		leasesReclaimed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "ppstore", Subsystem: "miner", Name: "leases_reclaimed_total",
			Help: "Replicas deleted because no commit confirmed them within their lease.",
		}),
		replicasDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "ppstore", Subsystem: "miner", Name: "replicas_dropped_total",
			Help: "Replicas deleted at the indexer's request (their files were removed).",
		}),
	}
	if reg == nil {
		return m, nil
	}
	used := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "ppstore", Subsystem: "miner", Name: "used_bytes",
		Help: "Bytes of stored shards.",
	}, func() float64 { u, _, _ := st.usage(); return float64(u) })
	free := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "ppstore", Subsystem: "miner", Name: "free_bytes",
		Help: "Bytes free for new shards: the smaller of capacity left and disk space left.",
	}, func() float64 { _, f, _ := st.usage(); return float64(f) })
	capacity := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "ppstore", Subsystem: "miner", Name: "capacity_bytes",
		Help: "Bytes offered for shards.",
	}, func() float64 { _, _, c := st.usage(); return float64(c) })
	pending := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "ppstore", Subsystem: "miner", Name: "pending_replicas",
		Help: "Replicas stored and waiting for a commit to confirm them (their lease runs).",
	}, func() float64 { return float64(st.pendingCount()) })
	for _, c := range append([]prometheus.Collector{m.bytesReceived, m.bytesForwarded, m.bytesServed, m.shardsStored, m.storeFailures, used, free, capacity,
		m.leasesReclaimed, m.replicasDropped, pending}, st.db.Collectors()...) {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// accessMetrics are the metrics of share codes and private shards (access.go).
type accessMetrics struct {
	refusals     *prometheus.CounterVec
	revocations  prometheus.Gauge
	pullFailures prometheus.Counter
}

func newAccessMetrics(reg prometheus.Registerer) (*accessMetrics, error) {
	m := &accessMetrics{
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ppstore", Subsystem: "miner", Name: "share_refusals_total",
			Help: "Reads of private shards refused, by error code (expired, forged, revoked, denied...).",
		}, []string{"code"}),
		revocations: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "ppstore", Subsystem: "miner", Name: "revocations",
			Help: "Revoked share codes known to this miner and not yet expired.",
		}),
		pullFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "ppstore", Subsystem: "miner", Name: "revocation_pull_failures_total",
			Help: "Failed pulls of revocations from the indexer.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.refusals, m.revocations, m.pullFailures} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
