// Command bootstrap runs a region's bootstrap server: it keeps the signed,
// expiring records of the region's nodes and serves them to clients.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/ppstore/ppstore/bootstrap"
	"github.com/ppstore/ppstore/daemon"
	"github.com/prometheus/client_golang/prometheus"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bootstrap:", err)
		os.Exit(1)
	}
}

func run() error {
	flags := daemon.NewFlags(flag.CommandLine)
	flag.Parse()
	var cfg bootstrap.Config
	return daemon.Start("bootstrap", flags, &cfg, daemon.Common{DataDir: &cfg.DataDir, Listen: &cfg.Listen, Region: &cfg.Region,
		MetricsAddr: &cfg.MetricsAddr, LogLevel: &cfg.LogLevel, Bootstrap: &cfg.Bootstrap}, func(log *slog.Logger, reg prometheus.Registerer) (daemon.Service, error) {
		return bootstrap.New(cfg, log, reg)
	})
}
