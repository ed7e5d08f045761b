// Command indexer runs a region's indexer: it records where every shard of
// every file lives and picks miners for new shards (see package indexer).
//
//	indexer --config indexer.toml [--data-dir DIR] [--listen HOST:PORT] [--region NAME]
//	        [--bootstrap PEER@HOST:PORT,...] [--metrics HOST:PORT] [--log-level LEVEL]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/ppstore/ppstore/config"
	"github.com/ppstore/ppstore/daemon"
	"github.com/ppstore/ppstore/indexer"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "indexer:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		cfgFile   = flag.String("config", "", "TOML config file")
		dataDir   = flag.String("data-dir", "", "data directory (overrides data_dir)")
		listen    = flag.String("listen", "", "UDP host:port to listen on (overrides listen)")
		region    = flag.String("region", "", "region name (overrides region)")
		bootstrap = flag.String("bootstrap", "", "comma-separated PEERID@HOST:PORT of bootstraps (overrides bootstrap)")
		metrics   = flag.String("metrics", "", "host:port of the Prometheus endpoint (overrides metrics_addr)")
		logLevel  = flag.String("log-level", "", "debug, info, warn or error (overrides log_level)")
	)
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q; see --help", flag.Args())
	}
	var cfg indexer.Config
	if *cfgFile != "" {
		if err := config.Load(*cfgFile, &cfg); err != nil {
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
	if *bootstrap != "" {
		cfg.Bootstrap = strings.Split(*bootstrap, ",")
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
	peer, err := indexer.New(cfg, log, reg)
	if err != nil {
		return err
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(indexer.GCPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return daemon.Serve(ctx, "indexer", cfg.DataDir, ms, peer, log)
}
