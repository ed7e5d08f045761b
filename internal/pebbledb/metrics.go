package pebbledb

import "github.com/prometheus/client_golang/prometheus"

// metrics are a database's disk-full figures, labelled db=Options.Name.
type metrics struct {
	refused prometheus.Counter
}

func newMetrics(name string) *metrics {
	return &metrics{refused: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "ppstore", Subsystem: "db", Name: "writes_refused_total",
		Help:        "Writes refused because the database's disk was below its reserve (docs/DISKFULL.md).",
		ConstLabels: prometheus.Labels{"db": name},
	})}
}

// Collectors returns the database's metrics for the daemon to register
// (its metrics.go): ppstore_db_writes_refused_total, ppstore_db_available_bytes
// (the file system's, read at each scrape), ppstore_db_ballast_released and
// ppstore_db_failed (0 or 1), each labelled db=Options.Name.
func (db *DB) Collectors() []prometheus.Collector {
	labels := prometheus.Labels{"db": db.opts.Name}
	flag := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	return []prometheus.Collector{
		db.metrics.refused,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "ppstore", Subsystem: "db", Name: "available_bytes", ConstLabels: labels,
			Help: "Bytes available on the database's file system; writes that add data are refused below the reserve.",
		}, func() float64 {
			du, err := db.fs.GetDiskUsage(db.dir)
			if err != nil {
				return -1
			}
			return float64(du.AvailBytes)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "ppstore", Subsystem: "db", Name: "ballast_released", ConstLabels: labels,
			Help: "1 while the emergency ballast is spent (the disk filled), else 0.",
		}, func() float64 { return flag(db.opts.Ballast > 0 && db.ballastGone.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "ppstore", Subsystem: "db", Name: "failed", ConstLabels: labels,
			Help: "1 once the database stopped taking writes after a failed log write (the daemon stops), else 0.",
		}, func() float64 { return flag(db.Err() != nil) }),
	}
}
