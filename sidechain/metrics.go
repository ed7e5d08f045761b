package sidechain

import (
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/store"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the rollup module's Prometheus metrics. CometBFT's own
// metrics (consensus, p2p, mempool) are served by CometBFT itself when its
// instrumentation is on (NodeConfig.CometMetricsAddr).
type metrics struct {
	accepted      prometheus.Counter
	rejected      *prometheus.CounterVec
	verifySeconds *prometheus.HistogramVec
	height        prometheus.Gauge
}

// newMetrics creates the metrics and registers them on reg (unless nil).
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "ppstore", Subsystem: "sidechain", Name: "batches_accepted_total",
			Help: "Rollup batches executed in a committed block and accepted.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ppstore", Subsystem: "sidechain", Name: "batches_rejected_total",
			Help: "Rollup batches refused, by phase (check: mempool admission, finalize: in a block) and reason.",
		}, []string{"phase", "reason"}),
		verifySeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "ppstore", Subsystem: "sidechain", Name: "verify_seconds",
			Help:    "Time to verify one batch proof, by phase (check: mempool admission, finalize: in a block, query: a client's pre-check).",
			Buckets: []float64{.0005, .001, .002, .004, .006, .008, .010, .015, .025, .05, .1},
		}, []string{"phase"}),
		height: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "ppstore", Subsystem: "sidechain", Name: "committed_height",
			Help: "Height of the last block the application committed.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.accepted, m.rejected, m.verifySeconds, m.height} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// registerNodeMetrics registers gauges of the running node on reg.
func registerNodeMetrics(reg prometheus.Registerer, n interface {
	BlockStore() *store.BlockStore
	Switch() *p2p.Switch
}) error {
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "ppstore", Subsystem: "sidechain", Name: "block_height",
			Help: "Height of the last block in the node's block store.",
		}, func() float64 { return float64(n.BlockStore().Height()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "ppstore", Subsystem: "sidechain", Name: "peers",
			Help: "Peers connected to the node.",
		}, func() float64 { return float64(n.Switch().Peers().Size()) }),
	} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
