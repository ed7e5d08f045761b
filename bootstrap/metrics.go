package bootstrap

import (
	"time"

	"github.com/ppstore/ppstore/wire"
	"github.com/prometheus/client_golang/prometheus"
)

// Rejection reasons (the "reason" label of ppstore_bootstrap_rejections_total).
const (
	reasonNotSender = "not_sender" // Register of another peer's record
	reasonSignature = "signature"  // bad or missing signature
	reasonExpired   = "expired"
	reasonTTL       = "ttl" // expires after now + max_ttl
	reasonRegion    = "region"
	reasonRole      = "role"
	reasonInvalid   = "invalid" // addresses or capacity out of bounds
	reasonReplay    = "replay"  // Seq not above the stored one
	reasonFull      = "full"    // table at max_records
)

// Sources of records (the "source" label).
const (
	sourceRegister = "register"
	sourceSync     = "sync"
)

type metrics struct {
	registrations *prometheus.CounterVec
	rejections    *prometheus.CounterVec
	syncMerged    prometheus.Counter
	syncErrors    prometheus.Counter
	listTruncated prometheus.Counter
	live          *liveCollector
}

func newMetrics(reg prometheus.Registerer, t *table, now func() time.Time) (*metrics, error) {
	m := &metrics{
		registrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ppstore_bootstrap_registrations_total",
			Help: "Registrations accepted, by role.",
		}, []string{"role"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ppstore_bootstrap_rejections_total",
			Help: "Records refused, by source (register, sync) and reason.",
		}, []string{"source", "reason"}),
		syncMerged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ppstore_bootstrap_sync_merged_total",
			Help: "Records learnt from seed bootstraps (new peers or higher Seq).",
		}),
		syncErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ppstore_bootstrap_sync_errors_total",
			Help: "Failed requests to seed bootstraps.",
		}),
		listTruncated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ppstore_bootstrap_list_truncated_total",
			Help: "ListNodes answers cut to fit the record or frame limit.",
		}),
		live: &liveCollector{
			desc: prometheus.NewDesc("ppstore_bootstrap_records", "Live (unexpired) records, by role.", []string{"role"}, nil),
			t:    t,
			now:  now,
		},
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.registrations, m.rejections, m.syncMerged, m.syncErrors, m.listTruncated, m.live} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) reject(source, reason string) { m.rejections.WithLabelValues(source, reason).Inc() }

// liveCollector counts live records at scrape time, so the gauge never shows
// records that expired since the last sweep.
type liveCollector struct {
	desc *prometheus.Desc
	t    *table
	now  func() time.Time
}

func (c *liveCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *liveCollector) Collect(ch chan<- prometheus.Metric) {
	counts := c.t.live(uint64(c.now().Unix()))
	for _, r := range roles {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[r]), r.String())
	}
}

// knownRole reports whether package wire names r.
func knownRole(r wire.Role) bool {
	p, err := wire.ParseRole(r.String())
	return r != 0 && err == nil && p == r
}

// roles lists the roles package wire names, in order.
var roles = knownRoles()

func knownRoles() []wire.Role {
	var out []wire.Role
	for r := 1; r < 256; r++ {
		if knownRole(wire.Role(r)) {
			out = append(out, wire.Role(r))
		}
	}
	return out
}
