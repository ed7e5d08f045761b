// Command bootstrap runs a region's bootstrap server: it keeps the signed,
// expiring records of the region's nodes and serves them to clients.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/ppstore/ppstore/bootstrap"
	"github.com/ppstore/ppstore/config"
	"github.com/ppstore/ppstore/daemon"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	configFile := flag.String("config", "", "TOML config `file`")
	dataDir := flag.String("data-dir", "", "data `dir` (identity key, node.json); overrides data_dir")
	listen := flag.String("listen", "", "QUIC listen `host:port`; overrides listen")
	region := flag.String("region", "", "region served; overrides region")
	seeds := flag.String("bootstrap", "", "other bootstrap servers of the region, comma-separated `peerID@host:port` list; overrides bootstrap")
	metrics := flag.String("metrics", "", "Prometheus listen `host:port`; overrides metrics_addr")
	logLevel := flag.String("log-level", "", "debug, info, warn or error; overrides log_level")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (see -h)", flag.Args())
	}

	var cfg bootstrap.Config
	if *configFile != "" {
		if err := config.Load(*configFile, &cfg); err != nil {
			return err
		}
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&cfg.DataDir, *dataDir)
	set(&cfg.Listen, *listen)
	set(&cfg.Region, *region)
	set(&cfg.MetricsAddr, *metrics)
	set(&cfg.LogLevel, *logLevel)
	if *seeds != "" {
		cfg.Bootstrap = strings.Split(*seeds, ",")
	}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}

	log, err := daemon.NewLogger(os.Stderr, cfg.LogLevel)
	if err != nil {
		return err
	}
	reg := daemon.NewRegistry()
	ms, err := daemon.ListenMetrics(cfg.MetricsAddr, reg)
	if err != nil {
		return err
	}
	peer, err := bootstrap.New(cfg, log, reg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return daemon.Serve(ctx, "bootstrap", cfg.DataDir, ms, peer, log)
}
