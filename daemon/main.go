package daemon

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/ppstore/ppstore/config"
	"github.com/prometheus/client_golang/prometheus"
)

// Common points at the settings that every daemon's Config has.
type Common struct {
	DataDir, Listen, Region, MetricsAddr, LogLevel *string
	Bootstrap                                      *[]string
}

// Flags are the command-line flags every daemon takes; each overrides the
// matching setting of the config file.
type Flags struct {
	fs                                                            *flag.FlagSet
	config, dataDir, listen, region, bootstrap, metrics, logLevel *string
}

// NewFlags registers the common flags on fs.
func NewFlags(fs *flag.FlagSet) *Flags {
	return &Flags{
		fs:        fs,
		config:    fs.String("config", "", "TOML config `file`"),
		dataDir:   fs.String("data-dir", "", "data `dir` (overrides data_dir)"),
		listen:    fs.String("listen", "", "UDP `host:port` of the QUIC listener (overrides listen)"),
		region:    fs.String("region", "", "region `name` (overrides region)"),
		bootstrap: fs.String("bootstrap", "", "comma-separated `peerID@host:port` of the region's bootstraps (overrides bootstrap)"),
		metrics:   fs.String("metrics", "", "`host:port` of the Prometheus endpoint (overrides metrics_addr)"),
		logLevel:  fs.String("log-level", "", "debug, info, warn or error (overrides log_level)"),
	}
}

// Load reads the --config file into cfg, if one was given, and then applies
// the flags that were set on the command line through c. Call after Parse.
func (f *Flags) Load(cfg any, c Common) error {
	if f.fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (see -h)", f.fs.Args())
	}
	if *f.config != "" {
		if err := config.Load(*f.config, cfg); err != nil {
			return err
		}
	}
	f.fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "data-dir":
			*c.DataDir = *f.dataDir
		case "listen":
			*c.Listen = *f.listen
		case "region":
			*c.Region = *f.region
		case "metrics":
			*c.MetricsAddr = *f.metrics
		case "log-level":
			*c.LogLevel = *f.logLevel
		case "bootstrap":
			*c.Bootstrap = nil
			for _, b := range strings.Split(*f.bootstrap, ",") {
				if b = strings.TrimSpace(b); b != "" {
					*c.Bootstrap = append(*c.Bootstrap, b)
				}
			}
		}
	})
	return nil
}

// Main runs a daemon until SIGINT or SIGTERM: it makes the logger and the
// metrics registry, binds the metrics endpoint, builds the peer with newPeer
// and serves it (see Serve).
func Main(role, dataDir, metricsAddr, logLevel string, newPeer func(*slog.Logger, prometheus.Registerer) (Service, error)) error {
	log, err := NewLogger(os.Stderr, logLevel)
	if err != nil {
		return err
	}
	reg := NewRegistry()
	ms, err := ListenMetrics(metricsAddr, reg)
	if err != nil {
		return err
	}
	peer, err := newPeer(log, reg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return Serve(ctx, role, dataDir, ms, peer, log)
}

// Config is what every daemon's configuration offers.
type Config interface {
	EnsureDefaults()
	Validate() error
}

// Start is a daemon main's whole job after parsing its flags: load the
// config file and the flag overrides into cfg (through c), apply the
// defaults, validate, and run the peer that newPeer builds until SIGINT or
// SIGTERM (Main).
func Start(role string, flags *Flags, cfg Config, c Common, newPeer func(*slog.Logger, prometheus.Registerer) (Service, error)) error {
	if err := flags.Load(cfg, c); err != nil {
		return err
	}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	return Main(role, *c.DataDir, *c.MetricsAddr, *c.LogLevel, newPeer)
}
