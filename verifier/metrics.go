package verifier

import "github.com/prometheus/client_golang/prometheus"

// metrics are the verifier's Prometheus metrics.
type metrics struct {
	porep        *prometheus.CounterVec // result: pass, fail, not indexed
	verdicts     *prometheus.CounterVec // verdict: pass, invalid, missing, late, no answer, unsigned
	repairs      prometheus.Counter
	repaired     prometheus.Counter
	responseTime prometheus.Histogram
	roundTime    prometheus.Histogram
	replicas     prometheus.Gauge
	epoch        prometheus.Gauge
}

// newMetrics registers the verifier's metrics and extra (its database's
// disk-full figures) on reg.
func newMetrics(reg prometheus.Registerer, extra ...prometheus.Collector) (*metrics, error) {
	m := &metrics{
		porep: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ppstore_verifier_porep_total",
			Help: "Proofs of replication judged, by result."}, []string{"result"}),
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ppstore_verifier_post_verdicts_total",
			Help: "Proof-of-spacetime verdicts per replica, by verdict (pass, invalid, missing, late, no answer, unsigned)."}, []string{"verdict"}),
		repairs: prometheus.NewCounter(prometheus.CounterOpts{Name: "ppstore_verifier_repairs_total",
			Help: "Replicas reported for repair after missing misses_to_repair rounds in a row."}),
		repaired: prometheus.NewCounter(prometheus.CounterOpts{Name: "ppstore_verifier_repairs_done_total",
			Help: "Repairs whose new replica passed its PoRep and replaced the failing one at the indexer."}),
		responseTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ppstore_verifier_post_response_seconds",
			Help: "Time from sending a miner its challenge to its last response part.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		roundTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ppstore_verifier_round_seconds",
			Help: "Time to run and judge a whole round.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
		replicas: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ppstore_verifier_replicas", Help: "Replicas recorded as proven."}),
		epoch:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "ppstore_verifier_epoch", Help: "The last epoch judged."}),
	}
	if reg != nil {
		for _, c := range append([]prometheus.Collector{m.porep, m.verdicts, m.repairs, m.repaired, m.responseTime, m.roundTime, m.replicas, m.epoch}, extra...) {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
