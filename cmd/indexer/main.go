// Command indexer runs a region's indexer: it records where every shard of
// every file lives and picks miners for new shards (see package indexer).
//
//	indexer --config indexer.toml [--data-dir DIR] [--listen HOST:PORT] [--region NAME]
//	        [--bootstrap PEER@HOST:PORT,...] [--metrics HOST:PORT] [--log-level LEVEL]
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/ppstore/ppstore/daemon"
	"github.com/ppstore/ppstore/indexer"
	"github.com/prometheus/client_golang/prometheus"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "indexer:", err)
		os.Exit(1)
	}
}

func run() error {
	flags := daemon.NewFlags(flag.CommandLine)
	flag.Parse()
	var cfg indexer.Config
	return daemon.Start("indexer", flags, &cfg, daemon.Common{DataDir: &cfg.DataDir, Listen: &cfg.Listen, Region: &cfg.Region,
		MetricsAddr: &cfg.MetricsAddr, LogLevel: &cfg.LogLevel, Bootstrap: &cfg.Bootstrap}, func(log *slog.Logger, reg prometheus.Registerer) (daemon.Service, error) {
		// Locate's tail latency is set by GC pauses (see docs/BENCHMARKS.md).
		if os.Getenv("GOGC") == "" {
			debug.SetGCPercent(indexer.GCPercent)
		}
		return indexer.New(cfg, log, reg)
	})
}
